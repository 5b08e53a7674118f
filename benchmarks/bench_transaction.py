"""Transaction scoring benchmarks: fraudscore and its peers on one SQLite store, in one run.

Each peer's benchmark also measures its ratio to ``score`` call by call in alternation
(``interleaved``); ``check_ratios.py`` gates on those ratios.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
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


#: Twenty rules of the kinds a fraud team writes: lists, velocity caps, amounts, the score.
RULES_20 = [
    ("deny_card", "decline", "lists.deny_cards"),
    ("deny_terminal", "decline", "lists.deny_terminals"),
    ("blocked_ip", "decline", "lists.blocked_ips"),
    ("velocity_hour", "decline", "cust_n_1h >= 8.0"),
    ("card_testing", "decline", "cust_n_1h >= 5.0 && amount < 5.0"),
    ("velocity_day", "review", "cust_n_1d >= 20.0"),
    ("huge_amount", "review", "amount > 5000.0"),
    ("large_and_risky", "review", "amount > 1000.0 && score > 0.2"),
    ("online_risky", "review", "channel == 'online' && score >= 0.5"),
    ("atm_large", "review", "channel == 'atm' && amount > 500.0"),
    ("amount_ratio", "review", "amt_ratio_30d > 10.0"),
    ("terminal_fraud", "review", "term_fraud_7d > 2.0"),
    ("terminal_rate", "review", "term_fraud_rate_30d > 0.5 && amount > 100.0"),
    ("card_fraud", "decline", "cust_fraud_30d > 0.5"),
    ("spend_spike", "review", "spend_spike_1d_30d > 20.0"),
    ("night_large", "review", "hour_of_day < 5.0 && amount > 300.0"),
    ("new_terminal_large", "review", "ct_n_30d < 0.5 && amount > 800.0"),
    ("amount_outlier", "review", "amt_z_30d > 6.0"),
    ("foreign_large", "review", "currency != 'EUR' && amount > 2000.0"),
    ("model_sure", "decline", "score > 0.95"),
]


def rules_20(root: Path, live: list[Any]) -> Path:
    """The twenty rules and three lists of 100,000 entries (cards, terminals, IP ranges)."""
    rng = np.random.default_rng(0)
    lists = root / "lists"
    lists.mkdir(parents=True, exist_ok=True)
    cards = [f"X{i:07d}" for i in range(99_990)] + [e.customer_id for e in live[:10]]
    terminals = [f"Y{i:07d}" for i in range(99_990)] + [e.terminal_id for e in live[:10]]
    nets = [f"{a}.{b}.{c}.0/24" for a, b, c in rng.integers(11, 250, size=(100_000, 3))]
    (lists / "cards.txt").write_text("\n".join(cards))
    (lists / "terminals.txt").write_text("\n".join(terminals))
    (lists / "ips.txt").write_text("\n".join(nets))
    head = (
        'kind = "transaction"\n'
        '[lists.deny_cards]\nfile = "lists/cards.txt"\nmatch = "customer_id"\n'
        '[lists.deny_terminals]\nfile = "lists/terminals.txt"\nmatch = "terminal_id"\n'
        '[lists.blocked_ips]\nfile = "lists/ips.txt"\nmatch = "ip"\ntype = "cidr"\n'
    )
    body = "".join(
        f'[[rules]]\nname = "{n}"\naction = "{a}"\nwhen = "{w}"\nreason = "{n.upper()}"\n'
        for n, a, w in RULES_20
    )
    (root / "rules.toml").write_text(head + body)
    return root / "rules.toml"


@pytest.mark.benchmark(group="score-transaction")
def test_score_with_rules(
    benchmark: Any, scorer: Scorer, world: dict[str, Any], tmp_path: Path
) -> None:
    """score() with 20 rules and 3 lists of 100,000 entries, against score() without rules, in
    alternating blocks on the same events (each with an IP, so that every list is looked up)."""
    live = [replace(e, ip=f"10.{i % 250}.{i // 250 % 250}.7") for i, e in enumerate(world["live"])]
    ruled = Scorer.open(world["bundle"], world["repo"], rules=rules_20(tmp_path, live))
    nxt = cycle(live)
    result = benchmark(lambda: ruled.score(nxt()))
    assert 0.0 <= result.score <= 1.0
    interleaved(benchmark, OURS, scorer.score, ruled.score, live)
    assert ruled.score(live[0]).rule == "deny_card"  # the lists are live
    assert ruled.rules is not None and not ruled.rules.errors


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
