"""Proof under load: several processes score and record one mixed stream into one online store,
then the online state must equal the offline fold of the same events.

The stream mixes transactions and logins from after the store's cutoff with two hot keys: one
card with a burst of transactions at one instant (card testing), and one IP with a burst of
logins of many users at one instant (credential stuffing). Every process scores, then records,
each event of its share, as a payment or auth service would.

Decayed accumulators do not depend on arrival order, so any lost or doubled update shows in the
comparison. Two login features do depend on order: the newest location (two logins of one user
at the same instant from two places: whichever is recorded last wins) and the "new IP for this
user" column (which of a pair's logins was first); so does a transaction's "new card on this
device" column. So each user's logins, and each card's transactions, stay in one process, in
time order, while the hot IP's users and the hot card's burst (at one instant, where order
changes nothing), and so their writes, are spread over every process.

    python -m benchmarks.load [--store sqlite|redis|redis_cluster] [--procs 3]

prints events/s and p50/p99 of score+record per process (the README's load table).
"""

from __future__ import annotations

import argparse
import multiprocessing
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fraudscore import FeastSource, Scorer
from fraudscore._feast import open_store
from fraudscore._kinds import LOGIN, TRANSACTION, EventKind
from fraudscore._training.pipeline import build_features, to_events

HOT_IP = "203.0.113.66"


@dataclass(frozen=True)
class World:
    """One kind's side of the load: its bundle, repo, the history before ``cutoff`` and the
    stream after it."""

    kind: EventKind
    bundle: Path
    repo: Path
    frame: pd.DataFrame  # canonical frame, whole history
    cutoff: pd.Timestamp
    stream: pd.DataFrame  # rows to score and record, time ordered


def transaction_stream(frame: pd.DataFrame, cutoff: pd.Timestamp, n: int, hot: int) -> pd.DataFrame:
    """``n`` transactions after ``cutoff`` and ``hot`` of one card at one instant."""
    live = frame[frame["timestamp"] >= cutoff].head(n)
    burst = pd.concat([live.iloc[[0]]] * hot, ignore_index=True)
    burst["transaction_id"] = [f"hot-{i}" for i in range(hot)]
    burst["customer_id"] = "hot-card"
    burst["terminal_id"] = [f"hot-terminal-{i % 4}" for i in range(hot)]
    burst["timestamp"] = cutoff + pd.Timedelta(minutes=30)
    burst["amount"] = 1.0
    return pd.concat([live, burst], ignore_index=True).sort_values("timestamp", kind="stable")


def login_stream(frame: pd.DataFrame, cutoff: pd.Timestamp, n: int, hot: int) -> pd.DataFrame:
    """``n`` logins after ``cutoff`` and ``hot`` logins of distinct users from one IP at one
    instant, most of them failing."""
    live = frame[frame["timestamp"] >= cutoff].head(n)
    users = frame["user_id"].drop_duplicates().to_numpy()[:hot]
    burst = pd.concat([live.iloc[[0]]] * len(users), ignore_index=True)
    burst["login_id"] = [f"hot-{i}" for i in range(len(users))]
    burst["user_id"] = users
    burst["ip"] = HOT_IP
    burst["timestamp"] = cutoff + pd.Timedelta(minutes=30)
    burst["success"] = [i % 5 == 0 for i in range(len(users))]
    for column in ("latitude", "longitude"):
        if column in burst:
            burst[column] = np.nan
    return pd.concat([live, burst], ignore_index=True).sort_values("timestamp", kind="stable")


def shares(world: World, procs: int) -> list[list[Any]]:
    """Each process's events, in time order: logins by user, transactions by card, but for the
    hot card's burst (one instant), round-robin."""
    events = to_events(world.stream, world.kind)
    out: list[list[Any]] = [[] for _ in range(procs)]
    for i, e in enumerate(events):
        if world.kind.name == LOGIN.name:
            i = zlib.crc32(e.user_id.encode())
        elif e.customer_id != "hot-card":
            i = zlib.crc32(e.customer_id.encode())
        out[i % procs].append(e)
    return out


def worker(worlds: list[tuple[Path, Path]], share: list[Any], barrier: Any, out: Any) -> None:
    """Score then record each event of ``share``; report (events, seconds, latencies in s)."""
    scorers = {}
    for bundle, repo in worlds:
        s = Scorer.open(bundle, repo, timeout=30.0)
        scorers[s.kind.event_type] = s
    barrier.wait(timeout=300)
    latencies = []
    start = time.perf_counter()
    for event in share:
        t0 = time.perf_counter()
        scorer = scorers[type(event)]
        scorer.score(event)
        scorer.record(event)
        latencies.append(time.perf_counter() - t0)
    out.put((len(share), time.perf_counter() - start, latencies))


