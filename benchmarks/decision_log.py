"""``score`` p50 with a decision log attached against without, in the same run; the cost of a put.

    python -m benchmarks.decision_log                 # report
    python -m benchmarks.decision_log --check         # CI: gate the ratio at --max-ratio

The world is the pytest benchmarks' (``benchmarks/conftest.py``: 2,000 cards, 60 days, SQLite),
built once outside the clock. Two scorers open the same bundle and store, one with
``log=DecisionLog(...)`` (default options: the writer thread drains every second while we
measure). They score the same live events in alternating blocks (``--blocks`` of ``--block``
calls each, as ``conftest.interleaved`` does), so a machine that slows down for a while shifts
both alike; the ratio is logged p50 over plain p50. Target 1.1x; the gate (``--max-ratio``,
default 1.3x) leaves room for this shared 2-core machine's noise, so that it catches a
regression (a lock, a conversion or a write on the hot path), never noise.

Beside it: the cost of one ``DecisionLog.scored`` call (the put itself), and of the two queue
designs considered, a ``deque`` append after a length check (chosen) and a ``SimpleQueue`` put
with a counter to bound it.
"""

from __future__ import annotations

import argparse
import itertools
import queue
import tempfile
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.paired import call_ns, gate, interleave

TARGET = 1.1


def queue_costs() -> tuple[float, float]:
    """ns per bounded put: a deque after a length check, and a SimpleQueue with a counter."""
    item = ("score", None, (), (), (), 0, 0, 0)
    d: deque[Any] = deque()
    cap = 10**9

    def on_deque() -> None:
        if len(d) < cap:
            d.append(item)

    q: queue.SimpleQueue[Any] = queue.SimpleQueue()
    count = itertools.count()

    def on_simple_queue() -> None:
        if next(count) < cap:  # the writer would subtract what it took, under a lock
            q.put_nowait(item)

    return call_ns(on_deque, 200_000), call_ns(on_simple_queue, 200_000)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--blocks", type=int, default=200)
    ap.add_argument("--block", type=int, default=25)
    ap.add_argument("--check", action="store_true", help="fail above --max-ratio")
    ap.add_argument("--max-ratio", type=float, default=1.3)
    args = ap.parse_args()

    from fraudscore import DecisionLog, Scorer, read_decision_log, simulate_transactions
    from fraudscore._kinds import TRANSACTION

    from .conftest import CONFIG, build_world

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        world = build_world(root / "world", TRANSACTION, simulate_transactions(CONFIG))
        live = world["live"]
        plain = Scorer.open(world["bundle"], world["repo"])
        log = DecisionLog(root / "log")
        logged = Scorer.open(world["bundle"], world["repo"], log=log)
        for s in (plain, logged):  # warm both on live events before the clock
            for e in live[:500]:
                s.score(e)
        a, b, _ = interleave(plain, logged, live[500:], args.blocks, args.block)
        p50a, p50b = np.median(a) / 1e3, np.median(b) / 1e3
        p99a, p99b = np.percentile(a, 99) / 1e3, np.percentile(b, 99) / 1e3
        ratio = p50b / p50a

        result = logged.score(live[0])
        x = [0.0] * len(TRANSACTION.features)
        put = call_ns(lambda: log.scored(TRANSACTION, live[0], x, result, 1, 1), 50_000)
        on_deque, on_simple = queue_costs()

        log.close()
        entries = len(read_decision_log(root / "log"))
        logged_calls = 500 + len(b) + 1 + 50_000
        assert log.written + log.dropped == logged_calls, (log.written, log.dropped)
        assert entries == log.written

    print(f"score p50, no log:  {p50a:8.1f} µs   p99 {p99a:8.1f} µs   ({len(a)} calls)")
    print(f"score p50, logged:  {p50b:8.1f} µs   p99 {p99b:8.1f} µs   ({len(b)} calls)")
    print(f"DecisionLog.scored (the put): {put:.0f} ns per call")
    print(f"bounded put: deque {on_deque:.0f} ns, SimpleQueue + counter {on_simple:.0f} ns")
    print(f"entries written {log.written}, dropped {log.dropped} (queue of {log.queue_size})")
    gate("logged / no log", ratio, TARGET, args.max_ratio, args.check)


if __name__ == "__main__":
    main()
