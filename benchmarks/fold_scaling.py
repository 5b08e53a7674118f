"""Fold time and peak memory as the history grows: in memory, partitioned, and on Dask.

    python -m benchmarks.fold_scaling --sizes 1 4 16            # the README's table
    python -m benchmarks.fold_scaling --sizes 1 --check         # CI: the 1 M case, gated

The history is ``max(sizes)`` parts of about 1 M simulated transactions each (one seed per part,
its cards and terminals renamed apart, all over the same 100 days), written as parquet parts;
size ``M`` folds the first ``M`` parts. Every fold reads the parts and writes the training rows
and every view's state history to parquet, so all three do the same work:

- ``in-memory``: ``pd.read_parquet`` + ``build_features`` + ``to_parquet``;
- ``partitioned``: ``fold_partitioned`` in this process, 1 M rows per partition;
- ``dask``: the same on a 2-worker ``LocalCluster`` (started before the clock).

Each fold runs in a fresh process. Peak memory is the highest sum of resident memory over that
process and its children (the Dask workers), sampled every 50 ms. ``in-memory`` runs only up to
``--in-memory-max`` million events (it needs about 1.3 KB per event).

``--check`` fails when the partitioned fold takes more than ``--max-time-ratio`` times the
in-memory fold of the same size (target 1.3x, README); the Dask fold's ratio is reported.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

PART_CUSTOMERS = 4_800  # about 1.0 M transactions per part over 100 days


def make_parts(out: Path, n: int) -> list[Path]:
    from fraudscore import TransactionSimConfig, simulate_transactions

    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for k in range(n):
        path = out / f"part-{k:03d}.parquet"
        if not path.exists():
            cfg = TransactionSimConfig(
                n_customers=PART_CUSTOMERS, n_terminals=2 * PART_CUSTOMERS, seed=100 + k
            )
            df = simulate_transactions(cfg)
            for col in ("transaction_id", "customer_id", "terminal_id"):
                df[col] = f"p{k}-" + df[col]
            df.to_parquet(path, index=False)
        paths.append(path)
    return paths


def fold(mode: str, files: list[str], out: str) -> None:
    """One fold, in this process (the child of ``measure``)."""
    if mode == "in-memory":
        import pandas as pd

        from fraudscore import build_features

        features = build_features(pd.concat([pd.read_parquet(f) for f in files], ignore_index=True))
        Path(out).mkdir(parents=True)
        features.frame.to_parquet(Path(out) / "features.parquet", index=False)
        for name, hist in features.history.items():
            hist.to_parquet(Path(out) / f"{name}.parquet", index=False)
        return
    from fraudscore import fold_partitioned

    if mode == "partitioned":
        fold_partitioned(files, out)
        return
    from distributed import Client, LocalCluster

    with (
        LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        client.wait_for_workers(2)
        start = time.perf_counter()
        fold_partitioned(files, out, dask=client)
        print(json.dumps({"seconds": time.perf_counter() - start}))


def measure(mode: str, files: list[Path], work: Path) -> dict[str, float]:
    """Run one fold in a fresh process: its wall time and the peak memory of its process tree."""
    out = work / mode
    cmd = [
        sys.executable,
        "-m",
        "benchmarks.fold_scaling",
        "--run",
        mode,
        "--out",
        str(out),
        *map(str, files),
    ]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        root = psutil.Process(proc.pid)
        while not done.is_set():
            try:
                procs = [root, *root.children(recursive=True)]
                peak = max(peak, sum(p.memory_info().rss for p in procs if p.is_running()))
            except psutil.Error:
                pass
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, _ = proc.communicate()
    seconds = time.perf_counter() - start
    done.set()
    sampler.join()
    if proc.returncode:
        raise SystemExit(f"{mode} fold failed ({proc.returncode})")
    if mode == "dask":  # the fold itself, without starting the cluster
        seconds = json.loads(stdout.strip().splitlines()[-1])["seconds"]
    return {"seconds": seconds, "peak_gb": peak / 1e9}


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--sizes", type=int, nargs="+", default=[1, 4, 16], help="millions of events")
    ap.add_argument("--modes", nargs="+", default=["in-memory", "partitioned", "dask"])
    ap.add_argument("--in-memory-max", type=int, default=4)
    ap.add_argument("--data", type=Path, default=Path(".bench/fold-data"))
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--max-time-ratio", type=float, default=1.8)
    ap.add_argument("--json", type=Path, help="write the results here")
    ap.add_argument("--run", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    ap.add_argument("files", nargs="*", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.run:
        fold(args.run, args.files, args.out)
        return
    parts = make_parts(args.data, max(args.sizes))
    results = []
    print("| events | fold | time (s) | peak memory (GB) |")
    print("|---|---|---|---|")
    for size in args.sizes:
        files = parts[:size]
        rows = sum(_rows(f) for f in files)
        for mode in args.modes:
            if mode == "in-memory" and size > args.in_memory_max:
                continue
            with tempfile.TemporaryDirectory(dir=args.data.parent) as work:
                r = measure(mode, files, Path(work))
            results.append({"size_m": size, "rows": rows, "mode": mode, **r})
            print(
                f"| {rows / 1e6:.2f} M | {mode} | {r['seconds']:.1f} | {r['peak_gb']:.2f} |",
                flush=True,
            )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    if args.check:
        _check(results, args.max_time_ratio)


def _rows(path: Path) -> int:
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).metadata.num_rows


def _check(results: list[dict[str, float]], max_ratio: float) -> None:
    """Gate the partitioned fold's time on the in-memory fold's; report the Dask fold's (its
    workers' start-up makes it the noisier at 1 M)."""
    by = {(r["size_m"], r["mode"]): r for r in results}
    failed = False
    for (size, mode), r in by.items():
        base = by.get((size, "in-memory"))
        if mode == "in-memory" or base is None:
            continue
        ratio = r["seconds"] / base["seconds"]
        if mode == "partitioned":
            ok = ratio <= max_ratio
            failed |= not ok
            verdict = f"gate {max_ratio}x: {'ok' if ok else 'FAILED'}"
        else:
            verdict = "reported"
        print(f"{size} M {mode} / in-memory time: {ratio:.2f}x ({verdict})")
    if failed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
