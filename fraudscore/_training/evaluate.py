"""Evaluation by the fraud-detection handbook protocol (Le Borgne et al., ch. 3 and 5).

The model was trained on a window; between its end and the test window lies a label-delay gap
of ``g`` days. Each test day ``D`` drops the cards already known compromised. Two rules:

- ``"handbook"`` (the default), as ``get_train_test_set`` does: a card is known compromised on
  ``D`` when it had a fraud transaction on a day in ``[train_start, D - g - 1]``, that is, the
  frauds of the training days plus those of the days up to ``D`` minus the delay;
- ``"all-history"``, stricter: a card is dropped once any fraud label of it, anywhere in the
  history, was known (``label_time``) before ``D``'s 00:00 UTC.

Metrics, computed for the model and both baselines in one run:

- ROC AUC and average precision over the test transactions;
- card precision@100, as the handbook's ``card_precision_top_k``: per day, the 100 cards with the
  highest max score; the number of them that had a fraud that day, over 100; cards detected
  (fraudulent and in the top 100) are dropped on later days; averaged over days;
- recall at 1% false-positive rate.

Baselines, trained on the bundle's own training window with the same fit/validation split:
logistic regression on the same features, and XGBoost on the raw event fields alone.

:func:`evaluate` returns an :class:`Evaluation`: those metrics and one row per test event (ids,
label, every model's score, the decision and the top reason codes), which analysts and the
report read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from fraudscore._errors import TrainingError
from fraudscore._kinds import LOGIN, EventKind, kind_spec
from fraudscore._model.bundle import Bundle, load_bundle
from fraudscore._model.runtime import OnnxModel, as_model_input
from fraudscore._serving.reasons import ReasonCatalogue
from fraudscore._training.train import TrainConfig, day_mask, fit_xgb, split_window

if TYPE_CHECKING:
    import pandas as pd

    from fraudscore._training.offline import OfflineFeatures

__all__ = [
    "Evaluation",
    "KnownCompromised",
    "card_precision_at_k",
    "default_windows",
    "evaluate",
    "recall_at_fpr",
    "select_test_rows",
]

#: Which cards a test day drops as already known compromised (see the module docstring).
KnownCompromised = Literal["handbook", "all-history"]
_RULES = ("handbook", "all-history")
#: Reason codes per test event in :attr:`Evaluation.scores`.
_TOP_REASONS = 3


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
        precisions.append(float(top["fraud"].sum()) / k)
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


def select_test_rows(
    frame: pd.DataFrame,
    start: date,
    end: date,
    train_start: date,
    train_end: date,
    known_compromised: KnownCompromised = "handbook",
) -> pd.DataFrame:
    """Test-window rows without the cards known compromised on each day (module docstring)."""
    import pandas as pd

    if known_compromised not in _RULES:
        raise TrainingError(f"known_compromised={known_compromised!r} is not one of {_RULES}")
    test = frame[day_mask(frame["timestamp"], start, end)].copy()
    test["day"] = test["timestamp"].dt.floor("D")
    frauds = frame[frame["is_fraud"] == 1]
    if known_compromised == "handbook":
        since = frauds[frauds["timestamp"] >= pd.Timestamp(train_start, tz="UTC")]
        first_day = since.groupby("customer_id")["timestamp"].min().dt.floor("D")
        delay = pd.Timedelta(days=(start - train_end).days)  # the gap plus one day
        known = test["customer_id"].map(first_day)
        keep = known.isna() | (known > test["day"] - delay)
    else:
        first_known = frauds.groupby("customer_id")["label_time"].min()
        known = test["customer_id"].map(first_known)
        keep = known.isna() | (known >= test["day"])
    test = test[keep.to_numpy()]
    if test.empty or test["is_fraud"].nunique() < 2:
        raise TrainingError(
            f"the test window {start}..{end} needs both fraud and genuine transactions"
        )
    return pd.DataFrame(test)


@dataclass(frozen=True)
class Evaluation:
    """A bundle and its baselines scored on a test window.

    ``metrics`` is the JSON-ready summary. ``scores`` has one row per test event: its id,
    timestamp, entity ids and label, ``score`` (the model), ``score_<baseline>`` for each
    baseline, the model's ``decision`` at the bundle's thresholds and ``reason_1..3``, its top
    reason codes. ``contributions`` holds the model's per-feature contributions of those rows
    (log-odds; the last column is the bias).
    """

    bundle: Bundle
    metrics: dict[str, Any]
    scores: pd.DataFrame
    contributions: np.ndarray

    @property
    def kind(self) -> str:
        return self.bundle.kind

    def write_scores(self, path: str | Path) -> Path:
        """Write :attr:`scores` as parquet and return the path."""
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        self.scores.to_parquet(out, index=False)
        return out


def evaluate(
    bundle: Bundle | str | Path,
    features: OfflineFeatures,
    start: date,
    end: date,
    *,
    known_compromised: KnownCompromised = "handbook",
    config: TrainConfig | None = None,
) -> Evaluation:
    """Score ``bundle`` and its baselines on the test days ``[start, end]`` (inclusive).

    ``features`` come from :func:`fraudscore.build_features` on a history that covers the
    bundle's training window and the test window. ``known_compromised`` picks the rule for
    transactions (see :mod:`fraudscore._training.evaluate`); logins ignore it.
    """
    loaded = bundle if isinstance(bundle, Bundle) else load_bundle(bundle)
    kind = kind_spec(loaded.kind)
    if features.kind != kind.name:
        raise TrainingError(f"the bundle scores {kind.name}s, the features are {features.kind}s")
    window = loaded.manifest["training_window"]
    train_start = date.fromisoformat(window["start"])
    train_end = date.fromisoformat(window["end"])
    if start <= train_end:
        raise TrainingError(f"test start {start} must come after the training end {train_end}")
    if end < start:
        raise TrainingError(f"test end {end} is before test start {start}")
    frame = features.frame
    if kind.name == LOGIN.name:
        test, baselines, metrics = _logins(frame, start, end, train_start, train_end)
    else:
        test, baselines, metrics = _transactions(
            kind, frame, start, end, train_start, train_end, known_compromised, config
        )
    model = OnnxModel(loaded.model_bytes, len(kind.features))
    scores, contributions = model.run(test[list(kind.features)].to_numpy(np.float64))
    models = {"model": metrics(scores)} | {name: metrics(s) for name, s in baselines.items()}
    summary = {
        "kind": kind.name,
        "test_window": {"start": str(start), "end": str(end)},
        "training_window": {"start": str(train_start), "end": str(train_end)},
        "label_delay_gap_days": (start - train_end).days - 1,
        **_counts(kind, test),
        "model_version": loaded.version,
        "models": models,
    }
    if kind.name != LOGIN.name:
        summary["known_compromised"] = known_compromised
        summary["raw_fields"] = list(_raw_fields())
    per_event = test[[kind.id_field, "timestamp", *kind.context_columns, kind.label]].reset_index(
        drop=True
    )
    per_event["score"] = scores
    for name, s in baselines.items():
        per_event[f"score_{name}"] = np.asarray(s, dtype=np.float64)
    t = loaded.thresholds
    per_event["decision"] = np.select(
        [scores >= t.block, scores >= t.review], list(kind.decisions[:0:-1]), kind.decisions[0]
    )
    catalogue = ReasonCatalogue(loaded.manifest["catalogue"], loaded.features, loaded.path)
    top = catalogue.top_codes(contributions, _TOP_REASONS)
    for i in range(_TOP_REASONS):
        per_event[f"reason_{i + 1}"] = [codes[i] if len(codes) > i else None for codes in top]
    return Evaluation(loaded, summary, per_event, contributions)


def _counts(kind: EventKind, test: pd.DataFrame) -> dict[str, int]:
    if kind.name == LOGIN.name:
        return {"test_successful_logins": len(test), "test_takeovers": int(test["is_ato"].sum())}
    return {"test_transactions": len(test), "test_frauds": int(test["is_fraud"].sum())}


def _raw_fields() -> tuple[str, ...]:
    from fraudscore._kinds.transaction import RAW_FEATURES

    return RAW_FEATURES


Metrics = Any  # Callable[[np.ndarray], dict[str, float]]


def _transactions(
    kind: EventKind,
    frame: pd.DataFrame,
    start: date,
    end: date,
    train_start: date,
    train_end: date,
    known_compromised: KnownCompromised,
    cfg: TrainConfig | None,
) -> tuple[pd.DataFrame, dict[str, np.ndarray], Metrics]:
    """Test rows, the baselines' scores on them, and the metrics function."""
    import xgboost as xgb
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    cfg = cfg or TrainConfig()
    test = select_test_rows(frame, start, end, train_start, train_end, known_compromised)
    feats = list(kind.features)
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
    raw = list(_raw_fields())
    raw_model = fit_xgb(
        fit[raw].to_numpy(np.float64),
        fit["is_fraud"].to_numpy(),
        val[raw].to_numpy(np.float64),
        val["is_fraud"].to_numpy(),
        cfg,
    )
    baselines = {
        "baseline_logistic_regression": lr.predict_proba(test[feats].to_numpy(np.float64))[:, 1],
        "baseline_xgboost_raw_fields": raw_model.predict(
            xgb.DMatrix(as_model_input(test[raw].to_numpy(np.float64)))
        ),
    }
    return test, baselines, lambda scores: _metrics(test, scores)


