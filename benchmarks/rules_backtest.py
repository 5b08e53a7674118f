"""The starter rules backtested on the default simulations: the README's rules tables.

    python -m benchmarks.rules_backtest

For each kind: the default simulation (seed 7), features from the whole history, a model
trained on the default windows, then the starter rules file backtested on the test week. Its
lists are the starter lists, except the transaction file's known-compromised terminals, which
are what a fraud team would have listed on the morning of the first test day: every terminal
where frauds on 3 or more distinct cards were known by then (``label_time`` before the test
week) among the 28 days before, a common point of compromise.
Only public names are used.
"""

from __future__ import annotations

import shutil
import tempfile
from datetime import timedelta
from pathlib import Path

import pandas as pd

import fraudscore as fs


def table(bt: fs.Backtest) -> str:
    caught = "takeovers" if bt.kind == "login" else "frauds"
    lines = [
        f"{bt.events:,} scored {bt.kind}s from {bt.start} to {bt.end}, {bt.positives:,} {caught}."
    ]
    for header, rows, _ in bt.tables():
        lines += ["", "| " + " | ".join(header) + " |", "|---|" + "---|" * (len(header) - 1)]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def run(kind: str, work: Path) -> fs.Backtest:
    data = fs.simulate_transactions() if kind == "transaction" else fs.simulate_logins()
    features = fs.build_features(data, kind)
    train_start, train_end, test_start, test_end = fs.default_windows(features.frame)
    trained = fs.train_model(features, train_start, train_end, work / f"bundle-{kind}")
    rules_dir = work / f"rules-{kind}"
    src = fs.starter_rules(kind)
    shutil.copytree(src.parent, rules_dir)
    if kind == "transaction":
        morning = pd.Timestamp(test_start, tz="UTC")
        known = data[
            (data["is_fraud"] == 1)
            & (data["label_time"] < morning)
            & (data["timestamp"] >= morning - timedelta(days=28))
        ]
        cards = known.groupby("terminal_id")["customer_id"].nunique()
        terminals = sorted(cards[cards >= 3].index)
        (rules_dir / "lists" / "compromised_terminals.txt").write_text("\n".join(terminals) + "\n")
        print(f"known-compromised terminals on {test_start}: {len(terminals)}")
    return fs.backtest_rules(rules_dir / src.name, trained.bundle, features, test_start, test_end)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for kind in ("transaction", "login"):
            print(f"\n### {kind}\n")
            print(table(run(kind, Path(tmp))))


if __name__ == "__main__":
    main()
