"""The feature study behind the model-quality work: does a feature group improve AP on windows
and seeds that the handbook benchmark never uses?

    python -m benchmarks.feature_study

Handbook generator seeds 100-102, training 2018-08-22..28, testing 2018-09-05..11 (known
compromised cards dropped); fraudscore's simulator seeds 100-101 at its default windows. Each
feature set trains XGBoost (depth 3, learning rate 0.05, 300 trees) and prints the mean AP.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from fraudscore import (
    HandbookSimConfig,
    TransactionSimConfig,
    build_features,
    default_windows,
    simulate_handbook,
    simulate_transactions,
)

GROUPS = {"spread": ["amt_z_7d", "amt_z_30d"], "spike": ["spend_spike_1d_30d"]}


def ap_by_set(frame: pd.DataFrame, windows: tuple[date, date, date, date]) -> dict[str, float]:
    import xgboost as xgb
    from sklearn.metrics import average_precision_score

    from fraudscore._kinds import TRANSACTION
    from fraudscore._kinds.transaction.evaluation import test_rows as select_test_rows
    from fraudscore._model.fit import day_mask

    a, b, c, d = windows
    added = [f for g in GROUPS.values() for f in g]
    base = [f for f in TRANSACTION.features if f not in added]
    sets = {"before": base, **{f"+{g}": base + f for g, f in GROUPS.items()}, "both": base + added}
    train = frame[day_mask(frame["timestamp"], a, b)]
    test = select_test_rows(frame, c, d, a, b)
    out = {}
    for name, cols in sets.items():
        y = train["is_fraud"].to_numpy()
        params = {"objective": "binary:logistic", "max_depth": 3, "eta": 0.05, "subsample": 0.8,
                  "colsample_bytree": 0.8, "tree_method": "hist", "nthread": 2, "seed": 0,
                  "base_score": float(y.mean())}  # fmt: skip
        booster = xgb.train(params, xgb.DMatrix(train[cols].to_numpy(np.float32), label=y), 300)
        p = booster.predict(xgb.DMatrix(test[cols].to_numpy(np.float32)))
        out[name] = float(average_precision_score(test["is_fraud"], p))
    return out


def main() -> None:
    rows = []
    for seed in (100, 101, 102):
        frame = build_features(simulate_handbook(HandbookSimConfig(seed=seed))).frame
        windows = (date(2018, 8, 22), date(2018, 8, 28), date(2018, 9, 5), date(2018, 9, 11))
        rows += [("handbook", seed, k, v) for k, v in ap_by_set(frame, windows).items()]
    for seed in (100, 101):
        frame = build_features(simulate_transactions(TransactionSimConfig(seed=seed))).frame
        rows += [
            ("fraudscore", seed, k, v) for k, v in ap_by_set(frame, default_windows(frame)).items()
        ]
    df = pd.DataFrame(rows, columns=["simulator", "seed", "features", "ap"])
    print(df.pivot_table(index="features", columns="simulator", values="ap").round(3))


if __name__ == "__main__":
    main()