def default_windows(
    frame: pd.DataFrame, train_days: int = 35, gap_days: int = 7, test_days: int = 7
) -> tuple[date, date, date, date]:
    """(train_start, train_end, test_start, test_end) ending at the frame's last full day, with
    ``gap_days`` of label delay between training and test."""
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


def _logins(
    frame: pd.DataFrame, start: date, end: date, train_start: date, train_end: date
) -> tuple[pd.DataFrame, dict[str, np.ndarray], Metrics]:
    """The successful logins of the test days, the Freeman et al. baseline, and the metrics:
    average precision, ROC AUC and takeover recall when challenging the riskiest 1% and 5%."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    from fraudscore._training.freeman import freeman_scores

    scored = LOGIN.scored(frame) & day_mask(frame["timestamp"], start, end)
    test = frame[scored]
    y = test[LOGIN.label].to_numpy()
    if test.empty or len(np.unique(y)) < 2:
        raise TrainingError(
            f"the test window {start}..{end} needs both takeovers and genuine successful logins"
        )
    baseline = freeman_scores(frame, day_mask(frame["timestamp"], train_start, train_end), scored)

    def metrics(s: np.ndarray) -> dict[str, float]:
        return {
            "average_precision": float(average_precision_score(y, s)),
            "roc_auc": float(roc_auc_score(y, s)),
            "recall_at_1pct_challenge": recall_at_rate(y, s, 0.01),
            "recall_at_5pct_challenge": recall_at_rate(y, s, 0.05),
        }

    return test, {"baseline_freeman": baseline}, metrics
