"""The partitioned fold (in process and on Dask) equals the in-memory fold, row for row."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fraudscore import (
    BadRowsError,
    EventValidationError,
    FoldedHistory,
    OfflineFeatures,
    build_features,
    fold_partitioned,
)
from fraudscore._kinds import KINDS
from fraudscore._training.partitioned import view_groups


def write_parts(frame: pd.DataFrame, out: Path, parts: int, row_group: int) -> Path:
    """The history as shuffled parquet parts with small row groups (not in time order)."""
    out.mkdir(parents=True)
    shuffled = frame.sample(frac=1.0, random_state=3).reset_index(drop=True)
    for i, part in enumerate(np.array_split(np.arange(len(shuffled)), parts)):
        shuffled.iloc[part].to_parquet(out / f"part-{i}.parquet", row_group_size=row_group)
    return out


def assert_same(got: OfflineFeatures, want: OfflineFeatures) -> None:
    """Every feature of every event and every state row of every view, keys and times included."""
    kind = KINDS[want.kind]
    assert got.kind == want.kind
    assert list(got.frame.columns) == list(want.frame.columns)
    assert len(got.frame) == len(want.frame)
    pd.testing.assert_frame_equal(got.frame, want.frame, check_exact=False, rtol=1e-12)
    assert set(got.history) == set(want.history)
    for view in kind.views:
        order = [*view.keys, "created"]
        a = got.history[view.name].sort_values(order).reset_index(drop=True)
        b = want.history[view.name].sort_values(order).reset_index(drop=True)
        pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-12, obj=view.name)


@pytest.mark.parametrize("kind", ["transaction", "login"])
def test_partitioned_fold_equals_in_memory_fold(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Many chunks and partitions (a few hundred rows each) give exactly the in-memory fold."""
    sim = request.getfixturevalue("sim" if kind == "transaction" else "login_sim")
    want = request.getfixturevalue("offline" if kind == "transaction" else "login_offline")
    src = write_parts(sim, tmp_path / "src", parts=3, row_group=500)
    folded = fold_partitioned(src, tmp_path / "out", kind, partition_rows=len(sim) // 7)
    assert folded.partitions >= 7
    assert folded.rows == len(sim)
    assert_same(folded.load(), want)
    # The passes clean up after themselves: only the results stay.
    assert sorted(p.name for p in folded.out.iterdir()) == [
        "features",
        "fold.json",
        "history",
    ]


def test_groups_keep_derived_columns_beside_their_users() -> None:
    """Login's new-user-for-this-IP column, and a transaction's new-card-on-this-device column,
    are derived and used in one group (keyed by ip; by device)."""
    groups = dict(view_groups(KINDS["login"]))
    assert [v.name for v in groups["ip"]] == ["ip_user_state", "ip_state"]
    assert [v.name for v in groups["scope"]] == ["login_totals_state"]
    tx = dict(view_groups(KINDS["transaction"]))
    assert set(tx) == {"customer_id", "terminal_id", "device_id"}
    assert [v.name for v in tx["device_id"]] == ["device_card_state", "device_state"]


def test_a_single_partition_equals_too(
    sim: pd.DataFrame, offline: OfflineFeatures, tmp_path: Path
) -> None:
    path = tmp_path / "sim.parquet"
    sim.to_parquet(path)
    folded = fold_partitioned(path, tmp_path / "out")
    assert folded.partitions == 1
    assert_same(folded.load(), offline)


def test_bad_rows_fail_or_drop_like_the_in_memory_fold(sim: pd.DataFrame, tmp_path: Path) -> None:
    bad = sim.copy()
    bad.loc[bad.index[::50], "amount"] = -1.0
    src = write_parts(bad, tmp_path / "src", parts=2, row_group=1000)
    with pytest.raises(BadRowsError, match="amount"):
        fold_partitioned(src, tmp_path / "out", partition_rows=len(bad) // 3)
    folded = fold_partitioned(src, tmp_path / "out", partition_rows=len(bad) // 3, bad_rows="drop")
    want = build_features(bad, bad_rows="drop")
    assert folded.dropped_rows == want.dropped_rows
    assert sum(folded.dropped_rows.values()) == len(bad.index[::50])
    assert_same(folded.load(), want)


def test_missing_source_and_bad_options_are_refused(tmp_path: Path) -> None:
    with pytest.raises(EventValidationError, match="data"):
        fold_partitioned(tmp_path / "nowhere", tmp_path / "out")
    (tmp_path / "empty").mkdir()
    with pytest.raises(EventValidationError, match="parquet files"):
        fold_partitioned(tmp_path / "empty", tmp_path / "out")
    with pytest.raises(EventValidationError, match="partition_rows"):
        fold_partitioned(tmp_path / "empty", tmp_path / "out", partition_rows=0)


@pytest.mark.parametrize("kind", ["transaction", "login"])
def test_dask_fold_on_a_two_worker_local_cluster_equals_in_memory(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    distributed = pytest.importorskip("distributed")
    sim = request.getfixturevalue("sim" if kind == "transaction" else "login_sim")
    want = request.getfixturevalue("offline" if kind == "transaction" else "login_offline")
    src = write_parts(sim, tmp_path / "src", parts=4, row_group=700)
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        folded = fold_partitioned(
            src, tmp_path / "out", kind, partition_rows=len(sim) // 5, dask=client
        )
        # Both workers did part of the work.
        assert len(client.scheduler_info()["workers"]) == 2
    assert isinstance(folded, FoldedHistory)
    assert_same(folded.load(), want)


def test_dask_local_address_starts_and_stops_its_own_cluster(
    sim: pd.DataFrame, offline: OfflineFeatures, tmp_path: Path
) -> None:
    pytest.importorskip("distributed")
    src = write_parts(sim, tmp_path / "src", parts=2, row_group=1000)
    folded = fold_partitioned(src, tmp_path / "out", partition_rows=len(sim) // 2, dask="local:2")
    assert_same(folded.load(), offline)
    with pytest.raises(EventValidationError, match="local:N"):
        fold_partitioned(src, tmp_path / "out", dask="local:zero")
    assert os.path.isdir(tmp_path / "out")


def test_same_instant_events_keep_the_in_memory_order(sim: pd.DataFrame, tmp_path: Path) -> None:
    """Times cut to the hour: thousands of same-instant events, ordered by id in every partition
    exactly as the in-memory fold orders them."""
    coarse = sim.assign(timestamp=sim["timestamp"].dt.floor("h"))
    src = write_parts(coarse, tmp_path / "src", parts=3, row_group=400)
    folded = fold_partitioned(src, tmp_path / "out", partition_rows=len(coarse) // 6)
    assert coarse["timestamp"].duplicated().sum() > len(coarse) // 2
    assert_same(folded.load(), build_features(coarse))


def test_build_store_from_a_partitioned_fold_fills_the_same_online_store(
    sim: pd.DataFrame, offline: OfflineFeatures, tmp_path: Path
) -> None:
    """`build_store` takes the history parts as they are: Feast reads each view's directory."""
    from fraudscore import build_store

    from .conftest import copy_repo
    from .test_cli import _online_rows

    src = write_parts(sim, tmp_path / "src", parts=2, row_group=1000)
    folded = fold_partitioned(src, tmp_path / "out", partition_rows=len(sim) // 4)
    as_of = sim["timestamp"].quantile(0.8).to_pydatetime()
    build_store(copy_repo(tmp_path / "a"), folded, as_of)
    build_store(copy_repo(tmp_path / "b"), offline, as_of)
    assert (tmp_path / "a" / "data" / "customer_state.parquet").is_dir()
    a, b = _online_rows(str(tmp_path / "a")), _online_rows(str(tmp_path / "b"))
    assert sum(len(rows) for rows in b.values()) > 1000
    assert a == b
