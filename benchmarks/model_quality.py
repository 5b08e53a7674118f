"""Model quality on the handbook's benchmark: the handbook protocol on its simulated data.

    python -m benchmarks.model_quality --seeds 0 1 2 3 4

For each seed: the handbook generator's 183 days (5,000 cards, 10,000 terminals), features from
the whole history, training on 2018-07-25..07-31 and testing on 2018-08-08..08-14 with the known
compromised cards dropped (the handbook's rule). Three models per seed, all in the same run:

- ``before``: fraudscore as it was before the model-quality work: its 20 features, fitted on
  the first three quarters of the window and early-stopped on the last, not refitted, default
  settings;
- ``default``: today's ``train_model``: 23 features, refitted on the whole window;
- ``selected``: the same with ``TrainConfig(select=True)``: settings chosen by prequential
  validation on the history before 2018-07-31.

It prints one table per seed and the mean over seeds, against the handbook's published numbers.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from fraudscore import (
    HANDBOOK_WINDOWS,
    HandbookSimConfig,
    TrainConfig,
    build_features,
    evaluate,
    simulate_handbook,
    train_model,
)

#: The handbook's test-set results (ROC AUC, AP, card precision@100).
PUBLISHED = {
    "handbook: XGBoost, baseline features": (0.862, 0.639, 0.273),
    "handbook: best after model selection": (0.869, 0.687, 0.303),
}
#: The features of the transaction model before this work.
BEFORE_FEATURES = (
    "amount", "hour_of_day", "is_weekend", "card_not_present", "cust_secs_since_last",
    "cust_n_1h", "cust_n_1d", "cust_n_7d", "cust_n_30d", "amt_ratio_1d", "amt_ratio_7d",
    "amt_ratio_30d", "cust_fraud_30d", "term_n_1d", "term_n_7d", "term_fraud_7d",
    "term_fraud_30d", "term_fraud_rate_30d", "ct_n_30d", "ct_secs_since_last",
)  # fmt: skip
METRICS = ("roc_auc", "average_precision", "card_precision_at_100")


def before_model(features, start, end, test) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Scores of the pre-issue model on the test rows: early-stopped, not refitted."""
    import xgboost as xgb

    from fraudscore._model.fit import day_mask, fit_xgb, split_window

    frame = features.frame
    cols = list(BEFORE_FEATURES)
    last_fit, first_valid = split_window(start, end)
    fit = frame[day_mask(frame["timestamp"], start, last_fit)]
    val = frame[day_mask(frame["timestamp"], first_valid, end)]
    booster = fit_xgb(
        fit[cols].to_numpy(np.float64),
        fit["is_fraud"].to_numpy(),
        val[cols].to_numpy(np.float64),
        val["is_fraud"].to_numpy(),
        TrainConfig(),
    )
    return booster.predict(xgb.DMatrix(test[cols].to_numpy(np.float32)))


def run_seed(seed: int, root: Path) -> dict[str, dict[str, float]]:
    from fraudscore._kinds.transaction.evaluation import metrics as _metrics
    from fraudscore._kinds.transaction.evaluation import test_rows as select_test_rows

    start, end, test_start, test_end = HANDBOOK_WINDOWS
    features = build_features(simulate_handbook(HandbookSimConfig(seed=seed)))
    test = select_test_rows(features.frame, test_start, test_end, start, end)
    out = {"before": _metrics(test, before_model(features, start, end, test))}
    for name, config in (("default", TrainConfig()), ("selected", TrainConfig(select=True))):
        t0 = time.perf_counter()
        bundle = train_model(features, start, end, root / f"{seed}-{name}", config).bundle
        seconds = time.perf_counter() - t0
        result = evaluate(bundle, features, test_start, test_end)
        out[name] = {**result.metrics["models"]["model"], "train_s": seconds}
        if name == "selected":
            out[name]["chosen"] = bundle.manifest["selection"]["chosen"]  # type: ignore[assignment]
    out["_counts"] = {"test_transactions": len(test), "test_frauds": int(test["is_fraud"].sum())}
    return out


def table(rows: dict[str, dict[str, float]]) -> str:
    lines = ["| model | ROC AUC | average precision | card precision@100 |", "|---|---|---|---|"]
    for name, (auc, ap, cp) in PUBLISHED.items():
        lines.append(f"| {name} | {auc:.3f} | {ap:.3f} | {cp:.3f} |")
    for name, m in rows.items():
        lines.append(f"| fraudscore {name} | " + " | ".join(f"{m[k]:.3f}" for k in METRICS) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="fraudscore-quality-"))
    per_seed = {}
    for seed in args.seeds:
        t0 = time.perf_counter()
        per_seed[seed] = run_seed(seed, root)
        counts = per_seed[seed]["_counts"]
        print(f"seed {seed} ({time.perf_counter() - t0:.0f} s, {counts}):", flush=True)
        for name in ("before", "default", "selected"):
            m = per_seed[seed][name]
            print(f"  {name:9s} " + " ".join(f"{k}={m[k]:.3f}" for k in METRICS), end="")
            print(f"  chosen={m['chosen']}" if "chosen" in m else "", flush=True)
    mean = {
        name: {k: float(np.mean([per_seed[s][name][k] for s in args.seeds])) for k in METRICS}
        for name in ("before", "default", "selected")
    }
    print(f"\nmean over seeds {args.seeds}:\n{table(mean)}")
    spread = pd.DataFrame(
        {n: [per_seed[s][n]["average_precision"] for s in args.seeds] for n in mean},
        index=args.seeds,
    )
    print(f"\naverage precision per seed:\n{spread.round(3).to_string()}")


if __name__ == "__main__":
    main()
