"""Training: time-based split, XGBoost with early stopping, refit, thresholds, ONNX bundle.

Inside the training window ``[start, end]`` (inclusive days) the last quarter of the days (at
least one) is held out: a model fitted on the rest early-stops on it, and its scores there set
the decision thresholds for the target alert rates. Then (``refit``, the default) the model is
fitted again on the whole window with the same number of trees, so that the newest days count
too; that refitted model is exported. Only ``best_iteration + 1`` trees are ever kept.

With ``select`` the XGBoost settings are chosen first by prequential validation (the handbook's
chapter 5): fold ``k`` trains on a window as long as the training window that ends
``label_delay_days + 1`` days before the training window shifted back by ``k`` window lengths,
and is assessed on that shifted window, by average precision, with the cards known compromised
dropped. Every fold lies at or before the training window's end, so no test-window row can
influence the choice; the choice and every candidate's validation scores go in the manifest.
The number of trees is then the selected one: the held-out model is not early-stopped (one or
two held-out days are a noisier judge than four folds of a whole window each).
"""

from __future__ import annotations

import platform
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from fraudscore._errors import TrainingError
from fraudscore._kinds import EventKind
from fraudscore._model.bundle import Bundle, Thresholds, save_bundle
from fraudscore._model.export import export_onnx
from fraudscore._model.runtime import as_model_input

if TYPE_CHECKING:
    import pandas as pd
    import xgboost as xgb

__all__ = ["SELECTION_GRID", "TrainConfig", "TrainedModel", "day_mask", "fit_xgb", "train"]

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
    params = _params(cfg, y_fit)
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

    return xgb.train(_params(cfg, y), xgb.DMatrix(as_model_input(x), label=y), rounds)


def _params(cfg: TrainConfig, y_fit: np.ndarray) -> dict[str, Any]:
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


def _metric(metric: Any, y: np.ndarray, scores: np.ndarray) -> float:
    """``metric(y, scores)``, or NaN when ``y`` holds one class (no metric is defined)."""
    return float(metric(y, scores)) if len(np.unique(y)) == 2 else float("nan")


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
    synthetic: Iterable[str] = (),
) -> TrainedModel:
    """Train on the feature ``frame`` (made by the offline pipeline) and write a bundle.

    Rows whose id is in ``synthetic`` (attack examples) are trained on, but the thresholds and
    the drift reference come from the other rows: they are set for the real traffic's alert
    rates."""
    import xgboost as xgb

    cfg = cfg or TrainConfig()
    last_fit, first_valid = split_window(start, end)
    selection = None
    if cfg.select:
        from fraudscore._training.select import prequential

        cfg, selection = prequential(kind, frame, start, end, cfg)
    frame = frame[kind.scored(frame)]
    fit = day_mask(frame["timestamp"], start, last_fit)
    val = day_mask(frame["timestamp"], first_valid, end)
    if not fit.any() or not val.any():
        raise TrainingError(f"no rows between {start} and {end} in the data")
    x = frame[list(kind.features)].to_numpy(np.float64)
    y = frame[kind.label].to_numpy(np.int8)
    if selection is None:
        held_out = fit_xgb(x[fit], y[fit], x[val], y[val], cfg)
    else:  # the number of trees was chosen on every fold: no cut on the held-out days
        held_out = fit_rounds(x[fit], y[fit], cfg, cfg.n_estimators)
    trees = held_out.num_boosted_rounds()
    review_rate = cfg.review_rate if cfg.review_rate is not None else kind.alert_rates[0]
    block_rate = cfg.block_rate if cfg.block_rate is not None else kind.alert_rates[1]
    attack = frame[kind.id_field].isin(set(synthetic)).to_numpy()
    real = val & ~attack
    val_scores = held_out.predict(xgb.DMatrix(as_model_input(x[real])))
    thresholds = Thresholds(
        review=threshold_for_rate(val_scores, review_rate),
        block=threshold_for_rate(val_scores, block_rate),
    )
    window = fit | val
    booster = fit_rounds(x[window], y[window], cfg, trees) if cfg.refit else held_out
    from fraudscore._serving.drift import reference

    drift = reference(
        kind.features,
        x[window & ~attack],
        val_scores,
        {"review": review_rate, "block": block_rate},
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
            "synthetic_rows": int(((fit | val) & attack).sum()),
        },
        "metrics": {
            "validation_roc_auc": _metric(roc_auc_score, y[real], val_scores),
            "validation_average_precision": _metric(average_precision_score, y[real], val_scores),
            "best_iteration": trees - 1,
        },
        "training": {
            "held_out": (
                f"fitted on {start}..{last_fit}, early-stopped on {first_valid}..{end} at "
                f"{trees} trees"
                if selection is None
                else f"fitted on {start}..{last_fit} with the {trees} trees selected, scored on "
                f"{first_valid}..{end}"
            ),
            "refit": (
                f"refitted on the whole window {start}..{end} with {trees} trees"
                if cfg.refit
                else "none: the early-stopped model is exported"
            ),
            "thresholds": "alert-rate quantiles of the held-out model's scores on the held-out "
            "days",
            "validation_metrics": "the held-out model on the held-out days",
        },
        "selection": selection,
        "drift_reference": drift,
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
