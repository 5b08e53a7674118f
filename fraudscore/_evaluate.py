"""Evaluation by the fraud-detection handbook protocol (Le Borgne et al., ch. 5).

The model was trained on a window; between its end and the test window lies a label-delay gap.
Each test day drops the cards already known compromised (a fraud label known before that day).
Metrics, computed for the model and both baselines in one run:

- ROC AUC and average precision over the test transactions;
- card precision@100: per day, the 100 cards with the highest max score; the share of them that
  had a fraud that day; cards detected (fraudulent and in the top 100) are dropped on later days;
  averaged over days;
- recall at 1% false-positive rate.

Baselines, trained on the bundle's own training window with the same fit/validation split:
logistic regression on the same features, and XGBoost on the raw event fields alone.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np

from fraudscore._bundle import Bundle
from fraudscore._errors import TrainingError
from fraudscore._kinds import EventKind, kind_spec
from fraudscore._model import OnnxModel
from fraudscore._train import TrainConfig, day_mask, fit_xgb, split_window

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["card_precision_at_k", "evaluate_transactions", "recall_at_fpr"]


def recall_at_fpr(y: np.ndarray, scores: np.ndarray, fpr: float = 0.01) -> float:
    """The highest true-positive rate at a false-positive rate of at most ``fpr``."""
    from sklearn.metrics import roc_curve

    f, t, _ = roc_curve(y, scores)
    return float(t[f <= fpr].max())


def card_precision_at_k(test: pd.DataFrame, scores: np.ndarray, k: int = 100) -> float:
    """Handbook card precision@k over the test days (``test`` has day, customer_id, is_fraud)."""
    frame = test[["day", "customer_id", "is_fraud"]].assign(score=scores)
    detected: set[str] = set()
    precisions = []
    for _, day in frame.groupby("day", sort=True):
        cards = day.groupby("customer_id").agg(score=("score", "max"), fraud=("is_fraud", "max"))
        cards = cards[~cards.index.isin(detected)]
        top = cards.sort_values(["score"], ascending=False, kind="stable").head(k)
        precisions.append(float(top["fraud"].mean()) if len(top) else 0.0)
        detected.update(top.index[top["fraud"] == 1])
    return float(np.mean(precisions)) if precisions else float("nan")


def _metrics(test: pd.DataFrame, scores: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import average_precision_score, roc_auc_score

    y = test["is_fraud"].to_numpy()
    return {
        "roc_auc": float(roc_auc_score(y, scores)),
        "average_precision": float(average_precision_score(y, scores)),
        "card_precision_at_100": card_precision_at_k(test, scores, 100),
        "recall_at_1pct_fpr": recall_at_fpr(y, scores, 0.01),
    }


def select_test_rows(frame: pd.DataFrame, start: date, end: date) -> pd.DataFrame:
    """Test-window rows without the cards already known compromised on each day."""
    import pandas as pd

    test = frame[day_mask(frame["timestamp"], start, end)].copy()
    test["day"] = test["timestamp"].dt.floor("D")
    frauds = frame.loc[frame["is_fraud"] == 1, ["customer_id", "label_time"]]
    first_known = frauds.groupby("customer_id")["label_time"].min()
    known = test["customer_id"].map(first_known)
    keep = known.isna() | (known >= test["day"])
    test = test[keep.to_numpy()]
    if test.empty or test["is_fraud"].nunique() < 2:
        raise TrainingError(
            f"the test window {start}..{end} needs both fraud and genuine transactions"
        )
    return pd.DataFrame(test)


def evaluate_transactions(
    bundle: Bundle,
    frame: pd.DataFrame,
    start: date,
    end: date,
    cfg: TrainConfig | None = None,
) -> dict[str, Any]:
    """Metrics of the bundle's model and of both baselines on ``[start, end]`` (inclusive days)."""
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from fraudscore._transaction import RAW_FEATURES

    kind: EventKind = kind_spec(bundle.kind)
    cfg = cfg or TrainConfig()
    window = bundle.manifest["training_window"]
    train_start = date.fromisoformat(window["start"])
    train_end = date.fromisoformat(window["end"])
    if start <= train_end:
        raise TrainingError(f"test start {start} must come after the training end {train_end}")
    test = select_test_rows(frame, start, end)
    feats = list(kind.features)

    model = OnnxModel(bundle.model_bytes, len(feats))
    scores, _ = model.run(test[feats].to_numpy(np.float32))

    last_fit, first_valid = split_window(train_start, train_end)
    fit = frame[day_mask(frame["timestamp"], train_start, last_fit)]
    val = frame[day_mask(frame["timestamp"], first_valid, train_end)]
    lr = make_pipeline(
        SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
        StandardScaler(),
        LogisticRegression(max_iter=2000),
    )
    train_rows = frame[day_mask(frame["timestamp"], train_start, train_end)]
    lr.fit(train_rows[feats].to_numpy(np.float64), train_rows["is_fraud"].to_numpy())
    lr_scores = lr.predict_proba(test[feats].to_numpy(np.float64))[:, 1]

    import xgboost as xgb

    raw = list(RAW_FEATURES)
    raw_model = fit_xgb(
        fit[raw].to_numpy(np.float64),
        fit["is_fraud"].to_numpy(),
        val[raw].to_numpy(np.float64),
        val["is_fraud"].to_numpy(),
        cfg,
    )
    raw_scores = raw_model.predict(xgb.DMatrix(test[raw].to_numpy(np.float32)))

    gap = (start - train_end).days - 1
    return {
        "test_window": {"start": str(start), "end": str(end)},
        "training_window": {"start": str(train_start), "end": str(train_end)},
        "label_delay_gap_days": gap,
        "test_transactions": len(test),
        "test_frauds": int(test["is_fraud"].sum()),
        "model_version": bundle.version,
        "models": {
            "model": _metrics(test, scores),
            "baseline_logistic_regression": _metrics(test, lr_scores),
            "baseline_xgboost_raw_fields": _metrics(test, raw_scores),
        },
        "raw_fields": raw,
    }


