"""How card transactions are evaluated: the fraud-detection handbook protocol (Le Borgne et al.,
ch. 3 and 5).

The model was trained on a window; between its end and the test window lies a label-delay gap
of ``g`` days. Each test day ``D`` drops the cards already known compromised. Two rules:

- ``"handbook"`` (the default), as ``get_train_test_set`` does: a card is known compromised on
  ``D`` when it had a fraud transaction on a day in ``[train_start, D - g - 1]``, that is, the
  frauds of the training days plus those of the days up to ``D`` minus the delay;
- ``"all-history"``, stricter: a card is dropped once any fraud label of it, anywhere in the
  history, was known (``label_time``) before ``D``'s 00:00 UTC.

Metrics: ROC AUC and average precision over the test transactions; card precision@100, as the
handbook's ``card_precision_top_k`` (per day, the 100 cards with the highest max score; the
number of them that had a fraud that day, over 100; cards detected are dropped on later days;
averaged over days); recall at 1% false-positive rate.

Baselines, trained on the bundle's own training window with the same fit/validation split:
logistic regression on the same features, and XGBoost on the raw event fields alone.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

import numpy as np

from fraudscore._kinds.base import Protocol
from fraudscore._kinds.protocols import (
    KNOWN_COMPROMISED,
    logistic_regression,
    recall_at_fpr,
    with_both_classes,
    without_known_compromised,
)
from fraudscore._model.fit import TrainConfig, day_mask, fit_xgb, split_window
from fraudscore._model.runtime import as_model_input

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["KNOWN_COMPROMISED", "card_precision_at_k", "protocol", "recall_at_fpr", "test_rows"]


def card_precision_at_k(test: pd.DataFrame, scores: np.ndarray, k: int = 100) -> float:
    """Handbook card precision@k over the test days (``test`` has day, customer_id, is_fraud)."""
    frame = test[["day", "customer_id", "is_fraud"]].assign(score=scores)
    detected: set[str] = set()
    precisions = []
    for _, day in frame.groupby("day", sort=True):
        cards = day.groupby("customer_id").agg(score=("score", "max"), fraud=("is_fraud", "max"))
        cards = cards[~cards.index.isin(detected)]
        top = cards.sort_values(["score"], ascending=False, kind="stable").head(k)
        precisions.append(float(top["fraud"].sum()) / k)
        detected.update(top.index[top["fraud"] == 1])
    return float(np.mean(precisions)) if precisions else float("nan")


def metrics(test: pd.DataFrame, scores: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import average_precision_score, roc_auc_score

    y = test["is_fraud"].to_numpy()
    return {
        "roc_auc": float(roc_auc_score(y, scores)),
        "average_precision": float(average_precision_score(y, scores)),
        "card_precision_at_100": card_precision_at_k(test, scores, 100),
        "recall_at_1pct_fpr": recall_at_fpr(y, scores, 0.01),
    }


def test_rows(
    frame: pd.DataFrame,
    start: date,
    end: date,
    train_start: date,
    train_end: date,
    known_compromised: str = "handbook",
) -> pd.DataFrame:
    """Test-window rows without the cards known compromised on each day (module docstring)."""
    test = frame[day_mask(frame["timestamp"], start, end)]
    test = without_known_compromised(
        frame, test, "customer_id", "is_fraud", start, train_start, train_end, known_compromised
    )
    test["day"] = test["timestamp"].dt.floor("D")
    return with_both_classes(test, "is_fraud", start, end, "fraud and genuine transactions")


def protocol(raw_features: tuple[str, ...]) -> Protocol:
    """The transactions' protocol; the raw-fields baseline reads ``raw_features``."""

    def baselines(
        frame: pd.DataFrame,
        test: pd.DataFrame,
        train_start: date,
        train_end: date,
        cfg: TrainConfig | None,
        features: tuple[str, ...],
    ) -> dict[str, np.ndarray]:
        import xgboost as xgb

        cfg = cfg or TrainConfig()
        raw = list(raw_features)
        last_fit, first_valid = split_window(train_start, train_end)
        fit = frame[day_mask(frame["timestamp"], train_start, last_fit)]
        val = frame[day_mask(frame["timestamp"], first_valid, train_end)]
        raw_model = fit_xgb(
            fit[raw].to_numpy(np.float64),
            fit["is_fraud"].to_numpy(),
            val[raw].to_numpy(np.float64),
            val["is_fraud"].to_numpy(),
            cfg,
        )
        return {
            "baseline_logistic_regression": logistic_regression(
                frame, test, train_start, train_end, features, "is_fraud"
            ),
            "baseline_xgboost_raw_fields": raw_model.predict(
                xgb.DMatrix(as_model_input(test[raw].to_numpy(np.float64)))
            ),
        }

    def summary(test: pd.DataFrame, known_compromised: str) -> dict[str, Any]:
        return {
            "test_transactions": len(test),
            "test_frauds": int(test["is_fraud"].sum()),
            "known_compromised": known_compromised,
            "raw_fields": list(raw_features),
        }

    return Protocol(
        positives="frauds",
        flag_rate="alert rate",
        scored_events="transactions",
        test_rows=test_rows,
        baselines=baselines,
        metrics=metrics,
        summary=summary,
    )
