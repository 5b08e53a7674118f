"""Redis Sentinel: RedisSource finds the primary through the sentinels as Feast configures them,
follows a primary switch (a SIGKILLed primary, a demoted one), bounds its wait, and with
``wait_replicas`` acknowledges only writes a replica holds.

Each group is a real primary, replica and sentinel on free loopback ports (``SentinelGroup``),
with ``down-after-milliseconds`` 500 and ``failover-timeout`` 2000.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from benchmarks.sentinel_failover import SentinelGroup, _ask, free_port
from fraudscore import (
    ConfigError,
    FeastSource,
    FeatureStoreError,
    RedisSource,
    Scorer,
    Transaction,
    build_store,
    load_bundle,
    open_source,
)
from fraudscore._feast import open_store
from fraudscore._kinds import TRANSACTION
from fraudscore._online.layout import StoreLayout, from_descriptor
from fraudscore._online.redis import ELECTION_S, _Wire
from fraudscore._training.offline import OfflineFeatures
from fraudscore._training.pipeline import to_events

from .conftest import CUTOFF, REQUIRE_REDIS, copy_repo, private_copy, use_store
from .memory import MemorySource

pytestmark = pytest.mark.redis

VIEWS = TRANSACTION.views
MASTER = "fsmaster"  # not Feast's default ``mymaster``: proves sentinel_master is read
#: The stated bound on a stall: the default failover_timeout for down-after-milliseconds 500.
BOUND_S = 0.5 + ELECTION_S


def start_group(root: Path, **options: Any) -> SentinelGroup:
    if shutil.which("redis-server") is None:
        message = "redis-server is not installed; the sentinel tests need it"
        if REQUIRE_REDIS:
            pytest.fail(message)
        pytest.skip(message)
    return SentinelGroup(root, master=MASTER, **options).start()


@pytest.fixture
def group(tmp_path: Path) -> Iterator[SentinelGroup]:
    """A fresh primary + replica + sentinel for a test that may kill them."""
    g = start_group(tmp_path / "sentinel")
    yield g
    g.stop()


def sentinel_repo(root: Path, offline: OfflineFeatures, g: SentinelGroup) -> Path:
    """A Feast repo on ``g`` (as Feast configures sentinel), materialized by Feast as of CUTOFF."""
    repo = use_store(copy_repo(root / "feature_repo"), "redis_sentinel", g.connection_string)
    yaml = repo / "feature_store.yaml"
    text = yaml.read_text().replace(
        "redis_type: redis_sentinel", f"redis_type: redis_sentinel\n  sentinel_master: {MASTER}"
    )
    yaml.write_text(text)
    build_store(repo, offline, as_of=(CUTOFF - pd.Timedelta(microseconds=1)).to_pydatetime())
    return repo


@pytest.fixture(scope="module")
def world(
    tmp_path_factory: pytest.TempPathFactory, offline: OfflineFeatures
) -> Iterator[tuple[SentinelGroup, Path]]:
    """A healthy group and a repo materialized on it, for tests that kill nothing."""
    root = tmp_path_factory.mktemp("sentinel_world")
    g = start_group(root / "sentinel")
    try:
        yield g, sentinel_repo(root, offline, g)
    finally:
        g.stop()


def layout_on(repo: Path, connection_string: str, master: str = MASTER) -> StoreLayout:
    """The repo's layout, pointed at other sentinels (no Feast import, no materialize)."""
    layout = from_descriptor(repo)
    assert layout is not None
    online = dict(layout.online, connection_string=connection_string, sentinel_master=master)
    return dataclasses.replace(layout, online=online)


def stream(offline: OfflineFeatures, n: int) -> list[Any]:
    frame = offline.frame
    return to_events(frame[frame["timestamp"] >= CUTOFF].head(n), TRANSACTION)


def touched(events: list[Any]) -> list[list[tuple[str, ...]]]:
    return [list(dict.fromkeys(TRANSACTION.keys(e)[i] for e in events)) for i in range(len(VIEWS))]


def assert_states(a: list[np.ndarray], b: list[np.ndarray]) -> None:
    for view, x, y in zip(VIEWS, a, b, strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-12, atol=0, err_msg=view.name)


# -- configuration -----------------------------------------------------------------------------


def test_feast_materializes_and_fraudscore_reads_through_the_sentinel(
    world: tuple[SentinelGroup, Path], offline: OfflineFeatures
) -> None:
    """Feast's own materialize writes through the sentinel config; open_source (descriptor path)
    and RedisSource on Feast's store find the primary by sentinel_master and read exactly what
    get_online_features reads; the default failover_timeout is down-after + ELECTION_S."""
    g, repo = world
    events = stream(offline, 40)
    keys = touched(events)
    keys[0].append(("nobody",))
    fs = open_store(repo)
    ref = FeastSource(fs, VIEWS).read(keys)
    for source in (open_source(repo, VIEWS), RedisSource(fs, VIEWS)):
        assert isinstance(source, RedisSource)
        assert source.master == MASTER and source._server == ("127.0.0.1", g.primary())
        assert source.failover_timeout == BOUND_S
        got = source.read(keys)
        for x, y in zip(got, ref, strict=True):
            np.testing.assert_array_equal(x, y)
    assert not np.isnan(ref[0][:-1, 0]).any()  # materialized state, not all empty