# Plain helper for the CLI: default dates of the handbook-style protocol over a frame.
def default_windows(
    frame: pd.DataFrame, train_days: int = 35, gap_days: int = 7, test_days: int = 7
) -> tuple[date, date, date, date]:
    """(train_start, train_end, test_start, test_end) ending at the frame's last full day."""
    last = frame["timestamp"].max().date() - timedelta(days=1)
    test_end = last
    test_start = test_end - timedelta(days=test_days - 1)
    train_end = test_start - timedelta(days=gap_days + 1)
    train_start = train_end - timedelta(days=train_days - 1)
    return train_start, train_end, test_start, test_end


def recall_at_rate(y: np.ndarray, scores: np.ndarray, rate: float) -> float:
    """Share of positives among the ``rate`` share of rows with the highest scores."""
    k = max(1, round(rate * len(scores)))
    top = np.argsort(-scores, kind="stable")[:k]
    positives = y.sum()
    return float(y[top].sum() / positives) if positives else float("nan")


def evaluate_logins(bundle: Bundle, frame: pd.DataFrame, start: date, end: date) -> dict[str, Any]:
    """Model vs the Freeman et al. baseline on the successful logins of ``[start, end]``.

    Reports average precision, ROC AUC and takeover recall when challenging the riskiest 1% and
    5% of successful logins, for both, from one run.
    """
    from sklearn.metrics import average_precision_score, roc_auc_score

    from fraudscore._freeman import freeman_scores

    kind: EventKind = kind_spec(bundle.kind)
    window = bundle.manifest["training_window"]
    train_start = date.fromisoformat(window["start"])
    train_end = date.fromisoformat(window["end"])
    if start <= train_end:
        raise TrainingError(f"test start {start} must come after the training end {train_end}")
    scored = kind.scored(frame) & day_mask(frame["timestamp"], start, end)
    test = frame[scored]
    y = test[kind.label].to_numpy()
    if test.empty or len(np.unique(y)) < 2:
        raise TrainingError(
            f"the test window {start}..{end} needs both takeovers and genuine successful logins"
        )
    model = OnnxModel(bundle.model_bytes, len(kind.features))
    scores, _ = model.run(test[list(kind.features)].to_numpy(np.float32))
    baseline = freeman_scores(frame, day_mask(frame["timestamp"], train_start, train_end), scored)

    def metrics(s: np.ndarray) -> dict[str, float]:
        return {
            "average_precision": float(average_precision_score(y, s)),
            "roc_auc": float(roc_auc_score(y, s)),
            "recall_at_1pct_challenge": recall_at_rate(y, s, 0.01),
            "recall_at_5pct_challenge": recall_at_rate(y, s, 0.05),
        }

    return {
        "kind": "login",
        "test_window": {"start": str(start), "end": str(end)},
        "training_window": {"start": str(train_start), "end": str(train_end)},
        "test_successful_logins": len(test),
        "test_takeovers": int(y.sum()),
        "model_version": bundle.version,
        "models": {"model": metrics(scores), "baseline_freeman": metrics(baseline)},
    }
