"""Fitting XGBoost: the settings, the time windows, early-stopped and fixed-round fits.

The primitives that training (``_training.train``), model selection (``_training.select``) and
each kind's evaluation baselines share; they know nothing of kinds, bundles or Feast.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np

from fraudscore._errors import TrainingError
from fraudscore._model.runtime import as_model_input

if TYPE_CHECKING:
    import pandas as pd
    import xgboost as xgb

__all__ = [
    "SELECTION_GRID",
    "TrainConfig",
    "day_mask",
    "fit_rounds",
    "fit_xgb",
    "split_window",
    "threshold_for_rate",
]

#: The settings ``select`` tries, every combination (32).
SELECTION_GRID: dict[str, tuple[float, ...]] = {
    "max_depth": (3, 5),
    "learning_rate": (0.05, 0.1),
    "n_estimators": (100, 300),
    "min_child_weight": (1.0, 5.0),
    "scale_pos_weight": (1.0, 5.0),
}


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
    scale_pos_weight: float = 1.0
    seed: int = 0
    n_jobs: int = 2
    #: Share of held-out scored events at or above the review (challenge) and the block
    #: (decline / deny) thresholds; ``None`` takes the kind's ``alert_rates``.
    review_rate: float | None = None
    block_rate: float | None = None
    #: Fit again on the whole window with the early-stopped number of trees.
    refit: bool = True
    #: Choose the settings in ``grid`` by prequential validation before training.
    select: bool = False
    grid: Mapping[str, Sequence[float]] = field(default_factory=lambda: dict(SELECTION_GRID))
    selection_folds: int = 4
    #: Days between a fold's training window and its assessment window (the label delay).
    label_delay_days: int = 7
    xgb_extra: dict[str, Any] = field(default_factory=dict)


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
    params = xgb_params(cfg, y_fit)
    dfit = xgb.DMatrix(as_model_input(x_fit), label=y_fit)
    dval = xgb.DMatrix(as_model_input(x_val), label=y_val)
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


def fit_rounds(x: np.ndarray, y: np.ndarray, cfg: TrainConfig, rounds: int) -> xgb.Booster:
    """A binary XGBoost model of exactly ``rounds`` trees, no early stopping."""
    import xgboost as xgb

    return xgb.train(xgb_params(cfg, y), xgb.DMatrix(as_model_input(x), label=y), rounds)


def xgb_params(cfg: TrainConfig, y_fit: np.ndarray) -> dict[str, Any]:
    return {
        "objective": "binary:logistic",
        "eval_metric": "aucpr",
        "tree_method": "hist",
        "max_depth": cfg.max_depth,
        "eta": cfg.learning_rate,
        "subsample": cfg.subsample,
        "colsample_bytree": cfg.colsample_bytree,
        "min_child_weight": cfg.min_child_weight,
        "scale_pos_weight": cfg.scale_pos_weight,
        "base_score": float(np.clip(y_fit.mean(), 1e-4, 0.5)),
        "seed": cfg.seed,
        "nthread": cfg.n_jobs,
        **cfg.xgb_extra,
    }


def threshold_for_rate(scores: np.ndarray, rate: float) -> float:
    """The score at or above which a ``rate`` share of ``scores`` falls."""
    return float(np.quantile(scores, 1.0 - rate, method="higher"))
