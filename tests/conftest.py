"""Shared fixtures: one small simulated history, its Feast store and a trained bundle."""

from __future__ import annotations

import shutil
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from fraudscore import Scorer
from fraudscore._kinds import LOGIN
from fraudscore._offline import OfflineFeatures
from fraudscore._pipeline import build_store, offline_features, train_model
from fraudscore._simulate import TransactionSimConfig, simulate_transactions
from fraudscore._simulate_logins import LoginSimConfig, simulate_logins

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
    return offline_features(sim)


def copy_repo(dst: Path) -> Path:
    shutil.copytree(REPO_TEMPLATE, dst, ignore=shutil.ignore_patterns("data", "__pycache__"))
    return dst


def built(root: Path, offline: OfflineFeatures, cutoff: pd.Timestamp) -> Path:
    """A Feast repo applied and materialized as of ``cutoff`` (treat as read-only)."""
    repo = copy_repo(root / "feature_repo")
    build_store(repo, offline, as_of=(cutoff - pd.Timedelta(microseconds=1)).to_pydatetime())
    return repo


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

    object.__setattr__(scorer, "kind", replace(scorer.kind, compute=spy))
    return captured


@pytest.fixture(scope="session")
def built_repo(tmp_path_factory: pytest.TempPathFactory, offline: OfflineFeatures) -> Path:
    return built(tmp_path_factory.mktemp("feast"), offline, CUTOFF)


@pytest.fixture
def repo(built_repo: Path, tmp_path: Path) -> Path:
    return private_copy(built_repo, tmp_path)


@pytest.fixture(scope="session")
def bundle_dir(tmp_path_factory: pytest.TempPathFactory, offline: OfflineFeatures) -> Path:
    out = tmp_path_factory.mktemp("bundle") / "bundle"
    train_model(offline.frame, *TRAIN, out, offline=offline)
    return out


# Logins ---------------------------------------------------------------------------------------

LOGIN_SMALL = LoginSimConfig(n_users=300, n_days=40, seed=4)
LOGIN_CUTOFF = pd.Timestamp("2018-05-06", tz="UTC")
LOGIN_TRAIN = (date(2018, 4, 8), date(2018, 4, 30))


@pytest.fixture(scope="session")
def login_sim() -> pd.DataFrame:
    return simulate_logins(LOGIN_SMALL)


@pytest.fixture(scope="session")
def login_offline(login_sim: pd.DataFrame) -> OfflineFeatures:
    return offline_features(login_sim, LOGIN)


@pytest.fixture(scope="session")
def built_login_repo(
    tmp_path_factory: pytest.TempPathFactory, login_offline: OfflineFeatures
) -> Path:
    return built(tmp_path_factory.mktemp("feast_login"), login_offline, LOGIN_CUTOFF)


@pytest.fixture
def login_repo(built_login_repo: Path, tmp_path: Path) -> Path:
    return private_copy(built_login_repo, tmp_path)


@pytest.fixture(scope="session")
def login_bundle_dir(
    tmp_path_factory: pytest.TempPathFactory, login_offline: OfflineFeatures
) -> Path:
    out = tmp_path_factory.mktemp("login_bundle") / "bundle"
    train_model(login_offline.frame, *LOGIN_TRAIN, out, LOGIN, offline=login_offline)
    return out
