"""Training: time-based split, XGBoost with early stopping, thresholds, ONNX bundle.

Inside the training window ``[start, end]`` (inclusive days) the last quarter of the days (at
least one) is the validation window: it drives early stopping and the choice of thresholds for
the target alert rates. Only ``best_iteration + 1`` trees are kept, and exported.
"""

from __future__ import annotations

import platform
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from fraudscore._errors import TrainingError
from fraudscore._kinds import EventKind
from fraudscore._model.bundle import Bundle, Thresholds, save_bundle
from fraudscore._model.export import export_onnx

if TYPE_CHECKING:
    import pandas as pd
    import xgboost as xgb

__all__ = ["TrainConfig", "TrainedModel", "day_mask", "fit_xgb", "train"]


@dataclass(frozen=True, slots=True)
class TrainConfig:
    """XGBoost settings and the alert rates that set the decision thresholds."""

    max_depth: int = 5
    learning_rate: float = 0.1
    n_estimators: int = 400
    early_stopping_rounds: int = 30
    subsample: float = 0.8
    colsample_bytree: float = 0.8
    min_child_weight: float = 1.0
    seed: int = 0
    n_jobs: int = 2
    #: Share of held-out scored events at or above the review (challenge) and the block
    #: (decline / deny) thresholds; ``None`` takes the kind's ``alert_rates``.
    review_rate: float | None = None
    block_rate: float | None = None
    xgb_extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TrainedModel:
    booster: xgb.Booster
    bundle: Bundle


def day_mask(ts: pd.Series, start: date, end: date) -> np.ndarray:
    """Rows whose UTC day lies in ``[start, end]`` (inclusive)."""
    import pandas as pd

    lo = pd.Timestamp(start, tz="UTC")
    hi = pd.Timestamp(end + timedelta(days=1), tz="UTC")
    return ((ts >= lo) & (ts < hi)).to_numpy()


def split_window(start: date, end: date) -> tuple[date, date]:
    """(last day fitted, first validation day) of a training window."""
    if end < start:
        raise TrainingError(f"train end {end} is before train start {start}")
    days = (end - start).days + 1
    if days < 2:
        raise TrainingError("the training window needs at least 2 days (fit + validation)")
    n_valid = max(1, days // 4)
    first_valid = end - timedelta(days=n_valid - 1)
    return first_valid - timedelta(days=1), first_valid


def fit_xgb(
    x_fit: np.ndarray, y_fit: np.ndarray, x_val: np.ndarray, y_val: np.ndarray, cfg: TrainConfig
) -> xgb.Booster:
    """A binary XGBoost model early-stopped on the validation rows, cut to its best iteration."""
    import xgboost as xgb

    if y_fit.sum() == 0 or y_val.sum() == 0:
        raise TrainingError("both the fit and validation windows need at least one positive label")
    params = {
        "objective": "binary:logistic",
        "eval_metric": "aucpr",
        "tree_method": "hist",
        "max_depth": cfg.max_depth,
        "eta": cfg.learning_rate,
        "subsample": cfg.subsample,
        "colsample_bytree": cfg.colsample_bytree,
        "min_child_weight": cfg.min_child_weight,
        "base_score": float(np.clip(y_fit.mean(), 1e-4, 0.5)),
        "seed": cfg.seed,
        "nthread": cfg.n_jobs,
        **cfg.xgb_extra,
    }
    dfit = xgb.DMatrix(x_fit.astype(np.float32), label=y_fit)
    dval = xgb.DMatrix(x_val.astype(np.float32), label=y_val)
    booster = xgb.train(
        params,
        dfit,
        num_boost_round=cfg.n_estimators,
        evals=[(dval, "valid")],
        early_stopping_rounds=cfg.early_stopping_rounds,
        verbose_eval=False,
    )
    best = int(booster.best_iteration)
    return booster[: best + 1]


def threshold_for_rate(scores: np.ndarray, rate: float) -> float:
    """The score at or above which a ``rate`` share of ``scores`` falls."""
    return float(np.quantile(scores, 1.0 - rate, method="higher"))


def train(
    kind: EventKind,
    frame: pd.DataFrame,
    start: date,
    end: date,
    out: str | Path,
    cfg: TrainConfig | None = None,
    data_fingerprint: str = "",
    extra_manifest: dict[str, Any] | None = None,
) -> TrainedModel:
    """Train on the feature ``frame`` (made by the offline pipeline) and write a bundle."""
    import xgboost as xgb

    cfg = cfg or TrainConfig()
    last_fit, first_valid = split_window(start, end)
    frame = frame[kind.scored(frame)]
    fit = day_mask(frame["timestamp"], start, last_fit)
    val = day_mask(frame["timestamp"], first_valid, end)
    if not fit.any() or not val.any():
        raise TrainingError(f"no rows between {start} and {end} in the data")
    x = frame[list(kind.features)].to_numpy(np.float64)
    y = frame[kind.label].to_numpy(np.int8)
    booster = fit_xgb(x[fit], y[fit], x[val], y[val], cfg)
    review_rate = cfg.review_rate if cfg.review_rate is not None else kind.alert_rates[0]
    block_rate = cfg.block_rate if cfg.block_rate is not None else kind.alert_rates[1]
    val_scores = booster.predict(xgb.DMatrix(x[val].astype(np.float32)))
    thresholds = Thresholds(
        review=threshold_for_rate(val_scores, review_rate),
        block=threshold_for_rate(val_scores, block_rate),
    )
    from sklearn.metrics import average_precision_score, roc_auc_score

    model = export_onnx(booster, kind.features)
    manifest = {
        "kind": kind.name,
        "features": list(kind.features),
        "feast_project": "fraudscore",
        "feature_service": kind.feature_service,
        "feature_views": [v.name for v in kind.views],
        "catalogue": kind.catalogue,
        "decisions": list(kind.decisions),
        "thresholds": {
            "review": thresholds.review,
            "block": thresholds.block,
            "review_rate": review_rate,
            "block_rate": block_rate,
            "chosen_on": f"validation window {first_valid}..{end}",
        },
        "training_window": {
            "start": str(start),
            "end": str(end),
            "fit_end": str(last_fit),
            "validation_start": str(first_valid),
            "rows_fit": int(fit.sum()),
            "rows_validation": int(val.sum()),
            "positives_fit": int(y[fit].sum()),
        },
        "metrics": {
            "validation_roc_auc": float(roc_auc_score(y[val], val_scores)),
            "validation_average_precision": float(average_precision_score(y[val], val_scores)),
            "best_iteration": booster.num_boosted_rounds() - 1,
        },
        "xgboost_params": asdict(cfg),
        "data_fingerprint": data_fingerprint,
        "library": {
            "fraudscore": _version(),
            "xgboost": xgb.__version__,
            "python": platform.python_version(),
        },
        **(extra_manifest or {}),
    }
    bundle = save_bundle(out, model.SerializeToString(), manifest)
    return TrainedModel(booster=booster, bundle=bundle)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("fraudscore")
    except PackageNotFoundError:
        return "0+unknown"
