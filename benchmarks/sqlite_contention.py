"""SQLite writers under contention: the load of issue 22, and the single-writer cost of a write.

Several processes (a service's workers), each with one ``Scorer`` shared by several threads (a
worker's threadpool), score then record one stream in which a share of the events are of one hot
card, all into one SQLite online store. Every event is of one instant, so the hot card's stored
counts must equal the number of its events: a lost update shows.

    python -m benchmarks.sqlite_contention [--procs 2] [--threads 4] [--events 4000] \\
        [--hot 0.25] [--timeout 1] [--no-score] [--against HEAD] [--rounds 1]

prints, for this tree and (``--against REV``) the ``SqliteSource`` of another git revision run
the same way, alternating, round by round: the writes that failed on the store timeout, the
p50/mean/p99/max of ``record`` (its wait for the write lock included), events/s, the hot card's
lost updates and how many writes overtook each hot-card write (see ``hammer``); then the p50
of one uncontended ``record`` and ``modify`` of each tree, call by call in alternation. The
machine's other load moves events/s from round to round: compare rounds side by side.
"""

from __future__ import annotations

import argparse
import importlib.util
import multiprocessing
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def use_sqlite_of(path: str | None) -> None:
    """Make ``open_source`` build the ``SqliteSource`` of the module file ``path`` (another
    revision's ``fraudscore/_online/sqlite.py``); None keeps this tree's."""
    if path is None:
        return
    import fraudscore._online as online

    spec = importlib.util.spec_from_file_location("fraudscore._online._sqlite_baseline", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    online.SqliteSource = module.SqliteSource  # type: ignore[misc]


def hot_stream(n: int, hot: float, at: datetime, tag: str) -> list[Any]:
    """``n`` transactions at ``at``: every ``1/hot``-th of the card ``hot-card``, the others of
    cards of their own; terminals shared by many."""
    from fraudscore import Transaction

    every = max(1, round(1 / hot)) if hot > 0 else n + 1
    return [
        Transaction(
            f"{tag}-{i}",
            at,
            "hot-card" if i % every == 0 else f"{tag}-card-{i}",
            f"terminal-{i % 40}",
            10.0,
        )
        for i in range(n)
    ]


def hammer(
    bundle: Path,
    repo: Path,
    shares: list[list[Any]],
    barrier: Any,
    results: Any,
    timeout: float,
    score: bool,
    baseline: str | None = None,
) -> None:
    """One worker process: one Scorer, one thread per share, each scoring (unless not
    ``score``) then recording its events; puts (record times in ns, the failed events' cards,
    the first failure, seconds from start to the last write, overtakes).

    A write's overtakes are the hot card's writes committed between its call and its own
    transaction's read: the hot card's count then, less its count read (lock-free) as it
    called. Every process and thread waiting in one fair queue, a write is overtaken by about
    as many writes as there are other writers, whatever the machine's speed or noise."""
    from fraudscore import FeatureStoreError, Scorer

    use_sqlite_of(baseline)
    scorer = Scorer.open(bundle, repo, timeout=timeout)
    scorer.score(shares[0][0])  # warm up outside the timed part
    overtakes = spy_on_hot_card(scorer.source)
    times: list[int] = []
    failed: list[str] = []
    failures: list[str] = []
    start = threading.Barrier(len(shares))

    def work(events: list[Any]) -> None:
        start.wait()
        for event in events:
            if score:
                scorer.score(event)
            t = time.perf_counter_ns()
            try:
                scorer.record(event)
            except FeatureStoreError as exc:
                failed.append(event.customer_id)
                failures.append(str(exc))
            times.append(time.perf_counter_ns() - t)

    threads = [threading.Thread(target=work, args=(s,)) for s in shares]
    barrier.wait(timeout=120)
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    results.put((times, failed, failures[:1], time.perf_counter() - began, overtakes))


def spy_on_hot_card(source: Any) -> list[int]:
    """Wrap ``source.modify`` to count each hot-card write's overtakes (see ``hammer``)."""
    from fraudscore._kinds import TRANSACTION

    n_1h = TRANSACTION.views[0].index["n_1h"]
    probe = [("hot-card",), *(("",) * len(v.keys) for v in TRANSACTION.views[1:])]
    modify = source.modify
    overtakes: list[int] = []

    def spied(keys: Any, step: Any) -> None:
        if keys[0] != [("hot-card",)]:
            return modify(keys, step)
        before = source.read_one(probe)[0][n_1h]
        seen: list[float] = []

        def spy(i: int, states: Any) -> Any:
            if i == 0:
                seen.append(states[("hot-card",)][n_1h])
            return step(i, states)

        modify(keys, spy)
        overtakes.append(int(seen[0] - before))
        return None

    source.modify = spied
    return overtakes


def contend(
    bundle: Path,
    repo: Path,
    *,
    procs: int,
    threads: int,
    events: list[Any],
    timeout: float,
    score: bool = True,
    baseline: str | None = None,
) -> dict[str, Any]:
    """Run ``hammer`` in ``procs`` spawned processes of ``threads`` threads, ``events`` dealt
    round robin; returns every record time (ns), the failed events' cards, a sample message and
    the seconds the busiest worker took."""
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(procs)
    results = ctx.Queue()
    n = procs * threads
    shares = [events[i::n] for i in range(n)]
    workers = [
        ctx.Process(
            target=hammer,
            args=(
                bundle,
                repo,
                shares[p * threads : (p + 1) * threads],
                barrier,
                results,
                timeout,
                score,
                baseline,
            ),
        )
        for p in range(procs)
    ]
    for w in workers:
        w.start()
    out: list[Any] = []
    deadline = time.monotonic() + 300
    while len(out) < procs:
        try:
            out.append(results.get(timeout=1))
        except queue.Empty:
            if any(w.exitcode not in (None, 0) for w in workers) or time.monotonic() > deadline:
                for w in workers:
                    w.kill()
                codes = [w.exitcode for w in workers]
                raise RuntimeError(f"a worker failed or hung: exit codes {codes}") from None
    for w in workers:
        w.join(timeout=60)
    return {
        "times": [t for o in out for t in o[0]],
        "failed": [c for o in out for c in o[1]],
        "sample": next((m for o in out for m in o[2]), None),
        "seconds": max(o[3] for o in out),
        "overtakes": [n for o in out for n in o[4]],
    }


def hot_count(repo: Path) -> float:
    """The hot card's stored 1-hour count, read through Feast itself."""
    from fraudscore import FeastSource
    from fraudscore._feast import open_store
    from fraudscore._kinds import TRANSACTION

    ref = FeastSource(open_store(repo), TRANSACTION.views)
    card = ref.read_one([("hot-card",), *(("",) * len(v.keys) for v in TRANSACTION.views[1:])])[0]
    return float(card[TRANSACTION.views[0].index["n_1h"]])


def single_writer(
    bundle: Path, repo: Path, baseline: str, at: datetime
) -> dict[str, tuple[float, float]]:
    """p50 (µs) of one uncontended ``record``, and of one ``modify`` of three new keys, on this
    tree's and on ``baseline``'s source, call by call in alternation on the same store."""
    from fraudscore import Scorer, Transaction

    ours = Scorer.open(bundle, repo)
    use_sqlite_of(baseline)
    theirs = Scorer.open(bundle, repo)
    t = at.timestamp()

    def stamp(i: int, states: dict[Any, list[float]]) -> dict[Any, list[float]]:
        return {k: [t, *s[1:]] for k, s in states.items()}

    calls = {
        "record": lambda s, i: s.record(
            Transaction(f"s-{i}", at, f"card-{i % 300}", f"terminal-{i % 60}", 5.0)
        ),
        "modify": lambda s, i: s.source.modify(
            [
                [(f"m-{i}",)],
                [(f"n-{i % 60}",)],
                [(f"m-{i}", f"n-{i % 60}")],
                *([] for _ in s.source.views[3:]),  # views a revision may not have
            ],
            stamp,
        ),
    }
    out = {}
    for what, call in calls.items():
        times: dict[str, list[int]] = {"ours": [], "theirs": []}
        for i in range(8000):
            pair = [("ours", ours), ("theirs", theirs)]
            for name, scorer in pair if i % 2 else pair[::-1]:
                start = time.perf_counter_ns()
                call(scorer, 2 * i + (name == "ours"))
                times[name].append(time.perf_counter_ns() - start)
        out[what] = (
            statistics.median(times["ours"][500:]) / 1000,
            statistics.median(times["theirs"][500:]) / 1000,
        )
    return out


def world(root: Path) -> tuple[Path, Path, datetime]:
    """The tests' small world (bundle, built repo, an instant after its cutoff), built once."""
    from fraudscore import build_features, simulate_transactions, train_model
    from tests.conftest import CUTOFF, SMALL, TRAIN, built

    bundle, repo = root / "bundle", root / "feature_repo"
    if not (bundle.exists() and repo.exists()):
        offline = build_features(simulate_transactions(SMALL))
        built(root, offline, CUTOFF)
        train_model(offline, *TRAIN, bundle)
    return bundle, repo, CUTOFF.to_pydatetime() + timedelta(hours=1)


def fresh(repo: Path, dst: Path) -> Path:
    import shutil

    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(repo, dst)
    return dst


def describe(name: str, run: dict[str, Any], lost: float) -> str:
    ms = np.array(run["times"]) / 1e6
    return (
        f"{name:>10}: {len(run['failed']):4d} failed of {len(ms)}, record p50 "
        f"{np.percentile(ms, 50):6.2f} ms, mean {ms.mean():5.2f}, p99 "
        f"{np.percentile(ms, 99):7.2f}, max {ms.max():6.1f} ms; "
        f"{len(ms) / run['seconds']:5.0f} events/s; hot card lost {lost:.0f}, overtaken "
        f"p99 {np.percentile(run['overtakes'], 99):.0f} max {max(run['overtakes'])}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--procs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--events", type=int, default=4000)
    parser.add_argument("--hot", type=float, default=0.25)
    parser.add_argument("--timeout", type=float, default=1.0)
    parser.add_argument("--no-score", action="store_true", help="record only, back to back")
    parser.add_argument("--against", metavar="REV", help="also run REV's SqliteSource")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--root", type=Path, default=Path(tempfile.gettempdir()) / "fs_contend")
    args = parser.parse_args()
    bundle, repo, at = world(args.root)
    trees: dict[str, str | None] = {"this tree": None}
    if args.against:
        old = args.root / "baseline_sqlite.py"
        old.write_text(
            subprocess.run(
                ["git", "-C", str(ROOT), "show", f"{args.against}:fraudscore/_online/sqlite.py"],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
        )
        trees = {args.against: str(old), **trees}
    events = hot_stream(args.events, args.hot, at, "c")
    n_hot = sum(e.customer_id == "hot-card" for e in events)
    for _ in range(args.rounds):
        for name, baseline in trees.items():
            store = fresh(repo, args.root / "run_repo")
            run = contend(
                bundle,
                store,
                procs=args.procs,
                threads=args.threads,
                events=events,
                timeout=args.timeout,
                score=not args.no_score,
                baseline=baseline,
            )
            written = n_hot - run["failed"].count("hot-card")
            print(describe(name, run, written - hot_count(store)), flush=True)
            if run["sample"]:
                print(f"{'':>12}e.g. {run['sample']}")
    if args.against:
        single = single_writer(bundle, fresh(repo, args.root / "run_repo"), old, at)
        for what, (ours, theirs) in single.items():
            print(
                f"single writer, {what} p50: this tree {ours:.1f} µs, {args.against} "
                f"{theirs:.1f} µs (ratio {ours / theirs:.3f})"
            )


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