def test_wrong_master_name_is_a_clear_error(world: tuple[SentinelGroup, Path]) -> None:
    """A sentinel_master the sentinels do not monitor fails at open, naming it and the sentinel."""
    g, repo = world
    start = time.monotonic()
    with pytest.raises(FeatureStoreError, match=r"'nosuch' \(sentinel_master\)") as info:
        RedisSource(layout_on(repo, g.connection_string, master="nosuch"), VIEWS)
    assert g.connection_string in str(info.value) and "knows no master" in str(info.value)
    assert time.monotonic() - start < 2


def test_unreachable_sentinels_are_a_clear_error(world: tuple[SentinelGroup, Path]) -> None:
    """With no sentinel listening, open fails at once, naming each sentinel it tried."""
    _, repo = world
    nobody = [f"127.0.0.1:{free_port()}" for _ in range(2)]
    start = time.monotonic()
    with pytest.raises(FeatureStoreError, match="no sentinel of the master 'fsmaster'") as info:
        RedisSource(layout_on(repo, ",".join(nobody)), VIEWS, timeout=0.5)
    assert all(a in str(info.value) for a in nobody)
    assert time.monotonic() - start < 3


# -- a primary switch --------------------------------------------------------------------------


def test_a_replica_is_never_taken_for_the_primary(
    world: tuple[SentinelGroup, Path], bundle_dir: Path
) -> None:
    """A connection that lands on a replica (a stale address: ROLE says slave) or is held to a
    server demoted under it (writes answer -READONLY, EXEC aborts) is dropped; the sentinel is
    asked again, and the write is applied exactly once, on the primary."""
    g, repo = world
    primary, replica = ("127.0.0.1", g.primary()), ("127.0.0.1", g.ports[1])
    source = open_source(repo, VIEWS)
    assert isinstance(source, RedisSource)
    memory = MemorySource(VIEWS)
    bundle = load_bundle(bundle_dir)
    ours, oracle = Scorer(bundle, source), Scorer(bundle, memory)
    at = CUTOFF.to_pydatetime()
    for i, how in enumerate(("stale address", "demoted under us")):
        source._drop_connections()
        source._server = replica
        if how == "demoted under us":  # a connection made before the demotion: no ROLE check
            source._local.conns = {replica: _Wire(replica, {}, 1.0)}
        tx = Transaction(f"s{i}", at + timedelta(minutes=i), f"sentinel-card-{i}", "sent-T", 7.0)
        if how == "stale address":  # a read would succeed on the replica: ROLE must catch it
            source.read_one(TRANSACTION.keys(tx))
            assert source._server == primary, how
        ours.record(tx)
        oracle.record(tx)
        assert source._server == primary, how
        keys = touched([tx])
        assert_states(source.read(keys), memory.read(keys))


def test_scoring_resumes_after_the_primary_is_killed(
    group: SentinelGroup, tmp_path: Path, offline: OfflineFeatures, bundle_dir: Path, scorer: Scorer
) -> None:
    """Score and record a stream; SIGKILL the primary: the next call waits out the failover,
    within the stated bound, and scoring and recording go on on the promoted replica, serving
    the same results as SQLite; the state equals what the new primary holds and the fold of
    every event recorded."""
    repo = sentinel_repo(tmp_path / "on_sentinel", offline, group)
    ours = Scorer.open(bundle_dir, repo)
    events = stream(offline, 120)
    old = group.primary()
    for e in events[:60]:
        assert ours.score(e) == scorer.score(e)
        ours.record(e)
        scorer.record(e)
    killed = time.monotonic()
    group.kill_primary()
    first = ours.score(events[60])
    stall = time.monotonic() - killed
    assert stall < BOUND_S, stall
    assert first == scorer.score(events[60])
    for e in events[60:]:
        assert ours.score(e) == scorer.score(e)
        ours.record(e)
        scorer.record(e)
    assert isinstance(ours.source, RedisSource)
    assert ours.source._server[1] == group.primary() != old
    keys = touched(events)
    served = ours.source.read(keys)
    for x, y in zip(served, FeastSource(open_store(repo), VIEWS).read(keys), strict=True):
        np.testing.assert_array_equal(x, y)
    assert_states(served, scorer.source.read(keys))
    print(f"stall after SIGKILL of the primary: {stall:.2f} s")


