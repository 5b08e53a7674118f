"""How logins are evaluated: the successful logins of the test days (auth services call the
scorer after the password check), against the Freeman et al. baseline (``freeman``).

Metrics: average precision, ROC AUC, and takeover recall when challenging the riskiest 1% and
5% of the successful logins.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

import numpy as np

from fraudscore._errors import TrainingError
from fraudscore._kinds.base import Protocol
from fraudscore._kinds.login.freeman import freeman_scores
from fraudscore._kinds.protocols import with_both_classes
from fraudscore._model.fit import TrainConfig, day_mask

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["PROTOCOL", "recall_at_rate", "successful"]


def recall_at_rate(y: np.ndarray, scores: np.ndarray, rate: float) -> float:
    """Share of positives among the ``rate`` share of rows with the highest scores."""
    k = max(1, round(rate * len(scores)))
    top = np.argsort(-scores, kind="stable")[:k]
    positives = y.sum()
    return float(y[top].sum() / positives) if positives else float("nan")


def successful(frame: pd.DataFrame) -> np.ndarray:
    """The logins the kind scores: auth services call the scorer after the password check."""
    return frame["success"].to_numpy(dtype=bool)


def test_rows(
    frame: pd.DataFrame,
    start: date,
    end: date,
    train_start: date,
    train_end: date,
    known_compromised: str = "handbook",
) -> pd.DataFrame:
    """The successful logins of the test days (``known_compromised`` is the transactions'; a
    login test keeps every account)."""
    test = frame[successful(frame) & day_mask(frame["timestamp"], start, end)]
    return with_both_classes(test, "is_ato", start, end, "takeovers and genuine successful logins")


def baselines(
    frame: pd.DataFrame,
    test: pd.DataFrame,
    train_start: date,
    train_end: date,
    cfg: TrainConfig | None,
    features: tuple[str, ...],
) -> dict[str, np.ndarray]:
    """Freeman et al.'s score, its probabilities from the training window's successful logins."""
    if not frame.index.is_unique:
        raise TrainingError("the login frame's index must be unique (one row per login)")
    train = day_mask(frame["timestamp"], train_start, train_end)
    scored = frame.index.isin(test.index)
    return {"baseline_freeman": freeman_scores(frame, train, scored)}


def metrics(test: pd.DataFrame, scores: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import average_precision_score, roc_auc_score

    y = test["is_ato"].to_numpy()
    return {
        "average_precision": float(average_precision_score(y, scores)),
        "roc_auc": float(roc_auc_score(y, scores)),
        "recall_at_1pct_challenge": recall_at_rate(y, scores, 0.01),
        "recall_at_5pct_challenge": recall_at_rate(y, scores, 0.05),
    }


def summary(test: pd.DataFrame, known_compromised: str) -> dict[str, Any]:
    return {"test_successful_logins": len(test), "test_takeovers": int(test["is_ato"].sum())}


PROTOCOL = Protocol(
    positives="takeovers",
    flag_rate="challenge rate",
    scored_events="successful logins",
    test_rows=test_rows,
    baselines=baselines,
    metrics=metrics,
    summary=summary,
    rate_curve=True,
)
