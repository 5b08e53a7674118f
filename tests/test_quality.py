"""Model quality machinery: the handbook generator, refit, and prequential selection."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fraudscore import (
    HandbookSimConfig,
    OfflineFeatures,
    TrainConfig,
    TrainingError,
    build_features,
    simulate_handbook,
    train_model,
)

SMALL = HandbookSimConfig(n_customers=600, n_terminals=1_200, n_days=70, seed=5)
#: A 7-day window late in the small history, with room for prequential folds before it.
WINDOW = (date(2018, 5, 31), date(2018, 6, 6))
TINY_GRID = {"max_depth": (2, 4), "learning_rate": (0.1,), "n_estimators": (30,)}


@pytest.fixture(scope="module")
def handbook() -> pd.DataFrame:
    return simulate_handbook(SMALL)


@pytest.fixture(scope="module")
def handbook_features(handbook: pd.DataFrame) -> OfflineFeatures:
    return build_features(handbook)


def test_handbook_generator_is_seeded_and_has_the_three_scenarios(handbook: pd.DataFrame) -> None:
    """Same seed, same rows; the handbook's three fraud scenarios, each as documented."""
    again = simulate_handbook(SMALL)
    pd.testing.assert_frame_equal(handbook, again)
    other = simulate_handbook(replace(SMALL, seed=6))
    assert not handbook["amount"].equals(other["amount"])
    pattern = handbook["fraud_pattern"]
    assert set(pattern) == {"none", "amount_over_220", "compromised_terminal", "compromised_card"}
    assert (handbook.loc[pattern == "amount_over_220", "amount"] > 220).all()
    assert (handbook.loc[pattern == "none", "amount"] <= 220).all()
    assert ((pattern != "none") == (handbook["is_fraud"] == 1)).all()
    # A compromised terminal: every one of its transactions in the days after is a fraud.
    terminal = handbook.loc[pattern == "compromised_terminal", "terminal_id"].iloc[0]
    at = handbook[handbook["terminal_id"] == terminal]
    first = at.loc[at["fraud_pattern"] == "compromised_terminal", "timestamp"].min()
    soon = at[(at["timestamp"] >= first) & (at["timestamp"] < first + pd.Timedelta(days=27))]
    assert (soon["is_fraud"] == 1).all()
    # A compromised card's frauds are its amounts times 5: far above its genuine ones.
    card = handbook[handbook["fraud_pattern"] == "compromised_card"]["customer_id"].iloc[0]
    rows = handbook[handbook["customer_id"] == card]
    genuine = rows.loc[rows["is_fraud"] == 0, "amount"].median()
    assert rows.loc[rows["fraud_pattern"] == "compromised_card", "amount"].median() > 2.5 * genuine
    # 2 terminals and 3 cards a day, as in the handbook, whatever the size: a small world has a
    # larger fraud share than the handbook's 0.8%.
    assert 0.01 < handbook["is_fraud"].mean() < 0.1
    lag = handbook["label_time"] - handbook["timestamp"]
    assert (lag == pd.Timedelta(days=7)).all()


def test_refit_keeps_thresholds_and_tree_count_but_learns_the_held_out_days(
    handbook_features: OfflineFeatures, tmp_path: Path
) -> None:
    """Refit exports a model of the early-stopped size fitted on the whole window; the
    thresholds still come from the held-out scores of the model fitted before it."""
    plain = train_model(handbook_features, *WINDOW, tmp_path / "a", TrainConfig(refit=False))
    refit = train_model(handbook_features, *WINDOW, tmp_path / "b", TrainConfig(refit=True))
    pm, rm = plain.bundle.manifest, refit.bundle.manifest
    assert pm["thresholds"] == rm["thresholds"]
    assert pm["metrics"] == rm["metrics"]
    trees = rm["metrics"]["best_iteration"] + 1
    assert refit.booster.num_boosted_rounds() == plain.booster.num_boosted_rounds() == trees
    assert f"with {trees} trees" in rm["training"]["refit"]
    assert plain.bundle.version != refit.bundle.version
    # The refitted model saw the held-out days: it fits them better than the model that did not.
    frame = handbook_features.frame
    held = frame[
        (frame["timestamp"].dt.date >= WINDOW[1]) & (frame["timestamp"].dt.date <= WINDOW[1])
    ]
    x = held[list(refit.bundle.features)].to_numpy(np.float32)
    import xgboost as xgb

    y = held["is_fraud"].to_numpy()
    loss = {}
    for name, model in (("plain", plain), ("refit", refit)):
        p = np.clip(model.booster.predict(xgb.DMatrix(x)), 1e-6, 1 - 1e-6)
        loss[name] = float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
    assert loss["refit"] < loss["plain"]


