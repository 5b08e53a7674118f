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
        f"{bt.events:,} scored {bt.kind}s from {bt.start} to {bt.end}, {bt.positives:,} {caught}.",
        "",
        f"| rule | action | hits | hit rate | precision | {caught} hit | genuine hit | "
        f"{caught} the model missed |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in bt.rules.to_dict(orient="records"):
        precision = "-" if not r["hits"] else f"{r['precision']:.3f}"
        name = r["rule"] + (" (shadow)" if r["shadow"] else "")
        lines.append(
            f"| {name} | {r['action']} | {r['hits']:,} | {r['hit_rate']:.2%} | {precision} | "
            f"{r['caught']:,} | {r['genuine']:,} | {r['beyond_model']:,} |"
        )
    lines += [
        "",
        f"| policy | flagged | blocked | {caught} flagged | {caught} blocked | recall | precision "
        "| genuine blocked |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for e in bt.combined.to_dict(orient="records"):
        lines.append(
            f"| {e['policy']} | {e['flagged']:,} | {e['blocked']:,} | {e['caught']:,} | "
            f"{e['caught_blocked']:,} | {e['recall']:.3f} | {e['precision']:.3f} | "
            f"{e['genuine_blocked']:,} |"
        )
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
