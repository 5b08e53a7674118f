"""``score`` p50 of this tree against another git revision's, on the same bundle and store.

    python -m benchmarks.against_revision REV --bundle data/demo/transaction_bundle \\
        --repo data/demo/feature_repo --data data/demo/transactions.parquet

The revision is checked out into a temporary git worktree. Processes of the two trees alternate
(``--rounds`` each), every process opening the same bundle and store and scoring the same
events (the last day's, read only) after a warm-up; the ratio is of the medians of each tree's
per-round p50, so a machine that slows down for a while shifts both sides alike.

A revision whose bundles this tree's cannot serve (another feature set) opens its own,
trained on the same history: ``--base-bundle`` and ``--base-repo``. ``--every-field`` scores
only the events that carry a device (the card-not-present ones, with every optional field
the simulator gives); a revision whose events lack a field reads the same rows without it.
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
bundle, repo, data, every = sys.argv[1:5]
frame = pd.read_parquet(data)
day = frame["timestamp"].max().normalize()
frame = frame[frame["timestamp"] >= day]
if every == "1":
    frame = frame[frame["device_id"].notna()]
events = to_events(frame.head(2000))
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


def p50(tree: Path, args: argparse.Namespace, bundle: str, repo: str) -> float:
    env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONWARNINGS": "ignore"}
    paths = [str(Path(p).resolve()) for p in (bundle, repo, args.data)]
    # In the tree's own folder: ``python -c`` puts the working directory first on sys.path,
    # so a probe run from this tree would import this tree's fraudscore whatever PYTHONPATH.
    out = subprocess.run(
        [sys.executable, "-c", PROBE, *paths, str(int(args.every_field))],
        cwd=tree,
        env=env,
        check=False,
        capture_output=True,
        text=True,
    )
    if out.returncode:
        raise SystemExit(f"the probe failed in {tree}:\n{out.stderr[-3000:]}")
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("revision")
    parser.add_argument("--bundle", default="data/demo/transaction_bundle")
    parser.add_argument("--repo", default="data/demo/feature_repo")
    parser.add_argument("--data", default="data/demo/transactions.parquet")
    parser.add_argument("--base-bundle", help="the revision's bundle (default: --bundle)")
    parser.add_argument("--base-repo", help="the revision's feature repo (default: --repo)")
    parser.add_argument("--every-field", action="store_true", help="events with a device only")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    base = (args.base_bundle or args.bundle, args.base_repo or args.repo)
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
                theirs.append(p50(other, args, *base))
                ours.append(p50(ROOT, args, args.bundle, args.repo))
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
