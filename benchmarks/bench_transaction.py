"""Transaction scoring benchmarks: fraudscore and its peers on one SQLite store, in one run.

Each peer's benchmark also measures its ratio to ``score`` call by call in alternation
(``interleaved``); ``check_ratios.py`` gates on those ratios.
"""

from __future__ import annotations

from typing import Any

import pytest

from fraudscore import Scorer

from .conftest import LeanPath, UserPath, bench_peer, bench_read, cycle, interleaved

OURS = "test_score_fraudscore"


@pytest.mark.benchmark(group="score-transaction")
def test_score_fraudscore(benchmark: Any, scorer: Scorer, world: dict[str, Any]) -> None:
    """score(): fast SQLite read, one ONNX pass, reasons."""
    nxt = cycle(world["live"])
    result = benchmark(lambda: scorer.score(nxt()))
    assert 0.0 <= result.score <= 1.0


@pytest.mark.benchmark(group="score-transaction")
def test_score_user_path(
    benchmark: Any, user_path: UserPath, world: dict[str, Any], scorer: Scorer
) -> None:
    """The common user path: get_online_features + onnxmltools model + exact pred_contribs."""
    bench_peer(benchmark, user_path, world["live"], scorer, OURS)


@pytest.mark.benchmark(group="score-transaction")
def test_score_lean_path(
    benchmark: Any, lean_path: LeanPath, world: dict[str, Any], scorer: Scorer
) -> None:
    """The strongest peer: the same Feast read and features, Saabas contributions from xgboost,
    the score from their sum."""
    bench_peer(benchmark, lean_path, world["live"], scorer, OURS)


@pytest.mark.benchmark(group="score-transaction")
def test_read_get_online_features(
    benchmark: Any, lean_path: LeanPath, world: dict[str, Any], scorer: Scorer
) -> None:
    """get_online_features(...).to_dict() alone on the model's feature service."""
    bench_read(benchmark, lean_path, world["live"], scorer, OURS)


@pytest.mark.parametrize("batch", [1, 100, 10_000])
@pytest.mark.benchmark(group="score-many")
def test_score_many(benchmark: Any, scorer: Scorer, world: dict[str, Any], batch: int) -> None:
    """score_many() throughput for batches of 1, 100 and 10,000 distinct events."""
    live = world["live"]
    batches = [live[i : i + batch] for i in range(0, len(live) - batch + 1, batch)][:20]
    nxt = cycle(batches)
    rounds = 5 if batch >= 10_000 else None
    if rounds:
        results = benchmark.pedantic(lambda: scorer.score_many(nxt()), rounds=rounds, iterations=1)
    else:
        results = benchmark(lambda: scorer.score_many(nxt()))
    benchmark.extra_info["batch"] = batch
    assert len(results) == batch


@pytest.mark.benchmark(group="record")
def test_record(benchmark: Any, writable_scorer: Scorer, world: dict[str, Any]) -> None:
    """record(): read state, apply update, write all views in one SQLite transaction."""
    nxt = cycle(world["live"])
    benchmark(lambda: writable_scorer.record(nxt()))
    s = writable_scorer
    interleaved(benchmark, OURS, s.score, s.record, world["live"][5000:])
