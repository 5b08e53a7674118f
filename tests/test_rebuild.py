"""Rebuilding a lost online store from the offline history plus the decision log.

A real Redis server is flushed in the middle of a live stream (score, then record with what was
served, every event logged); ``rebuild_store`` folds the history and the log's record entries
back into it, and the state then equals the offline fold of the same events to 1e-9.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fraudscore import (
    DecisionLog,
    Scorer,
    build_features,
    rebuild_store,
)
from fraudscore._kinds import TRANSACTION
from fraudscore._state import ABSENT
from fraudscore._training.pipeline import to_events

from .conftest import CUTOFF, built, redis_or_skip, store_params


def known_history(sim: pd.DataFrame) -> pd.DataFrame:
    """The events before the cutoff with only the labels known by then (a real history)."""
    history = sim[sim["timestamp"] < CUTOFF].copy()
    history["is_fraud"] = history["is_fraud"].where(history["label_time"] < CUTOFF, 0)
    return history


def states(scorer: Scorer, events: list) -> np.ndarray:
    """The feature rows the scorer computes for ``events`` from its store now."""
    return np.array(
        [
            scorer._row(e, scorer.source.read_one(scorer.kind.keys(e)), scorer.kind.keys(e))[0]
            for e in events
        ]
    )


@pytest.mark.parametrize("store", [p for p in store_params() if p.id != "redis_cluster"])
def test_a_flushed_store_is_rebuilt_to_the_fold(
    store: str, sim: pd.DataFrame, bundle_dir: Path, tmp_path: Path
) -> None:
    """Stream 200 events (score, record with the decision), flush the store after 120, keep
    streaming, then rebuild from the history and the log (SQLite: with the command): the next events' cards, terminals and
    pairs read what the offline fold of history + stream (with the served decisions) gives, to
    1e-9; before the rebuild they did not."""
    history = known_history(sim)
    repo = built(tmp_path, build_features(history), CUTOFF, store)
    after = sim[sim["timestamp"] >= CUTOFF].head(300)
    # Probes read state and are never recorded: none shares a card or terminal with another,
    # so the fold's features of each see exactly the history and the stream.
    rest = after.tail(100)
    rest = rest[~rest["customer_id"].duplicated() & ~rest["terminal_id"].duplicated()]
    # ... nor any other entity (a device, a merchant category): each key of each view once.
    keys = [TRANSACTION.keys(e) for e in to_events(rest)]
    seen: list[set] = [set() for _ in TRANSACTION.views]
    alone = []
    for ks in keys:
        alone.append(all(k not in s for k, s in zip(ks, seen) if ABSENT not in k))
        for k, s in zip(ks, seen):
            s.add(k)
    rest = rest[alone]
    assert len(rest) >= 5
    stream, probes = to_events(after.head(200)), to_events(rest)
    log_dir = tmp_path / "log"
    log = DecisionLog(log_dir, flush_s=0.05)
    scorer = Scorer.open(bundle_dir, repo, log=log)
    served = []
    for i, event in enumerate(stream):
        if i == 120:
            flush(store, repo)
            carried = [k for k in TRANSACTION.keys(event) if ABSENT not in k]
            assert len(scorer.score(event).missing_state) == len(carried) >= 3
        result = scorer.score(event)
        scorer.record(event, result)
        served.append(result.decision)
    log.close()
    lost = states(scorer, probes)

    if store == "sqlite":  # the command, `fraudscore rebuild`
        from click.testing import CliRunner

        from fraudscore._cli import main

        history.to_parquet(tmp_path / "history.parquet", index=False)
        args = ["--repo", str(repo), "--data", str(tmp_path / "history.parquet")]
        done = CliRunner().invoke(main, ["rebuild", *args, "--log", str(log_dir)])
        assert done.exit_code == 0, done.output
        assert f"{len(stream):,} from the log" in done.output
    else:
        assert rebuild_store(repo, history, log_dir) == len(stream)
    rebuilt = Scorer.open(bundle_dir, repo)
    got = states(rebuilt, probes)

    decided = after.head(200).assign(decision=served)
    offline = build_features(pd.concat([history, decided, rest], ignore_index=True))
    want = offline.frame.set_index("transaction_id").loc[
        [p.transaction_id for p in probes], list(TRANSACTION.features)
    ]
    np.testing.assert_allclose(got, want.to_numpy(), rtol=1e-9, atol=1e-9)
    assert not np.allclose(lost, want.to_numpy(), rtol=1e-9, atol=1e-9, equal_nan=True)
    # The served decisions are state too: a flagged event made its card's suspicion move.
    assert any(d != "approve" for d in served) or (want["cust_flagged_1d"] == 0).all()


def flush(store: str, repo: Path) -> None:
    """Lose the online store: on Redis every key of the store's project deleted (what a FLUSHALL
    does to it, without touching the other tests' projects on the shared server), on SQLite
    every row deleted."""
    if store == "redis":
        import re

        import redis

        host, port = redis_or_skip("redis").split(":")
        project = re.search(r"project: (\S+)", (repo / "feature_store.yaml").read_text())
        assert project is not None
        server = redis.Redis(host=host, port=int(port))
        keys = list(server.scan_iter(match=b"*" + project.group(1).encode()))
        assert keys
        server.delete(*keys)
        return
    import sqlite3

    conn = sqlite3.connect(repo / "data" / "online_store.db")
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    with conn:
        for t in tables:
            conn.execute(f'DELETE FROM "{t}"')
    conn.close()


def test_rebuild_without_a_log_entry_rebuilds_the_history(
    sim: pd.DataFrame, bundle_dir: Path, tmp_path: Path
) -> None:
    """An empty log adds nothing: the store is the history's, as build_store makes it."""
    history = known_history(sim)
    repo = built(tmp_path, build_features(history), CUTOFF)
    log_dir = tmp_path / "log"
    DecisionLog(log_dir).close()
    probes = to_events(sim[sim["timestamp"] >= CUTOFF].head(20))
    before = states(Scorer.open(bundle_dir, repo), probes)
    assert rebuild_store(repo, history, log_dir) == 0
    np.testing.assert_allclose(states(Scorer.open(bundle_dir, repo), probes), before, rtol=1e-12)
