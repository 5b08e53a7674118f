"""Proof under load: processes score and record a mixed stream with hot keys into one store; the
online state then equals the offline fold of the same events (benchmarks/load.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from benchmarks.load import (
    World,
    compare_with_offline,
    login_stream,
    run_load,
    table,
    transaction_stream,
)
from fraudscore._kinds import LOGIN, TRANSACTION
from fraudscore._training.offline import OfflineFeatures

from .conftest import CUTOFF, LOGIN_CUTOFF, store_params


@pytest.mark.slow
@pytest.mark.parametrize("store", store_params())
def test_load_keeps_online_state_equal_to_the_offline_fold(
    fresh_on: Callable[[str, str], Path],
    bundle_dir: Path,
    login_bundle_dir: Path,
    offline: OfflineFeatures,
    login_offline: OfflineFeatures,
    store: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Three processes score and record transactions and logins, with a hot card and a hot IP,
    into one store: every touched state equals the offline fold to 1e-9 (nothing lost or
    doubled), and each process reports its events/s and p99."""
    worlds = [
        World(
            TRANSACTION,
            bundle_dir,
            fresh_on("transaction", store),
            offline.frame,
            CUTOFF,
            transaction_stream(offline.frame, CUTOFF, 300, 120),
        ),
        World(
            LOGIN,
            login_bundle_dir,
            fresh_on("login", store),
            login_offline.frame,
            LOGIN_CUTOFF,
            login_stream(login_offline.frame, LOGIN_CUTOFF, 300, 120),
        ),
    ]
    stats = run_load(worlds, procs=3)
    assert sum(s["events"] for s in stats) == sum(len(w.stream) for w in worlds)
    assert all(s["events_per_s"] > 0 and s["p99_us"] >= s["p50_us"] for s in stats)
    with capsys.disabled():
        print("\n" + table(store, stats))
    for w in worlds:
        assert compare_with_offline(w) > 300
