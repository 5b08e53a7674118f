"""``score`` p50 of this tree against another git revision's, on the same bundle and store.

    python -m benchmarks.against_revision REV --bundle data/demo/transaction_bundle \\
        --repo data/demo/feature_repo --data data/demo/transactions.parquet

The revision is checked out into a temporary git worktree. Processes of the two trees alternate
(``--rounds`` each), every process opening the same bundle and store and scoring the same
events (the last day's, read only) after a warm-up; the ratio is of the medians of each tree's
per-round p50, so a machine that slows down for a while shifts both sides alike.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import statistics, sys, time
import pandas as pd
from fraudscore import Scorer
from fraudscore._training.pipeline import to_events
bundle, repo, data = sys.argv[1:4]
frame = pd.read_parquet(data)
day = frame["timestamp"].max().normalize()
events = to_events(frame[frame["timestamp"] >= day].head(2000))
scorer = Scorer.open(bundle, repo)
for e in events[:500]:
    scorer.score(e)
times = []
for _ in range(3):
    for e in events:
        t = time.perf_counter_ns()
        scorer.score(e)
        times.append(time.perf_counter_ns() - t)
print(statistics.median(times) / 1000)
"""


def p50(tree: Path, args: argparse.Namespace) -> float:
    env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONWARNINGS": "ignore"}
    out = subprocess.run(
        [sys.executable, "-c", PROBE, args.bundle, args.repo, args.data],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("revision")
    parser.add_argument("--bundle", default="data/demo/transaction_bundle")
    parser.add_argument("--repo", default="data/demo/feature_repo")
    parser.add_argument("--data", default="data/demo/transactions.parquet")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        other = Path(tmp) / "tree"
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(other), args.revision],
            check=True,
            capture_output=True,
        )
        try:
            ours, theirs = [], []
            for _ in range(args.rounds):
                theirs.append(p50(other, args))
                ours.append(p50(ROOT, args))
            a, b = statistics.median(ours), statistics.median(theirs)
            print(
                f"score p50, this tree: {a:.1f} us (rounds {', '.join(f'{x:.0f}' for x in ours)})"
            )
            print(
                f"score p50, {args.revision}: {b:.1f} us (rounds {', '.join(f'{x:.0f}' for x in theirs)})"
            )
            print(f"ratio this tree / {args.revision}: {a / b:.3f}")
        finally:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(other)],
                check=False,
                capture_output=True,
            )


if __name__ == "__main__":
    main()
