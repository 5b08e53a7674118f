"""Read a pytest-benchmark JSON, print the table, fail if a ratio target is missed.

Only ratios between benchmarks of the same run are checked (this machine is shared and noisy);
absolute times are printed for the README table, never asserted.
"""

from __future__ import annotations

import json
import sys

#: (ours, baseline, minimum p50 ratio baseline / ours)
RATIOS = [
    ("test_score_fraudscore", "test_score_user_path", 8.0),
    ("test_score_login_fraudscore", "test_score_login_user_path", 8.0),
]


def main(path: str) -> int:
    with open(path) as f:
        benches = {b["name"]: b for b in json.load(f)["benchmarks"]}
    print(f"{'benchmark':<34} {'p50 µs':>10} {'p99 µs':>10} {'events/s':>12}")
    for name, b in benches.items():
        data = sorted(b["stats"].get("data") or [])
        p50 = b["stats"]["median"]
        p99 = data[min(len(data) - 1, int(0.99 * len(data)))] if data else b["stats"]["max"]
        batch = b.get("extra_info", {}).get("batch", 1)
        print(f"{name:<34} {p50 * 1e6:>10.1f} {p99 * 1e6:>10.1f} {batch / p50:>12,.0f}")
    failed = False
    for ours, theirs, minimum in RATIOS:
        if ours not in benches or theirs not in benches:
            print(f"missing benchmark {ours} or {theirs}")
            return 1
        ratio = benches[theirs]["stats"]["median"] / benches[ours]["stats"]["median"]
        ok = ratio >= minimum
        failed |= not ok
        print(
            f"ratio p50 {theirs} / {ours} = {ratio:.1f}x (need >= {minimum}x): {'ok' if ok else 'FAIL'}"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
