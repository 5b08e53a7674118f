"""Transaction scoring benchmarks: fraudscore and its peers on one SQLite store, in one run.

Each peer's benchmark also measures its ratio to ``score`` call by call in alternation
(``interleaved``); ``check_ratios.py`` gates on those ratios.
"""

from __future__ import annotations

import statistics
import time
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
def test_score_with_challenger(benchmark: Any, scorer: Scorer, world: dict[str, Any]) -> None:
    """score() with a challenger in shadow (a second ONNX pass and the log), against score()
    alone in alternating blocks on the same events."""
    shadowed = Scorer.open(world["bundle"], world["repo"])
    shadowed.set_challenger(world["bundle"])
    nxt = cycle(world["live"])
    result = benchmark(lambda: shadowed.score(nxt()))
    assert result.shadow is not None and result.shadow.score == pytest.approx(result.score)
    interleaved(benchmark, OURS, scorer.score, shadowed.score, world["live"])


@pytest.mark.benchmark(group="score-transaction")
def test_score_tracking_drift(benchmark: Any, scorer: Scorer, world: dict[str, Any]) -> None:
    """score() with live drift tracking on (a list append per call, binned every 1,024), against
    score() with it off, in alternating blocks on the same events."""
    tracking = Scorer.open(world["bundle"], world["repo"], track_drift=True)
    nxt = cycle(world["live"])
    result = benchmark(lambda: tracking.score(nxt()))
    assert 0.0 <= result.score <= 1.0
    interleaved(benchmark, OURS, scorer.score, tracking.score, world["live"])
    assert tracking.drift_report().events > 0


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
    if batch == 10_000:
        benchmark.extra_info["vs"] = {"single_score_p50": batch_vs_single(scorer, batches[:3])}


def batch_vs_single(scorer: Scorer, batches: list[list[Any]]) -> float:
    """Single ``score`` p50 over ``score_many`` time per event, measured in alternating blocks
    on the same events (one batch, then 1,000 single scores of its events)."""
    per_event, single = [], []
    for events in batches:
        t0 = time.perf_counter()
        scorer.score_many(events)
        per_event.append((time.perf_counter() - t0) / len(events))
        for event in events[:1000]:
            t0 = time.perf_counter()
            scorer.score(event)
            single.append(time.perf_counter() - t0)
    return statistics.median(single) / statistics.median(per_event)


@pytest.mark.benchmark(group="record")
def test_record(benchmark: Any, writable_scorer: Scorer, world: dict[str, Any]) -> None:
    """record(): read state, apply update, write all views in one SQLite transaction."""
    nxt = cycle(world["live"])
    benchmark(lambda: writable_scorer.record(nxt()))
    s = writable_scorer
    interleaved(benchmark, OURS, s.score, s.record, world["live"][5000:])
