"""Scorer.open without Feast: the serving descriptor written by apply and materialize gives the
same layout as Feast's own objects, opens without importing Feast, and a stale descriptor falls
back to the Feast path."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from fraudscore import FeastSource, open_source
from fraudscore._feast import _quiet, open_store, repo_objects
from fraudscore._kinds import KINDS
from fraudscore._online.layout import DESCRIPTOR, from_descriptor, from_store
from fraudscore._online.repo import apply_repo

from .conftest import private_copy, store_params

OPEN_AND_SCORE = """
import json, sys
from datetime import datetime, timezone
from fraudscore import Scorer, Transaction
scorer = Scorer.open(sys.argv[1], sys.argv[2])
result = scorer.score(Transaction("t", datetime(2018, 5, 8, 1, tzinfo=timezone.utc), "C1", "T1", 5.0))
print(json.dumps({
    "feast": sorted(m for m in sys.modules if m == "feast" or m.startswith("feast.")),
    "source": type(scorer.source).__name__,
    "score": result.score,
}))
"""


def open_in_a_new_process(bundle: Path, repo: Path) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-c", OPEN_AND_SCORE, str(bundle), str(repo)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return json.loads(out.stdout.splitlines()[-1])


@pytest.mark.parametrize("store", store_params())
def test_open_and_score_import_no_feast(
    built_on: Callable[[str, str], Path], bundle_dir: Path, store: str
) -> None:
    """In a fresh process, Scorer.open and a score on an applied repo leave no feast module in
    sys.modules, on SQLite, Redis and Redis Cluster."""
    got = open_in_a_new_process(bundle_dir, built_on("transaction", store))
    assert got["feast"] == []
    assert got["source"] == ("SqliteSource" if store == "sqlite" else "RedisSource")


@pytest.mark.parametrize("store", store_params())
@pytest.mark.parametrize("kind", ["transaction", "login"])
def test_descriptor_layout_equals_feasts(
    built_on: Callable[[str, str], Path], kind: str, store: str
) -> None:
    """After apply and materialize, the descriptor (plus feature_store.yaml) gives exactly the
    layout Feast's objects give, and a source opened through it reads what Feast reads."""
    repo = built_on(kind, store)
    fast = from_descriptor(repo)
    assert fast is not None, "the descriptor is missing or stale after apply + materialize"
    ref = from_store(open_store(repo))
    assert (fast.project, fast.key_version, fast.views) == (ref.project, ref.key_version, ref.views)
    assert {k: v for k, v in fast.online.items() if v is not None} == ref.online
    views = KINDS[kind].views
    source, feast = open_source(repo, views), FeastSource(open_store(repo), views)
    keys = [("nobody",) * len(v.keys) for v in views]
    for a, b in zip(source.read_one(keys), feast.read_one(keys)):
        np.testing.assert_array_equal(a, b)


def test_stale_descriptor_falls_back_to_feast(
    built_repo: Path, bundle_dir: Path, tmp_path: Path
) -> None:
    """A plain Feast apply changes the registry: the descriptor no longer matches, and open goes
    through Feast (correct, slower) until fraudscore apply writes the descriptor again."""
    repo = private_copy(built_repo, tmp_path)
    fast = open_in_a_new_process(bundle_dir, repo)
    assert fast["feast"] == []
    store = open_store(repo)
    with _quiet():
        store.apply(repo_objects(repo))  # `feast apply`, without fraudscore
    assert (repo / "data" / DESCRIPTOR).is_file() and from_descriptor(repo) is None
    slow = open_in_a_new_process(bundle_dir, repo)
    assert slow["feast"] and slow["score"] == fast["score"]
    apply_repo(repo)
    assert from_descriptor(repo) is not None
    assert open_in_a_new_process(bundle_dir, repo)["feast"] == []


def test_a_missing_descriptor_opens_through_feast(built_repo: Path, tmp_path: Path) -> None:
    """A repo applied by Feast alone (no descriptor) still opens, through Feast's objects."""
    repo = private_copy(built_repo, tmp_path)
    (repo / "data" / DESCRIPTOR).unlink()
    assert from_descriptor(repo) is None
    views = KINDS["transaction"].views[:3]  # card, terminal, pair
    keys = [("C000001",), ("T000001",), ("C000001", "T000001")]
    got = open_source(repo, views).read_one(keys)
    for a, b in zip(got, FeastSource(open_store(repo), views).read_one(keys)):
        np.testing.assert_array_equal(a, b)
