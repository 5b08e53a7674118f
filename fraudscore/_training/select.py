"""Model selection by prequential validation (the handbook's chapter 5), over a small grid.

Fold ``k`` (``k = 0 .. folds-1``) assesses on the training window shifted back by ``k`` window
lengths and trains on a window of the same length that ends ``label_delay_days + 1`` days before
it, as the handbook's ``prequentialSplit`` does with its delay period. Each fold is assessed on
the rows the kind's protocol tests (transactions: the cards known compromised dropped).
Each candidate is scored by its mean average precision over the folds; ties go to the earlier
candidate of the grid. Every fold ends at or before the training window's end, so nothing after
it (no test-window row) can change the choice.
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np

from fraudscore._errors import TrainingError
from fraudscore._kinds import EventKind
from fraudscore._model.fit import TrainConfig, day_mask, fit_rounds
from fraudscore._model.runtime import as_model_input

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["prequential"]

_INTS = ("max_depth", "n_estimators")


def prequential(
    kind: EventKind, frame: pd.DataFrame, start: date, end: date, cfg: TrainConfig
) -> tuple[TrainConfig, dict[str, Any]]:
    """The settings of ``cfg.grid`` with the best mean fold AP, and the record of the choice."""
    import xgboost as xgb
    from sklearn.metrics import average_precision_score

    folds = _folds(kind, frame, start, end, cfg)
    feats = list(kind.features)
    data = []
    for fold in folds:
        fit, test = fold.pop("fit"), fold.pop("test")
        data.append(
            (
                fit[feats].to_numpy(np.float64),
                fit[kind.label].to_numpy(np.int8),
                xgb.DMatrix(as_model_input(test[feats].to_numpy(np.float64))),
                test[kind.label].to_numpy(np.int8),
            )
        )
    names = list(cfg.grid)
    candidates: list[dict[str, Any]] = []
    for combo in itertools.product(*(cfg.grid[n] for n in names)):
        params = {n: int(v) if n in _INTS else float(v) for n, v in zip(names, combo, strict=True)}
        candidate = replace(cfg, **params)  # type: ignore[arg-type]
        aps = []
        for x_fit, y_fit, d_test, y_test in data:
            booster = fit_rounds(x_fit, y_fit, candidate, candidate.n_estimators)
            aps.append(float(average_precision_score(y_test, booster.predict(d_test))))
        candidates.append(
            {"params": params, "average_precision": float(np.mean(aps)), "per_fold": aps}
        )
    best = max(candidates, key=lambda c: c["average_precision"])  # first of equals wins
    record = {
        "method": "prequential validation, mean average precision over the folds",
        "folds": folds,
        "chosen": best["params"],
        "chosen_average_precision": best["average_precision"],
        "candidates": candidates,
    }
    return replace(cfg, **best["params"]), record


def _folds(
    kind: EventKind, frame: pd.DataFrame, start: date, end: date, cfg: TrainConfig
) -> list[dict[str, Any]]:
    """The folds that have data: their windows, and their fit and assessment rows."""
    span = (end - start).days + 1
    scored = frame[kind.scored(frame)]
    folds: list[dict[str, Any]] = []
    for k in range(cfg.selection_folds):
        a_start, a_end = start - timedelta(days=k * span), end - timedelta(days=k * span)
        f_end = a_start - timedelta(days=cfg.label_delay_days + 1)
        f_start = f_end - timedelta(days=span - 1)
        fit = scored[day_mask(scored["timestamp"], f_start, f_end)]
        if fit.empty or fit[kind.label].nunique() < 2:
            continue
        try:
            test = kind.protocol.test_rows(frame, a_start, a_end, f_start, f_end)
        except TrainingError:
            continue
        folds.append(
            {
                "fit": fit,
                "test": test,
                "train_window": [str(f_start), str(f_end)],
                "assessment_window": [str(a_start), str(a_end)],
            }
        )
    if not folds:
        raise TrainingError(
            f"prequential selection needs history before {start}: a fold trains on {span} days "
            f"ending {cfg.label_delay_days + 1} days before the window it assesses, and none of "
            f"the {cfg.selection_folds} folds has both classes in the data"
        )
    return folds
