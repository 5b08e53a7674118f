"""Benchmark fixtures: realistic stores built once, distinct live events, both scoring paths.

Everything is built outside the timed calls. Each store holds state as of a cutoff; benchmarks
score the events that follow it, cycling through them so that no two consecutive calls repeat.
"""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

from fraudscore import Scorer
from fraudscore._evaluate import default_windows
from fraudscore._feast import open_store
from fraudscore._kinds import LOGIN, TRANSACTION, EventKind
from fraudscore._pipeline import build_store, offline_features, to_events, train_model
from fraudscore._simulate import TransactionSimConfig, simulate_transactions
from fraudscore._simulate_logins import LoginSimConfig, simulate_logins
from fraudscore._state import PY

REPO_TEMPLATE = Path(__file__).resolve().parents[1] / "feature_repo"
CONFIG = TransactionSimConfig(n_customers=2_000, n_terminals=4_000, n_days=60, seed=11)
LOGIN_CONFIG = LoginSimConfig(n_users=2_000, n_days=60, seed=11)


def build_world(root: Path, kind: EventKind, data: pd.DataFrame) -> dict[str, Any]:
    offline = offline_features(data, kind)
    frame = offline.frame
    cutoff = (frame["timestamp"].max() - pd.Timedelta(days=6)).normalize()
    repo = root / "feature_repo"
    shutil.copytree(REPO_TEMPLATE, repo, ignore=shutil.ignore_patterns("data", "__pycache__"))
    build_store(repo, offline, as_of=(cutoff - pd.Timedelta(microseconds=1)).to_pydatetime())
    train_start, train_end, _, _ = default_windows(frame, train_days=28)
    trained = train_model(frame, train_start, train_end, root / "bundle", kind, offline=offline)
    live = to_events(frame[frame["timestamp"] >= cutoff].head(20_000), kind)
    return {
        "repo": repo,
        "bundle": root / "bundle",
        "trained": trained,
        "live": live,
        "offline": offline,
        "cutoff": cutoff,
    }


def on_redis(root: Path, world: dict[str, Any], redis_type: str = "redis") -> dict[str, Any]:
    """The same world with its state on a live Redis server (skips when there is none)."""
    from tests.conftest import use_store

    repo = root / "feature_repo"
    shutil.copytree(REPO_TEMPLATE, repo, ignore=shutil.ignore_patterns("data", "__pycache__"))
    use_store(repo, redis_type)
    as_of = (world["cutoff"] - pd.Timedelta(microseconds=1)).to_pydatetime()
    build_store(repo, world["offline"], as_of=as_of)
    return {**world, "repo": repo}


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return build_world(tmp_path_factory.mktemp("bench"), TRANSACTION, simulate_transactions(CONFIG))


@pytest.fixture(scope="session")
def login_world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return build_world(tmp_path_factory.mktemp("bench_login"), LOGIN, simulate_logins(LOGIN_CONFIG))


def cycle(events: list[Any]) -> Callable[[], Any]:
    it: Iterator[Any] = itertools.cycle(events)
    return lambda: next(it)


class UserPath:
    """What a user would write without fraudscore: Feast's get_online_features on the model's
    feature service, the onnxmltools conversion of the model, and xgboost pred_contribs for the
    top-3 reasons. Features are computed from the state with the same functions as ours."""

    def __init__(self, kind: EventKind, repo: Path, booster: xgb.Booster) -> None:
        import onnxmltools
        import onnxruntime as ort
        from onnxmltools.convert.common.data_types import FloatTensorType

        self.kind = kind
        self.store = open_store(repo)
        self.service = self.store.get_feature_service(kind.feature_service)
        clf = xgb.XGBClassifier()
        clf._Booster = booster
        clf.n_classes_ = 2
        n = len(kind.features)
        onx = onnxmltools.convert_xgboost(
            clf, initial_types=[("input", FloatTensorType([None, n]))], target_opset=15
        )
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        self.session = ort.InferenceSession(
            onx.SerializeToString(), options, providers=["CPUExecutionProvider"]
        )
        self.booster = booster
        self.columns = [[f"{v.name}__{f}" for f in v.fields] for v in kind.views]

    def score(self, event: Any) -> tuple[float, list[str]]:
        kind = self.kind
        row: dict[str, str] = {}
        for view, key in zip(kind.views, kind.keys(event)):
            row.update(zip(view.keys, key))
        got = self.store.get_online_features(
            features=self.service, entity_rows=[row], full_feature_names=True
        ).to_dict()
        cols = kind.values(event)
        reads = {}
        for view, names in zip(kind.views, self.columns):
            stored = [got[c][0] for c in names]
            state = (
                view.empty_row()
                if all(v is None for v in stored)
                else [float("nan") if v is None else v for v in stored]
            )
            reads[view.name] = view.read(state, cols["t"], PY)[0]
        x = np.array([kind.compute(cols, reads, PY)], dtype=np.float32)
        prob = self.session.run(None, {"input": x})[1]
        contrib = self.booster.predict(xgb.DMatrix(x), pred_contribs=True)[0, :-1]
        top = [kind.features[i] for i in np.argsort(-contrib)[:3] if contrib[i] > 0]
        return float(prob[0][1] if isinstance(prob, list) else prob[0, 1]), top


@pytest.fixture(scope="session")
def scorer(world: dict[str, Any]) -> Scorer:
    return Scorer.open(world["bundle"], world["repo"])


@pytest.fixture(scope="session")
def user_path(world: dict[str, Any]) -> UserPath:
    return UserPath(TRANSACTION, world["repo"], world["trained"].booster)


@pytest.fixture(scope="session")
def login_scorer(login_world: dict[str, Any]) -> Scorer:
    return Scorer.open(login_world["bundle"], login_world["repo"])


@pytest.fixture(scope="session")
def login_user_path(login_world: dict[str, Any]) -> UserPath:
    return UserPath(LOGIN, login_world["repo"], login_world["trained"].booster)


@pytest.fixture(scope="session")
def redis_world(tmp_path_factory: pytest.TempPathFactory, world: dict[str, Any]) -> dict[str, Any]:
    return on_redis(tmp_path_factory.mktemp("bench_redis"), world)


@pytest.fixture(scope="session")
def redis_scorer(redis_world: dict[str, Any]) -> Scorer:
    return Scorer.open(redis_world["bundle"], redis_world["repo"])


@pytest.fixture(scope="session")
def redis_user_path(redis_world: dict[str, Any]) -> UserPath:
    return UserPath(TRANSACTION, redis_world["repo"], redis_world["trained"].booster)


@pytest.fixture
def writable_scorer(world: dict[str, Any], tmp_path: Path) -> Scorer:
    repo = tmp_path / "feature_repo"
    shutil.copytree(world["repo"], repo)
    return Scorer.open(world["bundle"], repo)
