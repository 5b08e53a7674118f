"""Clean average precision on data without the card-not-present fields: the default
``train_model`` on the handbook generator, trained and tested on the handbook's windows.

    python -m benchmarks.handbook_ap --seeds 0 1 2

Against another revision, run the same file from a worktree of it (its own fraudscore first on
``sys.path``)::

    git worktree add /tmp/old REV && cd /tmp && PYTHONPATH=/tmp/old \\
        python /path/to/benchmarks/handbook_ap.py --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import fraudscore
from fraudscore import (
    HANDBOOK_WINDOWS,
    HandbookSimConfig,
    TrainConfig,
    build_features,
    evaluate,
    simulate_handbook,
    train_model,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    print(f"fraudscore from {Path(fraudscore.__file__).parent}")
    root = Path(tempfile.mkdtemp(prefix="fraudscore-ap-"))
    start, end, test_start, test_end = HANDBOOK_WINDOWS
    aps = []
    for seed in args.seeds:
        features = build_features(simulate_handbook(HandbookSimConfig(seed=seed)))
        bundle = train_model(features, start, end, root / str(seed), TrainConfig()).bundle
        m = evaluate(bundle, features, test_start, test_end).metrics["models"]["model"]
        aps.append(m["average_precision"])
        print(
            f"seed {seed}: AP {m['average_precision']:.4f}, ROC AUC {m['roc_auc']:.4f}", flush=True
        )
    print(f"mean AP {sum(aps) / len(aps):.4f}")


if __name__ == "__main__":
    main()
