"""How a kind is evaluated offline (:class:`Protocol`), and a protocol any kind can start with
(:func:`basic_protocol`).

A kind with its own evaluation rules (the handbook's known-compromised cards, logins' successful
attempts) declares its own :class:`~fraudscore.Protocol`; a new kind can start with this one and
replace it when it knows more.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

import numpy as np

from fraudscore._errors import TrainingError
from fraudscore._model.fit import TrainConfig, day_mask

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "KNOWN_COMPROMISED",
    "Protocol",
    "basic_protocol",
    "logistic_regression",
    "recall_at_fpr",
    "with_both_classes",
    "without_known_compromised",
]

#: Which entities a test day drops as already known compromised (``without_known_compromised``).
KNOWN_COMPROMISED = ("handbook", "all-history")


@dataclass(frozen=True)
class Protocol:
    """How a kind is evaluated offline: by :func:`fraudscore.evaluate`, model selection, the
    report and the backtest. Every function takes a folded frame (``OfflineFeatures.frame``)."""

    #: What a positive is called ("frauds"), and the share of scored events the model flags
    #: ("alert rate").
    positives: str
    flag_rate: str
    #: What the scored events are called ("transactions", "successful logins").
    scored_events: str
    #: ``test_rows(frame, start, end, train_start, train_end, known_compromised)``: the rows a
    #: test window scores; a :class:`~fraudscore.TrainingError` when they hold one class.
    test_rows: Callable[..., pd.DataFrame]
    #: ``baselines(frame, test, train_start, train_end, config, features)``: each baseline's
    #: scores of the test rows, by name (``baseline_...``); ``features`` are the model's.
    baselines: Callable[..., dict[str, np.ndarray]]
    #: ``metrics(test, scores)``: one model's summary metrics.
    metrics: Callable[[pd.DataFrame, np.ndarray], dict[str, float]]
    #: ``summary(test, known_compromised)``: the counts and settings the summary reports.
    summary: Callable[[pd.DataFrame, str], dict[str, Any]]
    #: Whether the report plots the recall against the flag rate (a budget the team sets).
    rate_curve: bool = False


def recall_at_fpr(y: np.ndarray, scores: np.ndarray, fpr: float = 0.01) -> float:
    """The highest true-positive rate at a false-positive rate of at most ``fpr``."""
    from sklearn.metrics import roc_curve

    f, t, _ = roc_curve(y, scores)
    return float(t[f <= fpr].max())


def logistic_regression(
    frame: pd.DataFrame,
    test: pd.DataFrame,
    train_start: date,
    train_end: date,
    features: tuple[str, ...],
    label: str,
) -> np.ndarray:
    """The scores of ``test`` by a logistic regression on ``features`` fitted on the training
    window's rows of ``frame`` (missing values imputed by the median, with indicators; scaled):
    the baseline a data scientist writes first."""
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    lr = make_pipeline(
        SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
        StandardScaler(),
        LogisticRegression(max_iter=2000),
    )
    rows = frame[day_mask(frame["timestamp"], train_start, train_end)]
    lr.fit(rows[list(features)].to_numpy(np.float64), rows[label].to_numpy())
    scores: np.ndarray = lr.predict_proba(test[list(features)].to_numpy(np.float64))[:, 1]
    return scores


def without_known_compromised(
    frame: pd.DataFrame,
    test: pd.DataFrame,
    entity: str,
    label: str,
    start: date,
    train_start: date,
    train_end: date,
    rule: str = "handbook",
) -> pd.DataFrame:
    """``test`` without the rows of entities (cards, accounts) already known compromised on
    their day, by ``rule``:

    - ``"handbook"`` (the fraud-detection handbook's ``get_train_test_set``): an entity is
      known on test day ``D`` when it had a positive on a day in ``[train_start, D - g - 1]``,
      ``g`` the gap between the training and the test window (the label delay);
    - ``"all-history"``, stricter: once any positive label of it was known (``label_time``)
      before ``D``'s 00:00 UTC.
    """
    import pandas as pd

    if rule not in KNOWN_COMPROMISED:
        raise TrainingError(f"known_compromised={rule!r} is not one of {KNOWN_COMPROMISED}")
    day = test["timestamp"].dt.floor("D")
    positives = frame[frame[label] == 1]
    if rule == "handbook":
        since = positives[positives["timestamp"] >= pd.Timestamp(train_start, tz="UTC")]
        first_day = since.groupby(entity)["timestamp"].min().dt.floor("D")
        delay = pd.Timedelta(days=(start - train_end).days)  # the gap plus one day
        known = test[entity].map(first_day)
        keep = known.isna() | (known > day - delay)
    else:
        first_known = positives.groupby(entity)["label_time"].min()
        known = test[entity].map(first_known)
        keep = known.isna() | (known >= day)
    return pd.DataFrame(test[keep.to_numpy()].copy())


def with_both_classes(
    test: pd.DataFrame, label: str, start: date, end: date, what: str
) -> pd.DataFrame:
    """``test``, the rows of a test window, or a :class:`~fraudscore.TrainingError` when they
    lack positives or negatives: the window needs both ``what`` ("fraud and genuine
    transactions")."""
    if test.empty or test[label].nunique() < 2:
        raise TrainingError(f"the test window {start}..{end} needs both {what}")
    return test


def basic_protocol(
    label: str,
    *,
    positives: str = "positives",
    scored_events: str = "events",
    flag_rate: str = "alert rate",
) -> Protocol:
    """Every event of the test window is scored (no entity is dropped as already known); the
    metrics are ROC AUC, average precision and the recall at a 1% false-positive rate; the
    baseline is a logistic regression on the model's own features, fitted on the training
    window. ``label`` is the kind's label column."""

    def test_rows(
        frame: pd.DataFrame,
        start: date,
        end: date,
        train_start: date,
        train_end: date,
        known_compromised: str = "none",
    ) -> pd.DataFrame:
        test = frame[day_mask(frame["timestamp"], start, end)]
        return with_both_classes(
            test, label, start, end, f"{positives} and genuine {scored_events}"
        )

    def baselines(
        frame: pd.DataFrame,
        test: pd.DataFrame,
        train_start: date,
        train_end: date,
        cfg: TrainConfig | None,
        features: tuple[str, ...],
    ) -> dict[str, np.ndarray]:
        scores = logistic_regression(frame, test, train_start, train_end, features, label)
        return {"baseline_logistic_regression": scores}

    def metrics(test: pd.DataFrame, scores: np.ndarray) -> dict[str, float]:
        from sklearn.metrics import average_precision_score, roc_auc_score

        y = test[label].to_numpy()
        return {
            "roc_auc": float(roc_auc_score(y, scores)),
            "average_precision": float(average_precision_score(y, scores)),
            "recall_at_1pct_fpr": recall_at_fpr(y, scores, 0.01),
        }

    def summary(test: pd.DataFrame, known_compromised: str) -> dict[str, Any]:
        return {f"test_{scored_events}": len(test), f"test_{positives}": int(test[label].sum())}

    return Protocol(
        positives=positives,
        flag_rate=flag_rate,
        scored_events=scored_events,
        test_rows=test_rows,
        baselines=baselines,
        metrics=metrics,
        summary=summary,
    )
