"""The declared failure policy against real faults: a Redis server stopped mid-run, a Redis
answer past the timeout, a SQLite file locked by another writer, a broken SQLite store."""

from __future__ import annotations

import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from fraudscore import (
    ConfigError,
    EventValidationError,
    FeatureStoreError,
    Scorer,
    Transaction,
)
from fraudscore._kinds import TRANSACTION
from fraudscore._serving.scorer import STORE_UNAVAILABLE
from fraudscore._state import ABSENT
from fraudscore._training.offline import OfflineFeatures
from fraudscore._training.pipeline import to_events

from .conftest import CUTOFF, REQUIRE_REDIS, built

TIMEOUT = 0.3


def live_events(offline: OfflineFeatures, n: int = 3) -> list[Transaction]:
    return to_events(offline.frame[offline.frame["timestamp"] >= CUTOFF].head(n), TRANSACTION)


class RedisServer:
    """A private redis-server on a free loopback port, which a test may stop and restart."""

    def __init__(self, root: Path) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.root = root
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.root),
            ],
            stdout=subprocess.DEVNULL,
        )
        import redis

        for _ in range(100):
            try:
                redis.Redis(port=self.port).ping()
                return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        message = "redis-server is not installed (apt-get install redis-server)"
        if REQUIRE_REDIS:
            pytest.fail(message)
        pytest.skip(message)
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


def open_both(bundle: Path, repo: Path) -> tuple[Scorer, Scorer]:
    """A fail-closed and a degrading scorer on ``repo``, each bounded by ``TIMEOUT``."""
    return (
        Scorer.open(bundle, repo, timeout=TIMEOUT, on_store_error="fail"),
        Scorer.open(bundle, repo, timeout=TIMEOUT, on_store_error="degrade"),
    )


def assert_fails_fast(fn: Callable[[], object]) -> None:
    start = time.monotonic()
    with pytest.raises(FeatureStoreError) as info:
        fn()
    assert time.monotonic() - start < TIMEOUT + 1.5
    assert info.value.__cause__ is not None  # mapped at the boundary, the original chained


def assert_degraded(scorer: Scorer, event: Transaction) -> None:
    start = time.monotonic()
    result = scorer.score(event)
    assert time.monotonic() - start < TIMEOUT + 1.5
    assert result.degraded and not result.has_full_history
    assert result.reasons[0].code == STORE_UNAVAILABLE
    # Every view of an entity the event carries: no history could be read.
    keys = TRANSACTION.keys(event)
    carried = {v.name for v, k in zip(TRANSACTION.views, keys) if ABSENT not in k}
    assert {"customer_state", "terminal_state"} <= carried
    assert set(result.missing_state) == carried
    assert 0.0 <= result.score <= 1.0
    [batch] = scorer.score_many([event])
    assert batch.degraded and batch.score == result.score
    for many in scorer.score_many([event] * 40):  # the array path degrades the same way
        assert many.degraded and many.reasons[0].code == STORE_UNAVAILABLE
        assert many.missing_state == result.missing_state
        assert many.score == pytest.approx(result.score, abs=1e-9)


@pytest.mark.redis
def test_redis_stopped_mid_run(
    redis_server: RedisServer, tmp_path: Path, bundle_dir: Path, offline: OfflineFeatures
) -> None:
    """With the server gone: fail closed raises FeatureStoreError within the timeout; degrade
    scores on no history and says so; recording raises under both. Both recover on restart."""
    repo = built(tmp_path, offline, CUTOFF, "redis", f"127.0.0.1:{redis_server.port}")
    fail, degrade = open_both(bundle_dir, repo)
    tx = live_events(offline)[0]
    healthy = fail.score(tx)
    assert not healthy.degraded and degrade.score(tx) == healthy
    redis_server.stop()
    assert_fails_fast(lambda: fail.score(tx))
    assert_fails_fast(lambda: fail.score_many([tx, tx]))
    assert_fails_fast(lambda: fail.score_many([tx] * 40))
    assert_degraded(degrade, tx)
    assert_fails_fast(lambda: fail.record(tx))
    assert_fails_fast(lambda: degrade.record(tx))
    redis_server.start()  # an empty server: the scorers reconnect, and see no history
    for scorer in (fail, degrade):
        back = scorer.score(tx)
        assert not back.degraded and "customer_state" in back.missing_state


@pytest.mark.redis
def test_redis_answer_past_the_timeout(
    redis_server: RedisServer, tmp_path: Path, bundle_dir: Path, offline: OfflineFeatures
) -> None:
    """A server that stops answering (CLIENT PAUSE) costs at most the timeout, then the policy
    applies; once it answers again, scoring is normal."""
    import redis

    repo = built(tmp_path, offline, CUTOFF, "redis", f"127.0.0.1:{redis_server.port}")
    fail, degrade = open_both(bundle_dir, repo)
    tx = live_events(offline)[0]
    healthy = fail.score(tx)
    redis.Redis(port=redis_server.port).execute_command("CLIENT", "PAUSE", 2500, "ALL")
    assert_fails_fast(lambda: fail.score(tx))
    assert_degraded(degrade, tx)
    time.sleep(2.6)
    assert fail.score(tx) == healthy
    assert degrade.score(tx) == healthy


HOLD_LOCK = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN EXCLUSIVE")
print("held", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("ROLLBACK")
"""


def test_sqlite_locked_by_another_writer(
    repo: Path, bundle_dir: Path, offline: OfflineFeatures
) -> None:
    """While another process holds an exclusive lock, record fails closed within the timeout and
    writes nothing; scoring goes on unaffected (WAL readers never wait for a writer)."""
    fail, degrade = open_both(bundle_dir, repo)
    tx = live_events(offline)[0]
    before = fail.score(tx)
    path = str(fail.source.path)  # type: ignore[attr-defined]
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, path, "4"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        for scorer in (fail, degrade):
            assert_fails_fast(lambda scorer=scorer: scorer.record(tx))
            assert scorer.score(tx) == before
    finally:
        holder.wait()
    fail.record(tx)  # the lock is gone: the write goes through
    assert fail.score(tx) != before


def test_sqlite_broken_store(repo: Path, bundle_dir: Path, offline: OfflineFeatures) -> None:
    """A store whose table vanished (say, a teardown by hand) fails closed, or degrades."""
    fail, degrade = open_both(bundle_dir, repo)
    tx = live_events(offline)[0]
    source = fail.source
    with sqlite3.connect(source.path) as conn:  # type: ignore[attr-defined]
        conn.execute(f'DROP TABLE "{source.tables[1]}"')  # type: ignore[attr-defined]
    assert_fails_fast(lambda: fail.score(tx))
    assert_degraded(degrade, tx)


def test_failure_policy_is_validated(bundle_dir: Path, repo: Path) -> None:
    """An unknown policy or a bad timeout is refused as an option error (not an event's),
    naming the option."""
    with pytest.raises(ConfigError, match="option 'on_store_error'"):
        Scorer.open(bundle_dir, repo, on_store_error="retry")
    with pytest.raises(ConfigError, match="option 'timeout'"):
        Scorer.open(bundle_dir, repo, timeout=0)
    with pytest.raises(ConfigError, match="option 'shadow_log_size'"):
        Scorer.open(bundle_dir, repo, shadow_log_size=-1)
    with pytest.raises(ConfigError) as nan:
        Scorer.open(bundle_dir, repo, timeout=float("nan"))
    assert not isinstance(nan.value, EventValidationError) and nan.value.option == "timeout"
