"""What the scripts that price an optional feature of the scorer share: both scorers timed on the
same events in alternating blocks, a call timed in groups, and the ratio against its gate."""

from __future__ import annotations

import statistics
import time
from typing import Any

import numpy as np


def interleave(
    plain: Any, measured: Any, events: list[Any], blocks: int, block: int
) -> tuple[np.ndarray, np.ndarray, list[Any]]:
    """Per-call ns of ``plain.score`` and ``measured.score`` on the same events, in alternating
    blocks (so drift in the machine's load falls on both alike), and ``measured``'s results."""
    a: list[int] = []
    b: list[int] = []
    results: list[Any] = []
    at = 0
    for _ in range(blocks):
        chunk = [events[(at + i) % len(events)] for i in range(block)]
        at += block
        for event in chunk:
            t0 = time.perf_counter_ns()
            plain.score(event)
            a.append(time.perf_counter_ns() - t0)
        for event in chunk:
            t0 = time.perf_counter_ns()
            r = measured.score(event)
            b.append(time.perf_counter_ns() - t0)
            results.append(r)
    return np.array(a), np.array(b), results


def call_ns(fn: Any, n: int) -> float:
    """Median ns of ``fn()`` over ``n`` calls, timed in groups of 100."""
    times = []
    for _ in range(n // 100):
        t0 = time.perf_counter_ns()
        for _ in range(100):
            fn()
        times.append((time.perf_counter_ns() - t0) / 100)
    return statistics.median(times)


def gate(what: str, ratio: float, target: float, max_ratio: float, check: bool) -> None:
    """Print the ratio against its target and gate; with ``check``, exit 1 above the gate."""
    verdict = f"gate {max_ratio}x: {'ok' if ratio <= max_ratio else 'FAILED'}"
    print(
        f"p50 {what} = {ratio:.3f}x "
        f"(target {target}x: {'met' if ratio <= target else 'missed'}; "
        f"{verdict if check else 'not gated'})"
    )
    if check and ratio > max_ratio:
        raise SystemExit(1)
