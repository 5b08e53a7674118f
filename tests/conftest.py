"""Shared fixtures: one small simulated history, its Feast store and a trained bundle."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import prometheus_client  # noqa: F401  (before Feast: see below)
import pytest

from fraudscore import (
    LoginSimConfig,
    OfflineFeatures,
    Scorer,
    TrainedModel,
    TransactionSimConfig,
    build_features,
    build_store,
    simulate_logins,
    simulate_transactions,
    train_model,
)

# Importing Feast sets PROMETHEUS_MULTIPROC_DIR (to a folder of its own) when it is unset, and a
# prometheus_client imported after that runs in multiprocess mode, where every ScorerMetrics of a
# process shares its values: the tests' counts would then add up across tests. Importing the
# client first keeps this process in single-process mode; tests/test_metrics.py runs the
# multiprocess mode in processes of its own.
REPO_TEMPLATE = Path(__file__).resolve().parents[1] / "feature_repo"
SMALL = TransactionSimConfig(n_customers=150, n_terminals=300, n_days=40, seed=3)
#: The online store holds state as of this instant; tests replay what comes after.
CUTOFF = pd.Timestamp("2018-05-08", tz="UTC")
TRAIN = (date(2018, 4, 8), date(2018, 5, 1))


@pytest.fixture(scope="session")
def sim() -> pd.DataFrame:
    return simulate_transactions(SMALL)


@pytest.fixture(scope="session")
def offline(sim: pd.DataFrame) -> OfflineFeatures:
    return build_features(sim)


def copy_repo(dst: Path) -> Path:
    shutil.copytree(REPO_TEMPLATE, dst, ignore=shutil.ignore_patterns("data", "__pycache__"))
    return dst


def built(
    root: Path,
    offline: OfflineFeatures,
    cutoff: pd.Timestamp,
    store: str = "sqlite",
    connection: str | None = None,
) -> Path:
    """A Feast repo on ``store``, applied and materialized as of ``cutoff``."""
    repo = use_store(copy_repo(root / "feature_repo"), store, connection)
    build_store(repo, offline, as_of=(cutoff - pd.Timedelta(microseconds=1)).to_pydatetime())
    return repo


# Online stores ---------------------------------------------------------------------------------

#: Real Redis servers on loopback (``.ci/redis start`` starts them). Tests that need one skip when
#: it is not there, unless FRAUDSCORE_REQUIRE_REDIS=1 (CI), which turns the skip into a failure.
REDIS = {
    "redis": os.environ.get("FRAUDSCORE_REDIS", "127.0.0.1:6390"),
    "redis_cluster": os.environ.get(
        "FRAUDSCORE_REDIS_CLUSTER", "127.0.0.1:7390,127.0.0.1:7391,127.0.0.1:7392"
    ),
}
REQUIRE_REDIS = os.environ.get("FRAUDSCORE_REQUIRE_REDIS") == "1"
STORES = ("sqlite", "redis", "redis_cluster")


def redis_or_skip(redis_type: str) -> str:
    """The connection string of a live server of ``redis_type``; skip (or fail in CI) if none."""
    import socket

    import redis

    conn = REDIS[redis_type]
    host, port = conn.split(",")[0].split(":")
    try:
        socket.create_connection((host, int(port)), timeout=1).close()  # fast "nobody there"
        if redis_type == "redis_cluster":
            from redis.cluster import ClusterNode, RedisCluster

            RedisCluster(startup_nodes=[ClusterNode(host, int(port))], socket_timeout=2).ping()
        else:
            redis.Redis(host=host, port=int(port), socket_timeout=2).ping()
    except Exception as exc:  # refused, timed out, not a cluster: no usable server
        message = f"no {redis_type} server at {conn} ({exc}); run `.ci/redis start DIR`"
        if REQUIRE_REDIS:
            pytest.fail(message)
        pytest.skip(message)
    return conn


def use_store(repo: Path, store: str, connection: str | None = None) -> Path:
    """Point ``repo`` at the online store ``store`` (sqlite, redis or redis_cluster).

    A Redis repo gets a project name of its own, so that tests sharing one server never see
    each other's keys (Feast's Redis keys end with the project name).
    """
    if store == "sqlite":
        return repo
    connection = connection or redis_or_skip(store)
    path = repo / "feature_store.yaml"
    text = path.read_text().replace("project: fraudscore", f"project: t_{uuid.uuid4().hex[:12]}")
    online = f'type: redis\n  redis_type: {store}\n  connection_string: "{connection}"'
    path.write_text(text.replace("type: sqlite\n  path: data/online_store.db", online))
    return repo


def store_params() -> list[Any]:
    """``sqlite``, ``redis`` and ``redis_cluster``, the Redis ones marked ``redis``."""
    return [pytest.param(s, marks=() if s == "sqlite" else pytest.mark.redis, id=s) for s in STORES]


def private_copy(repo: Path, tmp_path: Path) -> Path:
    """A copy of a built repo that a test may write to."""
    dst = tmp_path / "feature_repo"
    shutil.copytree(repo, dst)
    return dst


def capture_features(scorer: Scorer) -> list[np.ndarray]:
    """Make ``scorer`` keep a copy of every feature row it computes; returns the list."""
    captured: list[np.ndarray] = []
    original = scorer.kind.compute

    def spy(cols: Any, reads: Any, xp: Any) -> Any:
        x = original(cols, reads, xp)
        captured.append(np.array(x, dtype=float))
        return x

    spied = replace(scorer.kind, compute=spy)
    object.__setattr__(scorer, "kind", spied)
    scorer._assembly.kind = spied  # the scorer's feature assembly computes them
    return captured


@pytest.fixture(scope="session")
def built_repo(tmp_path_factory: pytest.TempPathFactory, offline: OfflineFeatures) -> Path:
    return built(tmp_path_factory.mktemp("feast"), offline, CUTOFF)


@pytest.fixture
def repo(built_repo: Path, tmp_path: Path) -> Path:
    return private_copy(built_repo, tmp_path)


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory, offline: OfflineFeatures) -> TrainedModel:
    out = tmp_path_factory.mktemp("bundle") / "bundle"
    return train_model(offline, *TRAIN, out)


@pytest.fixture(scope="session")
def bundle_dir(trained: TrainedModel) -> Path:
    return Path(trained.bundle.path)


@pytest.fixture
def scorer(bundle_dir: Path, repo: Path) -> Scorer:
    """A transaction scorer on a private copy of the built SQLite repo."""
    return Scorer.open(bundle_dir, repo)


# Logins ---------------------------------------------------------------------------------------

LOGIN_SMALL = LoginSimConfig(n_users=300, n_days=40, seed=4)
LOGIN_CUTOFF = pd.Timestamp("2018-05-06", tz="UTC")
LOGIN_TRAIN = (date(2018, 4, 8), date(2018, 4, 30))


@pytest.fixture(scope="session")
def login_sim() -> pd.DataFrame:
    return simulate_logins(LOGIN_SMALL)


@pytest.fixture(scope="session")
def login_offline(login_sim: pd.DataFrame) -> OfflineFeatures:
    return build_features(login_sim, "login")


@pytest.fixture(scope="session")
def built_login_repo(
    tmp_path_factory: pytest.TempPathFactory, login_offline: OfflineFeatures
) -> Path:
    return built(tmp_path_factory.mktemp("feast_login"), login_offline, LOGIN_CUTOFF)


@pytest.fixture
def login_repo(built_login_repo: Path, tmp_path: Path) -> Path:
    return private_copy(built_login_repo, tmp_path)


@pytest.fixture(scope="session")
def login_trained(
    tmp_path_factory: pytest.TempPathFactory, login_offline: OfflineFeatures
) -> TrainedModel:
    out = tmp_path_factory.mktemp("login_bundle") / "bundle"
    return train_model(login_offline, *LOGIN_TRAIN, out)


@pytest.fixture(scope="session")
def login_bundle_dir(login_trained: TrainedModel) -> Path:
    return Path(login_trained.bundle.path)


# Repos on each online store ------------------------------------------------------------------


@pytest.fixture(scope="session")
def built_on(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Callable[[str, str], Path]:
    """``built_on(kind, store)``: a read-only repo of ``kind`` on ``store``, built once."""
    cache: dict[tuple[str, str], Path] = {}

    def get(kind: str, store: str) -> Path:
        if (kind, store) not in cache:
            name, cutoff = (
                ("offline", CUTOFF) if kind == "transaction" else ("login_offline", LOGIN_CUTOFF)
            )
            root = tmp_path_factory.mktemp(f"{kind}_{store}")
            cache[kind, store] = built(root, request.getfixturevalue(name), cutoff, store)
        return cache[kind, store]

    return get


@pytest.fixture
def fresh_on(tmp_path: Path, request: pytest.FixtureRequest) -> Callable[[str, str], Path]:
    """``fresh_on(kind, store)``: a repo of ``kind`` on ``store`` that the test may write to."""

    def get(kind: str, store: str) -> Path:
        name, cutoff = (
            ("offline", CUTOFF) if kind == "transaction" else ("login_offline", LOGIN_CUTOFF)
        )
        return built(tmp_path / f"{kind}_{store}", request.getfixturevalue(name), cutoff, store)

    return get
