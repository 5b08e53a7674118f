"""How payouts are evaluated: every payout of the test days, but those of accounts already known
compromised, against the baselines a fraud team writes first.

Known compromised, as for transactions (``known_compromised``):

- ``"handbook"`` (the default): an account is dropped on test day ``D`` when it had a fraud
  payout on a day in ``[train_start, D - g - 1]`` (``g`` the gap between training and test, the
  label delay): its money is frozen and its payouts are no longer scored by the model;
- ``"all-history"``, stricter: an account is dropped once any fraud label of it was known
  (``label_time``) before ``D``'s 00:00 UTC.

Metrics: ROC AUC and average precision over the test payouts; recall of the fraudulent payouts
and of the fraudulent amount when holding the riskiest 1% of payouts; recall at 1% false-positive
rate.

Baselines, fitted on the bundle's training window: logistic regression on the model's features,
and the rule a fraud team writes first, "new beneficiary and an amount far above the account's
usual": a payout to a beneficiary the account never paid scores its amount over the account's
30-day average payout (the amount itself for an account with no history), doubled when the
money moves instantly; a payout to a known beneficiary scores 0.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

import numpy as np

from fraudscore._kinds.protocols import (
    KNOWN_COMPROMISED,
    Protocol,
    logistic_regression,
    recall_at_fpr,
    with_both_classes,
    without_known_compromised,
)
from fraudscore._model.fit import TrainConfig, day_mask

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["KNOWN_COMPROMISED", "PROTOCOL", "recall_at_rate", "rule_scores", "test_rows"]


def recall_at_rate(
    y: np.ndarray, scores: np.ndarray, rate: float, weight: np.ndarray | None = None
) -> float:
    """Share of the positives (or of their ``weight``) among the ``rate`` riskiest rows."""
    k = max(1, round(rate * len(scores)))
    top = np.argsort(-scores, kind="stable")[:k]
    w = np.ones(len(y)) if weight is None else weight
    total = float((w * y).sum())
    return float((w[top] * y[top]).sum() / total) if total else float("nan")


def rule_scores(frame: pd.DataFrame) -> np.ndarray:
    """The "new beneficiary and an amount far above usual" rule's score (module docstring)."""
    new = frame["new_beneficiary"].to_numpy(np.float64)
    ratio = frame["amt_ratio_30d"].to_numpy(np.float64)
    ratio = np.where(np.isnan(ratio), frame["amount"].to_numpy(np.float64), ratio)
    fast = np.nan_to_num(frame["fast_method"].to_numpy(np.float64))
    return np.asarray(new * ratio * (1.0 + fast), dtype=np.float64)


def metrics(test: pd.DataFrame, scores: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import average_precision_score, roc_auc_score

    y = test["is_fraud"].to_numpy()
    return {
        "roc_auc": float(roc_auc_score(y, scores)),
        "average_precision": float(average_precision_score(y, scores)),
        "recall_at_1pct_hold": recall_at_rate(y, scores, 0.01),
        "amount_recall_at_1pct_hold": recall_at_rate(
            y, scores, 0.01, test["amount"].to_numpy(np.float64)
        ),
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
    """Test-window payouts without the accounts known compromised on each day."""
    test = frame[day_mask(frame["timestamp"], start, end)]
    test = without_known_compromised(
        frame, test, "account_id", "is_fraud", start, train_start, train_end, known_compromised
    )
    return with_both_classes(test, "is_fraud", start, end, "fraudulent and genuine payouts")


def baselines(
    frame: pd.DataFrame,
    test: pd.DataFrame,
    train_start: date,
    train_end: date,
    cfg: TrainConfig | None,
    features: tuple[str, ...],
) -> dict[str, np.ndarray]:
    return {
        "baseline_logistic_regression": logistic_regression(
            frame, test, train_start, train_end, features, "is_fraud"
        ),
        "baseline_new_beneficiary_rule": rule_scores(test),
    }


def summary(test: pd.DataFrame, known_compromised: str) -> dict[str, Any]:
    return {
        "test_payouts": len(test),
        "test_frauds": int(test["is_fraud"].sum()),
        "test_fraud_amount": round(float(test["amount"][test["is_fraud"] == 1].sum()), 2),
        "known_compromised": known_compromised,
    }


PROTOCOL = Protocol(
    positives="fraudulent payouts",
    flag_rate="hold rate",
    scored_events="payouts",
    test_rows=test_rows,
    baselines=baselines,
    metrics=metrics,
    summary=summary,
    rate_curve=True,
)
