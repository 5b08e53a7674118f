"""Transaction scoring benchmarks. The ratio check compares groups measured in this same run."""

from __future__ import annotations

from typing import Any

import pytest

from fraudscore import Scorer

from .conftest import UserPath, cycle


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
    """The path a user would write: get_online_features + onnxmltools model + pred_contribs."""
    nxt = cycle(world["live"])
    score, _ = benchmark(lambda: user_path.score(nxt()))
    assert 0.0 <= score <= 1.0
    # Correctness beside the timing: both paths give the same score for the same event.
    tx = world["live"][0]
    assert user_path.score(tx)[0] == pytest.approx(scorer.score(tx).score, abs=1e-5)


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