def test_selection_picks_the_best_candidate_and_records_it(
    handbook_features: OfflineFeatures, tmp_path: Path
) -> None:
    """Every candidate's fold scores are recorded; the chosen one has the best mean; its
    settings are the ones trained; every fold ends at or before the window's end."""
    config = TrainConfig(select=True, grid=TINY_GRID)
    bundle = train_model(handbook_features, *WINDOW, tmp_path / "s", config).bundle
    sel = bundle.manifest["selection"]
    assert len(sel["candidates"]) == 2 and len(sel["folds"]) == 4
    means = [c["average_precision"] for c in sel["candidates"]]
    assert means == [pytest.approx(float(np.mean(c["per_fold"]))) for c in sel["candidates"]]
    best = sel["candidates"][int(np.argmax(means))]
    assert sel["chosen"] == best["params"]
    assert bundle.manifest["xgboost_params"]["max_depth"] == best["params"]["max_depth"]
    for fold in sel["folds"]:
        fit_end, assess_start = (
            date.fromisoformat(d) for d in (fold["train_window"][1], fold["assessment_window"][0])
        )
        assert (assess_start - fit_end).days == 8  # 7 days of label delay in between
        assert date.fromisoformat(fold["assessment_window"][1]) <= WINDOW[1]


def test_nothing_after_the_training_window_changes_the_bundle(
    handbook: pd.DataFrame, handbook_features: OfflineFeatures, tmp_path: Path
) -> None:
    """Rewriting every row after the training window (labels, amounts) changes no manifest
    field, selection included, and not the model."""
    config = TrainConfig(select=True, grid=TINY_GRID)
    first = train_model(handbook_features, *WINDOW, tmp_path / "a", config).bundle
    later = handbook["timestamp"] >= pd.Timestamp(WINDOW[1] + timedelta(days=1), tz="UTC")
    changed = handbook.copy()
    changed.loc[later, "is_fraud"] = 1 - changed.loc[later, "is_fraud"]
    changed.loc[later, "amount"] = changed.loc[later, "amount"] * 3
    second = train_model(build_features(changed), *WINDOW, tmp_path / "b", config).bundle
    assert json.dumps(first.manifest, sort_keys=True) == json.dumps(second.manifest, sort_keys=True)
    assert first.model_bytes == second.model_bytes
    # ...while a change inside the window does change it.
    inside = handbook["timestamp"].dt.date == WINDOW[0]
    changed.loc[inside, "amount"] = changed.loc[inside, "amount"] * 3
    third = train_model(build_features(changed), *WINDOW, tmp_path / "c", config).bundle
    assert third.manifest["data_fingerprint"] != first.manifest["data_fingerprint"]


def test_selection_needs_history_before_the_window(
    handbook_features: OfflineFeatures, tmp_path: Path
) -> None:
    """With no fold that has data, selection refuses with a clear error."""
    early = (date(2018, 4, 2), date(2018, 4, 8))
    with pytest.raises(TrainingError, match="needs history before 2018-04-02"):
        train_model(
            handbook_features, *early, tmp_path / "x", TrainConfig(select=True, grid=TINY_GRID)
        )
