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
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from fraudscore._errors import TrainingError
from fraudscore._kinds import EventKind
from fraudscore._model.bundle import Bundle, Thresholds, save_bundle
from fraudscore._model.export import export_onnx
from fraudscore._model.fit import (
    SELECTION_GRID,
    TrainConfig,
    day_mask,
    fit_rounds,
    fit_xgb,
    split_window,
    threshold_for_rate,
)
from fraudscore._model.runtime import as_model_input
from fraudscore._training.select import prequential

if TYPE_CHECKING:
    import pandas as pd
    import xgboost as xgb

#: Re-exported: the settings a caller of ``train`` passes.
__all__ = ["SELECTION_GRID", "TrainConfig", "TrainedModel", "train"]


@dataclass(frozen=True)
class TrainedModel:
    booster: xgb.Booster
    bundle: Bundle


def _metric(metric: Any, y: np.ndarray, scores: np.ndarray) -> float:
    """``metric(y, scores)``, or NaN when ``y`` holds one class (no metric is defined)."""
    return float(metric(y, scores)) if len(np.unique(y)) == 2 else float("nan")


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
