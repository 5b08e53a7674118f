"""``score`` p50 with Prometheus metrics attached against without, in the same run; the cost of
recording one call.

    python -m benchmarks.metrics                  # report
    python -m benchmarks.metrics --check          # CI: gate the ratio at --max-ratio
    python -m benchmarks.metrics --multiprocess   # values in PROMETHEUS_MULTIPROC_DIR's files

The world is the pytest benchmarks' (``benchmarks/conftest.py``: 2,000 cards, 60 days, SQLite),
built once outside the clock. Two scorers open the same bundle and store, one with
``metrics=ScorerMetrics()``. They score the same live events in alternating blocks
(``--blocks`` of ``--block`` calls each, as ``benchmarks/decision_log.py`` does), so a machine
that slows down for a while shifts both alike; the ratio is measured p50 over plain p50.
Target 1.1x; the gate (``--max-ratio``, default 1.3x) leaves room for this shared 2-core
machine's noise, so that it catches a regression (``labels()`` per call, a lock, a scrape on
the hot path), never noise.

Beside it, per scored call: what the call pays (one queue append), what the flusher thread
pays later (four histogram observations and a counter), and what the call would pay observing
in place (why it queues). ``--multiprocess`` sets ``PROMETHEUS_MULTIPROC_DIR`` to a
temporary folder before prometheus_client is imported: every value then lives in a
memory-mapped file, as under several workers.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

from benchmarks.paired import call_ns, gate, interleave

TARGET = 1.1


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--blocks", type=int, default=200)
    ap.add_argument("--block", type=int, default=25)
    ap.add_argument("--check", action="store_true", help="fail above --max-ratio")
    ap.add_argument("--max-ratio", type=float, default=1.3)
    ap.add_argument("--multiprocess", action="store_true", help="values in mmap files")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        if args.multiprocess:  # before prometheus_client's import, as a service must
            (root / "prom").mkdir()
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(root / "prom")

        from prometheus_client.parser import text_string_to_metric_families

        from fraudscore import Scorer, simulate_transactions
        from fraudscore._kinds import TRANSACTION
        from fraudscore._serving.metrics import ScorerMetrics, metrics_text, multiprocess_mode

        from .conftest import CONFIG, build_world

        world = build_world(root / "world", TRANSACTION, simulate_transactions(CONFIG))
        live = world["live"]
        plain = Scorer.open(world["bundle"], world["repo"])
        metrics = ScorerMetrics()
        measured = Scorer.open(world["bundle"], world["repo"], metrics=metrics)
        for e in live[:500]:  # warm both on live events before the clock
            plain.score(e)
        warm = Counter(measured.score(e).decision for e in live[:500])
        a, b, results = interleave(plain, measured, live[500:], args.blocks, args.block)
        served = [r.decision for r in results]
        p50a, p50b = np.median(a) / 1e3, np.median(b) / 1e3
        p99a, p99b = np.percentile(a, 99) / 1e3, np.percentile(b, 99) / 1e3
        ratio = p50b / p50a

        # Correctness beside the clock: the scrape counts every measured call and decision.
        families = text_string_to_metric_families(metrics_text(metrics).decode())
        by_decision: Counter[str] = Counter()
        calls = 0.0
        for family in families:
            for sample in family.samples:
                if sample.name == "fraudscore_decisions_total":
                    by_decision[sample.labels["decision"]] += int(sample.value)
                if (
                    sample.name == "fraudscore_latency_seconds_count"
                    and sample.labels["call"] == "score"
                    and sample.labels["stage"] == "total"
                ):
                    calls += sample.value
        assert by_decision == Counter(served) + warm, (by_decision, Counter(served) + warm)
        assert calls == len(b) + 500, (calls, len(b))

        bound = measured._metrics
        result = measured.score(live[0])
        metrics.flush()
        now = time.perf_counter_ns()
        n = 100_000
        queue = call_ns(
            lambda: bound.scored(result, now, now + 1, now + 2, now + 3, now + 4), n
        )  # the calls queue, the flusher thread (1 s) may drain meanwhile
        for _ in range(n):
            bound.scored(result, now, now + 1, now + 2, now + 3, now + 4)
        t0 = time.perf_counter_ns()
        metrics.flush()
        flush = (time.perf_counter_ns() - t0) / n
        stages = (*bound.score_stages, bound.score_total)
        counter = metrics.decisions.labels("transaction", result.decision, result.model_version)

        def inline() -> None:  # what the call itself would pay, observing in place
            for child in stages:
                child.observe(4e-5)
            counter.inc()

        observed = call_ns(inline, n)

    mode = "multiprocess (mmap files)" if multiprocess_mode() else "one process (in memory)"
    print(f"prometheus_client values: {mode}")
    print(f"score p50, no metrics: {p50a:8.1f} µs   p99 {p99a:8.1f} µs   ({len(a)} calls)")
    print(f"score p50, metrics:    {p50b:8.1f} µs   p99 {p99b:8.1f} µs   ({len(b)} calls)")
    print(
        f"one score's metrics: queued in the call {queue:.0f} ns; flushed off the path "
        f"{flush:.0f} ns; observed in the call instead {observed:.0f} ns"
    )
    gate("metrics / no metrics", ratio, TARGET, args.max_ratio, args.check)


if __name__ == "__main__":
    main()