def run_load(worlds: list[World], procs: int) -> list[dict[str, float]]:
    """Run every world's stream through ``procs`` spawned processes at once; per-process stats."""
    per_proc: list[list[Any]] = [[] for _ in range(procs)]
    for w in worlds:
        for p, share in enumerate(shares(w, procs)):
            per_proc[p] += share
    for share in per_proc:  # one mixed stream per process, in time order
        share.sort(key=lambda e: e.timestamp)
    ctx = multiprocessing.get_context("spawn")
    barrier, out = ctx.Barrier(procs), ctx.Queue()
    paths = [(w.bundle, w.repo) for w in worlds]
    workers = [ctx.Process(target=worker, args=(paths, s, barrier, out)) for s in per_proc]
    for p in workers:
        p.start()
    results = [out.get(timeout=600) for _ in workers]
    for p in workers:
        p.join(timeout=60)
        if p.exitcode != 0:
            raise RuntimeError(f"a load worker exited with {p.exitcode}")
    stats = []
    for n, seconds, lat in results:
        lat = np.sort(np.asarray(lat))
        stats.append(
            {
                "events": n,
                "events_per_s": n / seconds,
                "p50_us": float(np.percentile(lat, 50) * 1e6),
                "p99_us": float(np.percentile(lat, 99) * 1e6),
            }
        )
    return stats


def expected_state(world: World) -> dict[str, pd.DataFrame]:
    """The offline fold of the history before the cutoff plus the stream: each view's latest
    state per entity. Labels that arrive after the cutoff are never recorded online, so the
    fold leaves them out too."""
    kind = world.kind
    before = world.frame[world.frame["timestamp"] < world.cutoff].copy()
    stream = world.stream.copy()
    if kind.name == TRANSACTION.name:
        before.loc[before["label_time"] >= world.cutoff, "is_fraud"] = 0
        stream["is_fraud"] = 0
    folded = build_features(pd.concat([before, stream], ignore_index=True), kind)
    return {
        v.name: folded.history[v.name]
        .sort_values(["event_timestamp", "created"], kind="stable")
        .groupby(list(v.keys))
        .tail(1)
        .set_index(list(v.keys))
        for v in kind.views
    }


def compare_with_offline(world: World) -> int:
    """Assert that the online state of every entity the stream touched equals the offline fold
    (to 1e-9), read through Feast's own ``get_online_features``; an entity the fold gives no
    state (a card's terminal seen only in declined purchases builds no familiarity) must read
    as no history. Returns the states compared."""
    kind = world.kind
    expected = expected_state(world)
    events = to_events(world.stream, kind)
    touched = [list(dict.fromkeys(kind.keys(e)[i] for e in events)) for i in range(len(kind.views))]
    online = FeastSource(open_store(world.repo), kind.views).read(touched)
    compared = 0
    for view, keys, got in zip(kind.views, touched, online, strict=True):
        index = [k[0] for k in keys] if len(view.keys) == 1 else keys
        folded = expected[view.name]
        have = folded.index.isin(index)
        want = np.repeat(view.empty(1), len(keys), axis=0)
        where = {k: i for i, k in enumerate(index)}
        rows = folded[have]
        at = [where[k] for k in rows.index]
        want[at] = rows[list(view.fields)].to_numpy(dtype=float)
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9, err_msg=view.name)
        compared += len(keys)
    return compared


def table(store: str, stats: list[dict[str, float]]) -> str:
    lines = [f"store {store}: {len(stats)} processes, score + record per event"]
    lines.append(f"{'process':>8} {'events':>8} {'events/s':>10} {'p50 µs':>9} {'p99 µs':>9}")
    for i, s in enumerate(stats):
        lines.append(
            f"{i:>8} {s['events']:>8} {s['events_per_s']:>10,.0f} "
            f"{s['p50_us']:>9,.0f} {s['p99_us']:>9,.0f}"
        )
    total = sum(s["events_per_s"] for s in stats)
    lines.append(f"{'all':>8} {sum(s['events'] for s in stats):>8} {total:>10,.0f}")
    return "\n".join(lines)


def main() -> None:  # pragma: no cover - a manual tool; tests/test_load.py drives the same code
    import sys
    import tempfile

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from fraudscore import simulate_logins, simulate_transactions
    from fraudscore._training.pipeline import train_model
    from tests.conftest import CUTOFF, LOGIN_CUTOFF, LOGIN_SMALL, LOGIN_TRAIN, SMALL, TRAIN, built

    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--store", default="sqlite", choices=["sqlite", "redis", "redis_cluster"])
    parser.add_argument("--procs", type=int, default=3)
    parser.add_argument("--events", type=int, default=1500, help="live events per kind")
    parser.add_argument("--hot", type=int, default=300, help="hot-key burst per kind")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="fraudscore-load-"))
    worlds = []
    for kind, sim, cutoff, (a, b) in (
        (TRANSACTION, simulate_transactions(SMALL), CUTOFF, TRAIN),
        (LOGIN, simulate_logins(LOGIN_SMALL), LOGIN_CUTOFF, LOGIN_TRAIN),
    ):
        off = build_features(sim, kind)
        repo = built(root / kind.name, off, cutoff, args.store)
        bundle = root / kind.name / "bundle"
        train_model(off, a, b, bundle)
        make = transaction_stream if kind is TRANSACTION else login_stream
        stream = make(off.frame, cutoff, args.events, args.hot)
        worlds.append(World(kind, bundle, repo, off.frame, cutoff, stream))
    print(table(args.store, run_load(worlds, args.procs)))
    for w in worlds:
        print(f"{w.kind.name}: {compare_with_offline(w)} online states equal the offline fold")


if __name__ == "__main__":
    main()
