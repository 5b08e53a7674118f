"""Redis benchmarks: the same transaction world with its state on a live Redis server (loopback).

``score`` and ``record`` on Redis, beside the peers on the same Redis and ``get_online_features``
alone. Ratios are measured call by call in alternation (``interleaved``): the peers against Redis
``score``, Redis ``score`` against SQLite ``score``, Redis ``record`` against Redis ``score``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fraudscore import Scorer

from .conftest import LeanPath, UserPath, bench_peer, bench_read, cycle, interleaved, on_redis

OURS = "test_score_redis"


@pytest.mark.benchmark(group="score-transaction-redis")
def test_score_redis(
    benchmark: Any, redis_scorer: Scorer, redis_world: dict[str, Any], scorer: Scorer
) -> None:
    """score() on Redis: one pipelined round trip for all views, one ONNX pass, reasons."""
    nxt = cycle(redis_world["live"])
    result = benchmark(lambda: redis_scorer.score(nxt()))
    assert 0.0 <= result.score <= 1.0
    live = redis_world["live"][1000:]
    interleaved(benchmark, "test_score_fraudscore", scorer.score, redis_scorer.score, live)
    for event in live[:20]:  # the same state on both stores: the same result
        assert redis_scorer.score(event) == scorer.score(event)


@pytest.mark.benchmark(group="score-transaction-redis")
def test_score_redis_user_path(
    benchmark: Any, redis_user_path: UserPath, redis_world: dict[str, Any], redis_scorer: Scorer
) -> None:
    """The common user path on the same Redis: get_online_features + onnxmltools +
    pred_contribs."""
    bench_peer(benchmark, redis_user_path, redis_world["live"], redis_scorer, OURS)


@pytest.mark.benchmark(group="score-transaction-redis")
def test_score_redis_lean_path(
    benchmark: Any, redis_lean_path: LeanPath, redis_world: dict[str, Any], redis_scorer: Scorer
) -> None:
    """The strongest peer on the same Redis: read, features, Saabas contributions, sigmoid."""
    bench_peer(benchmark, redis_lean_path, redis_world["live"], redis_scorer, OURS)


@pytest.mark.benchmark(group="score-transaction-redis")
def test_read_redis_get_online_features(
    benchmark: Any, redis_lean_path: LeanPath, redis_world: dict[str, Any], redis_scorer: Scorer
) -> None:
    """get_online_features(...).to_dict() alone on Redis: the read and nothing else."""
    bench_read(benchmark, redis_lean_path, redis_world["live"], redis_scorer, OURS)


@pytest.fixture
def writable_redis_scorer(tmp_path: Path, world: dict[str, Any]) -> Scorer:
    w = on_redis(tmp_path, world)
    return Scorer.open(w["bundle"], w["repo"])


@pytest.mark.benchmark(group="record-redis")
def test_record_redis(benchmark: Any, writable_redis_scorer: Scorer, world: dict[str, Any]) -> None:
    """record() on Redis: WATCH + read, update, MULTI/HSET/EXEC (two round trips)."""
    nxt = cycle(world["live"])
    benchmark(lambda: writable_redis_scorer.record(nxt()))
    s = writable_redis_scorer
    interleaved(benchmark, OURS, s.score, s.record, world["live"][5000:])
