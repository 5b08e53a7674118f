"""Adaptive attackers against card transactions, before and after hardening.

    python -m benchmarks.redteam                       # the default simulation
    python -m benchmarks.redteam --generator handbook  # the handbook's, card-not-present layer on

The demo's world (2,000 cards, 4,000 terminals, 100 days; the handbook's: 5,000 cards, 10,000
terminals, 183 days): the online store holds the history up to 5 days before the data's end,
where the attacks start. Two models trained on the same window, each attacked by every built-in
strategy against the same 150 victims for 5 days, model alone and with the starter rules:

- ``baseline``: ``train_model`` on the history;
- ``hardened``: the same, on the history plus attack examples (``attack_examples``: open-loop
  runs of the TRAINED strategies against other cards, labelled fraud), so its victims are held
  out of the attack (``exclude``) and the strategies not trained on are held out too;
- ``hardened + monotone``: with monotone constraints on the features whose direction is known;
- ``hardened + suspicion``: the defence remembers its own suspicion. A prior model (hardened,
  trained on the first half of the window) is put in service at the half: ``with_decisions``
  gives every later event its decision, the history is folded again with them (a flagged
  attempt counts in the card's ``cust_flagged_1d``, a reviewed or declined one builds no
  familiarity with its terminal) and the model is trained on that. Its store, clean cost and
  red team use the decided history; the harness records each attempt with what was served.

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
    with_decisions,
)
from fraudscore._redteam import attack_examples, red_team, theatre

REPO = Path(__file__).resolve().parents[1] / "feature_repo"
#: The strategies the hardened model trains on (the default of attack_examples); the others
#: are held out.
TRAINED = theatre("transaction").trained
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
        # With its card-not-present layer: the attackers' buyer side has something to be
        # compared with (the layer-free handbook's clean AP is benchmarks.handbook_ap's).
        return simulate_handbook(HandbookSimConfig(seed=seed, cnp_signals=True))
    return simulate_transactions(TransactionSimConfig(seed=seed))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--generator", choices=("default", "handbook"), default="default")
    parser.add_argument("--victims", type=int, default=150)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--per-day", type=float, default=2.0, help="attacked cards a day")
    parser.add_argument(
        "--models", default="baseline,hardened,hardened + monotone,hardened + suspicion"
    )
    args = parser.parse_args()
    wanted = [m.strip() for m in args.models.split(",")]
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
    examples = pd.concat([history, attacks], ignore_index=True)
    hardened_features = build_features(examples)
    synthetic = attacks["transaction_id"]
    as_of = (start - pd.Timedelta(microseconds=1)).to_pydatetime()
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "feature_repo"
        shutil.copytree(REPO, repo, ignore=shutil.ignore_patterns("data", "__pycache__"))
        build_store(repo, clean, as_of=as_of)
        # (bundle, repo, clean features, history its store holds) per model
        models = {}

        def plain(name: str, features, config=None, ids=()):
            out = Path(tmp) / name.replace(" ", "")
            return train_model(features, train_start, train_end, out, config, synthetic=ids)

        if "baseline" in wanted:
            models["baseline"] = (plain("baseline", clean), repo, clean, history)
        if "hardened" in wanted:
            models["hardened"] = (
                plain("hardened", hardened_features, None, synthetic),
                repo,
                clean,
                history,
            )
        if "hardened + monotone" in wanted:
            trained = plain("monotone", hardened_features, monotone(), synthetic)
            models["hardened + monotone"] = (trained, repo, clean, history)
        if "hardened + suspicion" in wanted:
            half = train_start + (train_end - train_start) / 2
            prior = train_model(
                hardened_features, train_start, half, Path(tmp) / "prior", synthetic=synthetic
            )
            since = pd.Timestamp(half + pd.Timedelta(days=1), tz="UTC").to_pydatetime()
            decided = with_decisions(examples, prior.bundle, since=since)
            served = decided["transaction_id"].isin(synthetic)
            flagged = decided["decision"].isin(["review", "decline"])
            print(
                f"prior model {train_start}..{half}; from {since:%Y-%m-%d}: "
                f"{flagged[~served].mean():.2%} of real events flagged, "
                f"{flagged[served].mean():.2%} of attack examples"
            )
            trained = plain("suspicion", build_features(decided), None, synthetic)
            real = decided[~served]
            real_features = build_features(real)
            srepo = Path(tmp) / "suspicion_repo"
            shutil.copytree(REPO, srepo, ignore=shutil.ignore_patterns("data", "__pycache__"))
            build_store(srepo, real_features, as_of=as_of)
            models["hardened + suspicion"] = (trained, srepo, real_features, real)
        print(
            f"{args.generator}: {len(history):,} events before {start:%Y-%m-%d}; "
            f"{len(attacks):,} attack examples on {len(victims)} cards "
            f"({', '.join(TRAINED)}), train {train_start}..{train_end}, "
            f"test {test_start}..{test_end}"
        )
        for name, (trained, store, features, held) in models.items():
            ev = evaluate(trained.bundle, features, test_start, test_end)
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
                store,
                held,
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
