"""Shared fixtures: one small simulated history, its Feast store and a trained bundle."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from fraudscore._offline import OfflineFeatures
from fraudscore._pipeline import build_store, offline_features, train_model
from fraudscore._simulate import TransactionSimConfig, simulate_transactions

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


@pytest.fixture(scope="session")
def built_repo(tmp_path_factory: pytest.TempPathFactory, offline: OfflineFeatures) -> Path:
    """A Feast repo applied and materialized as of CUTOFF (treat as read-only)."""
    repo = copy_repo(tmp_path_factory.mktemp("feast") / "feature_repo")
    as_of = (CUTOFF - pd.Timedelta(microseconds=1)).to_pydatetime()
    build_store(repo, offline, as_of=as_of)
    return repo


@pytest.fixture
def repo(built_repo: Path, tmp_path: Path) -> Path:
    """A private copy of the built repo: tests may write to its online store."""
    dst = tmp_path / "feature_repo"
    shutil.copytree(built_repo, dst)
    return dst


@pytest.fixture(scope="session")
def bundle_dir(tmp_path_factory: pytest.TempPathFactory, offline: OfflineFeatures) -> Path:
    out = tmp_path_factory.mktemp("bundle") / "bundle"
    train_model(offline.frame, *TRAIN, out, offline=offline)
    return out
