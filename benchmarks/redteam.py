"""Adaptive attackers against card transactions, before and after hardening.

    python -m benchmarks.redteam                       # the default simulation
    python -m benchmarks.redteam --generator handbook  # the handbook's generator

The demo's world (2,000 cards, 4,000 terminals, 100 days; the handbook's: 5,000 cards, 10,000
terminals, 183 days): the online store holds the history up to 5 days before the data's end,
where the attacks start. Two models trained on the same window, each attacked by every built-in
strategy against the same 150 victims for 5 days, model alone and with the starter rules:

- ``baseline``: ``train_model`` on the history;
- ``hardened``: the same, on the history plus attack examples (``attack_examples``: open-loop
  runs of the TRAINED strategies against other cards, labelled fraud), so its victims are held
  out of the attack (``exclude``) and the strategies not trained on are held out too.

Clean cost: average precision and the alert rates at the bundles' thresholds on the test window
of the clean history (no attack examples), both models.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import pandas as pd

from fraudscore import (
    HandbookSimConfig,
    TrainConfig,
    TransactionSimConfig,
    build_features,
    build_store,
    default_windows,
    evaluate,
    simulate_handbook,
    simulate_transactions,
    starter_rules,
    train_model,
)
from fraudscore._redteam import THEATRES, attack_examples, red_team

REPO = Path(__file__).resolve().parents[1] / "feature_repo"
#: The strategies the hardened model trains on (the default of attack_examples); the others
#: are held out.
TRAINED = THEATRES["transaction"].trained
#: Features whose direction is known: more of them never lowers the risk.
INCREASING = (
    "cust_n_1h", "cust_n_1d", "amt_ratio_1d", "amt_ratio_7d", "amt_ratio_30d", "amt_z_7d",
    "amt_z_30d", "spend_spike_1d_30d", "cust_fraud_30d", "term_fraud_7d", "term_fraud_30d",
    "term_fraud_rate_30d",
)  # fmt: skip


def monotone() -> TrainConfig:
    from fraudscore._kinds.transaction import FEATURES

    signs = ",".join("1" if f in INCREASING else "0" for f in FEATURES)
    return TrainConfig(xgb_extra={"monotone_constraints": f"({signs})"})


def world(generator: str, seed: int) -> pd.DataFrame:
    if generator == "handbook":
        return simulate_handbook(HandbookSimConfig(seed=seed))
    return simulate_transactions(TransactionSimConfig(seed=seed))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--generator", choices=("default", "handbook"), default="default")
    parser.add_argument("--victims", type=int, default=150)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--per-day", type=float, default=2.0, help="attacked cards a day")
    args = parser.parse_args()
    t0 = time.time()
    data = world(args.generator, args.seed)
    start = pd.Timestamp(data["timestamp"].max().normalize()) - pd.Timedelta(days=5)
    history = data[data["timestamp"] < start]
    clean = build_features(history)
    train_start, train_end, test_start, test_end = default_windows(clean.frame)
    attacks = attack_examples(
        history,
        start=pd.Timestamp(train_start, tz="UTC").to_pydatetime(),
        end=pd.Timestamp(train_end, tz="UTC").to_pydatetime(),
        per_day=args.per_day,
        seed=args.seed,
    )
    victims = set(attacks["customer_id"])
    hardened_features = build_features(pd.concat([history, attacks], ignore_index=True))
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "feature_repo"
        shutil.copytree(REPO, repo, ignore=shutil.ignore_patterns("data", "__pycache__"))
        build_store(repo, clean, as_of=(start - pd.Timedelta(microseconds=1)).to_pydatetime())
        models = {
            "baseline": train_model(clean, train_start, train_end, Path(tmp) / "baseline"),
            "hardened": train_model(
                hardened_features,
                train_start,
                train_end,
                Path(tmp) / "hardened",
                synthetic=attacks["transaction_id"],
            ),
            "hardened + monotone": train_model(
                hardened_features,
                train_start,
                train_end,
                Path(tmp) / "monotone",
                monotone(),
                synthetic=attacks["transaction_id"],
            ),
        }
        print(
            f"{args.generator}: {len(history):,} events before {start:%Y-%m-%d}; "
            f"{len(attacks):,} attack examples on {len(victims)} cards "
            f"({', '.join(TRAINED)}), train {train_start}..{train_end}, "
            f"test {test_start}..{test_end}"
        )
        for name, trained in models.items():
            ev = evaluate(trained.bundle, clean, test_start, test_end)
            m = ev.metrics["models"]["model"]
            genuine = ev.scores[ev.scores["is_fraud"] == 0]["decision"]
            print(
                f"\n## {name}: clean AP {m['average_precision']:.3f}, "
                f"ROC AUC {m['roc_auc']:.3f}, card precision@100 "
                f"{m['card_precision_at_100']:.3f}; genuine alerts (review or decline) "
                f"{(genuine != 'approve').mean():.2%}, declines {(genuine == 'decline').mean():.2%}"
            )
            report = red_team(
                trained.bundle,
                repo,
                history,
                victims=args.victims,
                start=start.to_pydatetime(),
                rules=starter_rules("transaction"),
                exclude=victims,
                seed=args.seed,
            )
            print(report.table())
            for r in report.results:
                if r.notes:
                    print(f"{r.strategy} ({'rules' if r.rules else 'model'}): {r.notes[:3]}")
    print(f"\n{time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
