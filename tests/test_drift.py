"""Drift without labels: PSI against the training reference, offline and live."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fraudscore import (
    ConfigError,
    OfflineFeatures,
    Scorer,
    TransactionSimConfig,
    build_features,
    monitor,
    simulate_transactions,
    train_model,
)
from fraudscore._training.pipeline import replay

from .conftest import CUTOFF

#: Training two months in, once the 30-day decayed accumulators are near their steady state
#: (they still grow before that: real drift, which the monitor reports), then one live week.
TRAIN = (date(2018, 6, 1), date(2018, 6, 21))
LIVE = (date(2018, 6, 29), date(2018, 7, 5))
AMOUNT_FEATURES = {
    "amount",
    "amt_ratio_1d",
    "amt_ratio_7d",
    "amt_ratio_30d",
    "amt_z_7d",
    "amt_z_30d",
}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, Path]:
    data = simulate_transactions(
        TransactionSimConfig(n_customers=1_000, n_terminals=2_000, n_days=100, seed=21)
    )
    out = tmp_path_factory.mktemp("drift") / "bundle"
    train_model(build_features(data), *TRAIN, out)
    return data, out


def live_mask(data: pd.DataFrame) -> pd.Series:
    return data["timestamp"] >= pd.Timestamp(LIVE[0], tz="UTC")


def test_stable_traffic_flags_nothing(world: tuple[pd.DataFrame, Path]) -> None:
    """The same simulator a week later: no feature over 0.1, the score steady, alert rates near
    the ones the thresholds were chosen for."""
    data, bundle = world
    report = monitor(bundle, build_features(data), *LIVE)
    assert report.events > 5_000
    assert report.flagged == {}, report.features
    assert report.score < 0.1
    assert report.alert_rates["review"] == pytest.approx(
        report.expected_alert_rates["review"], abs=0.02
    )


def test_shifted_amounts_flag_the_amount_features(world: tuple[pd.DataFrame, Path]) -> None:
    """Amounts three times higher in the live week: the amount features are flagged major, and
    features that do not read amounts are not flagged."""
    data, bundle = world
    shifted = data.copy()
    shifted.loc[live_mask(data), "amount"] *= 3
    report = monitor(bundle, build_features(shifted), *LIVE)
    flagged = report.flagged
    assert flagged.get("amount") == "major" and flagged.get("amt_ratio_30d") == "major"
    assert set(flagged) <= AMOUNT_FEATURES | {"spend_spike_1d_30d"}, flagged
    for name in ("hour_of_day", "is_weekend", "cust_n_1d", "term_n_7d", "ct_n_30d"):
        assert report.features[name] < 0.1, name


def test_a_new_night_time_pattern_flags_the_time_feature(world: tuple[pd.DataFrame, Path]) -> None:
    """A third of the live week moved to 02:00-04:00 UTC (a new night-time pattern): the hour is
    flagged major, the amounts are not."""
    data, bundle = world
    night = data.copy()
    rows = night.index[live_mask(data)][::3]
    day = night.loc[rows, "timestamp"].dt.floor("D")
    offset = pd.to_timedelta(2 * 3600 + (np.arange(len(rows)) % 7200), unit="s")
    night.loc[rows, "timestamp"] = day + offset
    night.loc[rows, "label_time"] = night.loc[rows, "timestamp"] + pd.Timedelta(days=7)
    report = monitor(bundle, build_features(night), *LIVE)
    assert report.flagged.get("hour_of_day") == "major"
    assert "amount" not in report.flagged and "amt_ratio_30d" not in report.flagged


def test_live_tracking_equals_the_offline_report(
    bundle_dir: Path, repo: Path, offline: OfflineFeatures
) -> None:
    """A scorer that tracks drift while a day is replayed live reports the same PSI as the
    offline monitor of that day; a scorer that does not track says so."""
    scorer = Scorer.open(bundle_dir, repo, track_drift=True)
    start = CUTOFF.to_pydatetime()
    end = datetime(2018, 5, 9, tzinfo=start.tzinfo)
    replay(scorer, offline.frame, start, end)
    live = scorer.drift_report()
    offline_report = monitor(bundle_dir, offline, date(2018, 5, 8), date(2018, 5, 8))
    assert live.events == offline_report.events > 10
    for name, value in offline_report.features.items():
        assert live.features[name] == pytest.approx(value, abs=1e-9), name
    assert live.score == pytest.approx(offline_report.score, abs=1e-9)
    with pytest.raises(ConfigError, match="option 'track_drift'"):
        Scorer.open(bundle_dir, repo).drift_report()
