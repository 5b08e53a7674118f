"""Redis benchmarks: the same transaction world with its state on a live Redis server (loopback).

``score`` and ``record`` on Redis, beside the user's path on the same Redis
(``get_online_features`` + onnxmltools + pred_contribs) and ``get_online_features`` alone. The
ratio check compares them with each other and with the SQLite ``score`` of this same run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fraudscore import Scorer

from .conftest import UserPath, cycle, on_redis


@pytest.mark.benchmark(group="score-transaction-redis")
def test_score_redis(benchmark: Any, redis_scorer: Scorer, redis_world: dict[str, Any]) -> None:
    """score() on Redis: one pipelined round trip for all views, one ONNX pass, reasons."""
    nxt = cycle(redis_world["live"])
    result = benchmark(lambda: redis_scorer.score(nxt()))
    assert 0.0 <= result.score <= 1.0


@pytest.mark.benchmark(group="score-transaction-redis")
def test_score_redis_user_path(
    benchmark: Any, redis_user_path: UserPath, redis_world: dict[str, Any], redis_scorer: Scorer
) -> None:
    """The user's path on the same Redis: get_online_features + onnxmltools + pred_contribs."""
    nxt = cycle(redis_world["live"])
    score, _ = benchmark(lambda: redis_user_path.score(nxt()))
    assert 0.0 <= score <= 1.0
    tx = redis_world["live"][0]
    assert redis_user_path.score(tx)[0] == pytest.approx(redis_scorer.score(tx).score, abs=1e-5)


@pytest.mark.benchmark(group="score-transaction-redis")
def test_read_redis_get_online_features(
    benchmark: Any, redis_user_path: UserPath, redis_world: dict[str, Any]
) -> None:
    """get_online_features(...).to_dict() alone on Redis: the read and nothing else."""
    kind = redis_user_path.kind

    def read(event: Any) -> dict[str, Any]:
        row: dict[str, str] = {}
        for view, key in zip(kind.views, kind.keys(event)):
            row.update(zip(view.keys, key))
        return redis_user_path.store.get_online_features(
            features=redis_user_path.service, entity_rows=[row], full_feature_names=True
        ).to_dict()

    nxt = cycle(redis_world["live"])
    got = benchmark(lambda: read(nxt()))
    assert len(got) > len(kind.views)


@pytest.fixture
def writable_redis_scorer(tmp_path: Path, world: dict[str, Any]) -> Scorer:
    w = on_redis(tmp_path, world)
    return Scorer.open(w["bundle"], w["repo"])


@pytest.mark.benchmark(group="record-redis")
def test_record_redis(benchmark: Any, writable_redis_scorer: Scorer, world: dict[str, Any]) -> None:
    """record() on Redis: WATCH + read, update, MULTI/HSET/EXEC (two round trips)."""
    nxt = cycle(world["live"])
    benchmark(lambda: writable_redis_scorer.record(nxt()))