@pytest.mark.parametrize("wait", [0, 1], ids=["no_wait", "wait_1"])
def test_what_a_failover_loses(
    group: SentinelGroup,
    tmp_path: Path,
    offline: OfflineFeatures,
    bundle_dir: Path,
    built_repo: Path,
    wait: int,
) -> None:
    """Writes acknowledged while the replica is cut off are lost when the primary dies next,
    unless wait_replicas=1: then such a write is refused (never acknowledged), everything
    acknowledged survives, and with no replica left after the failover, writes are refused."""
    repo = sentinel_repo(tmp_path / "on_sentinel", offline, group)
    ours = Scorer.open(bundle_dir, repo, store_options={"wait_replicas": wait})  # the public way
    sqlite = Scorer.open(bundle_dir, private_copy(built_repo, tmp_path / "oracle"))
    events = stream(offline, 60)
    for e in events[:50]:
        ours.record(e)
        sqlite.record(e)
    # The replica falls behind (frozen, its link dropped): writes go on meanwhile.
    replica = group.ports[1]
    group.pause(replica)
    _ask(group.primary(), "CLIENT", "KILL", "TYPE", "replica")
    acked, refused = [], []
    for e in events[50:53]:
        try:
            ours.record(e)
            acked.append(e)
        except FeatureStoreError as exc:
            assert "wait_replicas" in str(exc)
            refused.append(e)
    group.kill_primary()
    group.resume(replica)
    keys = touched(events)
    served = ours.source.read(keys)  # waits out the failover
    for x, y in zip(served, FeastSource(open_store(repo), VIEWS).read(keys), strict=True):
        np.testing.assert_array_equal(x, y)
    before = sqlite.source.read(keys)
    if wait:
        assert refused and not acked  # a write no replica holds is not acknowledged
        assert_states(served, before)  # everything acknowledged survived
        with pytest.raises(FeatureStoreError, match="0 of wait_replicas=1"):
            ours.record(events[53])  # no replica left: nothing can be protected
    else:
        assert len(acked) == 3 and not refused
        for e in acked:
            sqlite.record(e)
        after = sqlite.source.read(keys)
        assert_states(served, before)  # the acknowledged writes are lost ...
        assert any(not np.allclose(x, y, equal_nan=True) for x, y in zip(before, after))


def test_a_call_gives_up_after_failover_timeout(
    group: SentinelGroup, world: tuple[SentinelGroup, Path]
) -> None:
    """With no replica to promote, a call retries for failover_timeout seconds, then fails with
    FeatureStoreError naming the master, the sentinel and the last error."""
    _, repo = world
    source = RedisSource(layout_on(repo, group.connection_string), VIEWS, failover_timeout=1.0)
    for port in list(group.procs):
        if port != group.sentinel_port:
            group.procs.pop(port).kill()
    tx = Transaction("t", CUTOFF.to_pydatetime(), "c", "t", 1.0)
    start = time.monotonic()
    with pytest.raises(FeatureStoreError, match="within failover_timeout=1 s") as info:
        source.read_one(TRANSACTION.keys(tx))
    took = time.monotonic() - start
    assert 1.0 <= took < 2.5, took
    assert MASTER in str(info.value) and group.connection_string in str(info.value)


def test_wait_options_are_checked() -> None:
    """Bad wait_replicas and wait_timeout are ConfigErrors naming them; good ones give WAIT."""
    from fraudscore import ConfigError
    from fraudscore._online.redis import _wait_command

    with pytest.raises(ConfigError, match="wait_replicas"):
        _wait_command(-1, 0.5, 1.0)
    with pytest.raises(ConfigError, match="wait_timeout"):
        _wait_command(1, 1.0, 1.0)  # WAIT must give up before the socket does
    assert _wait_command(2, 0.25, 1.0) == (2, b"*3\r\n$4\r\nWAIT\r\n$1\r\n2\r\n$3\r\n250\r\n")
    assert _wait_command(0, 5.0, 1.0) == (0, None)


def test_failover_timeout_is_checked(world: tuple[SentinelGroup, Path]) -> None:
    """A negative or non-numeric failover_timeout is a ConfigError naming it."""
    from fraudscore import ConfigError

    g, repo = world
    for bad in (-1, "5", True):
        with pytest.raises(ConfigError, match="failover_timeout"):
            RedisSource(layout_on(repo, g.connection_string), VIEWS, failover_timeout=bad)


def test_store_options_reach_the_redis_source_and_are_checked(
    world: tuple[SentinelGroup, Path], bundle_dir: Path, repo: Path
) -> None:
    """``Scorer.open(..., store_options=...)`` sets the Redis source's options; an unknown one,
    or any on SQLite, is a ConfigError naming ``store_options``."""
    _, on_sentinel = world
    scorer = Scorer.open(bundle_dir, on_sentinel, store_options={"wait_replicas": 1})
    assert scorer.source.wait_replicas == 1
    with pytest.raises(ConfigError, match="'store_options'") as info:
        Scorer.open(bundle_dir, on_sentinel, store_options={"wait_for": 1})
    assert info.value.value == ["wait_for"]
    with pytest.raises(ConfigError, match="'store_options'"):
        Scorer.open(bundle_dir, repo, store_options={"wait_replicas": 1})  # SQLite
