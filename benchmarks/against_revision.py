"""``score`` p50 of this tree against another git revision's, on the same bundle and store.

    python -m benchmarks.against_revision REV --bundle data/demo/transaction_bundle \\
        --repo data/demo/feature_repo --data data/demo/transactions.parquet

The revision is checked out into a temporary git worktree. One process of each tree opens the
same bundle and store, warms up on the same events (the last day's, read only), and then the
two take turns: a block of events in one, the same block in the other, ``--rounds`` blocks
each. A machine that slows down for a while slows both sides alike, so the ratio of the two
trees' p50 over all their calls, and the median of the blocks' ratios, both printed, tell the
trees apart on a noisy machine where separate runs differ by more than the trees do.

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

#: Scores a block of events for each line read ("i": block i), answers with its call times (ns).
PROBE = """
import sys, time
import pandas as pd
from fraudscore import Scorer
from fraudscore._training.pipeline import to_events
bundle, repo, data, every, block = sys.argv[1:6]
block = int(block)
frame = pd.read_parquet(data)
day = frame["timestamp"].max().normalize()
frame = frame[frame["timestamp"] >= day]
if every == "1":
    frame = frame[frame["device_id"].notna()]
events = to_events(frame.head(2000))
scorer = Scorer.open(bundle, repo)
for e in events[:500]:
    scorer.score(e)
print("ready", flush=True)
clock = time.perf_counter_ns
for line in sys.stdin:
    lo = int(line) * block % len(events)
    times = []
    for e in (events + events)[lo : lo + block]:
        t = clock()
        scorer.score(e)
        times.append(clock() - t)
    print(" ".join(map(str, times)), flush=True)
"""


def start(tree: Path, args: argparse.Namespace, bundle: str, repo: str) -> subprocess.Popen[str]:
    """A probe process of ``tree``, warmed up and waiting for blocks."""
    env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONWARNINGS": "ignore"}
    paths = [str(Path(p).resolve()) for p in (bundle, repo, args.data)]
    # In the tree's own folder: ``python -c`` puts the working directory first on sys.path,
    # so a probe run from this tree would import this tree's fraudscore whatever PYTHONPATH.
    proc = subprocess.Popen(
        [sys.executable, "-c", PROBE, *paths, str(int(args.every_field)), str(args.block)],
        cwd=tree,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != "ready":
        raise SystemExit(f"the probe failed in {tree}:\n{proc.communicate()[1][-3000:]}")
    return proc


def block(proc: subprocess.Popen[str], i: int) -> list[float]:
    """Block ``i``'s call times in µs."""
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(f"{i}\n")
    proc.stdin.flush()
    line = proc.stdout.readline()
    if not line:
        raise SystemExit(f"a probe died:\n{proc.communicate()[1][-3000:]}")
    return [int(x) / 1000 for x in line.split()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("revision")
    parser.add_argument("--bundle", default="data/demo/transaction_bundle")
    parser.add_argument("--repo", default="data/demo/feature_repo")
    parser.add_argument("--data", default="data/demo/transactions.parquet")
    parser.add_argument("--base-bundle", help="the revision's bundle (default: --bundle)")
    parser.add_argument("--base-repo", help="the revision's feature repo (default: --repo)")
    parser.add_argument("--every-field", action="store_true", help="events with a device only")
    parser.add_argument("--rounds", type=int, default=40, help="blocks per tree")
    parser.add_argument("--block", type=int, default=500, help="events per block")
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
            theirs_p = start(other, args, *base)
            ours_p = start(ROOT, args, args.bundle, args.repo)
            ours: list[float] = []
            theirs: list[float] = []
            ratios = []
            for i in range(args.rounds):
                old = block(theirs_p, i)
                new = block(ours_p, i)
                theirs += old
                ours += new
                ratios.append(statistics.median(new) / statistics.median(old))
            for proc in (ours_p, theirs_p):
                proc.communicate("")
            a, b = statistics.median(ours), statistics.median(theirs)
            print(
                f"score p50 over {len(ours)} calls each: this tree {a:.1f} us, {args.revision} {b:.1f} us"
            )
            print(f"ratio this tree / {args.revision}: {a / b:.3f}")
            q = statistics.quantiles(ratios, n=4)
            print(
                f"blocks' ratios: median {statistics.median(ratios):.3f}, "
                f"quartiles {q[0]:.3f}-{q[2]:.3f} ({args.rounds} blocks of {args.block})"
            )
        finally:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(other)],
                check=False,
                capture_output=True,
            )


if __name__ == "__main__":
    main()
