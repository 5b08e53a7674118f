"""Benchmark fixtures: realistic stores built once, distinct live events, both scoring paths.

Everything is built outside the timed calls. Each store holds state as of a cutoff; benchmarks
score the events that follow it, cycling through them so that no two consecutive calls repeat.
"""

from __future__ import annotations

import itertools
import math
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

from fraudscore import (
    LoginSimConfig,
    Scorer,
    TransactionSimConfig,
    simulate_logins,
    simulate_transactions,
)
from fraudscore._feast import open_store
from fraudscore._kinds import LOGIN, TRANSACTION, EventKind
from fraudscore._state import PY
from fraudscore._training.evaluate import default_windows
from fraudscore._training.pipeline import build_features, build_store, to_events, train_model

REPO_TEMPLATE = Path(__file__).resolve().parents[1] / "feature_repo"
CONFIG = TransactionSimConfig(n_customers=2_000, n_terminals=4_000, n_days=60, seed=11)
LOGIN_CONFIG = LoginSimConfig(n_users=2_000, n_days=60, seed=11)


def build_world(root: Path, kind: EventKind, data: pd.DataFrame) -> dict[str, Any]:
    offline = build_features(data, kind)
    frame = offline.frame
    cutoff = (frame["timestamp"].max() - pd.Timedelta(days=6)).normalize()
    repo = root / "feature_repo"
    shutil.copytree(REPO_TEMPLATE, repo, ignore=shutil.ignore_patterns("data", "__pycache__"))
    build_store(repo, offline, as_of=(cutoff - pd.Timedelta(microseconds=1)).to_pydatetime())
    train_start, train_end, _, _ = default_windows(frame, train_days=28)
    trained = train_model(offline, train_start, train_end, root / "bundle")
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


class Peer:
    """What a user would write without fraudscore, on the same Feast repo and model: Feast's
    ``get_online_features`` on the model's feature service, then the features computed from the
    state by the same functions as ours. Subclasses differ in how they score and explain."""

    def __init__(self, kind: EventKind, repo: Path, booster: xgb.Booster) -> None:
        self.kind = kind
        self.store = open_store(repo)
        self.service = self.store.get_feature_service(kind.feature_service)
        self.booster = booster
        self.columns = [[f"{v.name}__{f}" for f in v.fields] for v in kind.views]
        matrix = np.zeros((len(kind.features), len(kind.catalogue["codes"])))
        self.codes = sorted(kind.catalogue["codes"])
        for j, code in enumerate(self.codes):
            for f in kind.catalogue["codes"][code]["features"]:
                matrix[kind.features.index(f), j] = 1.0
        self.matrix = matrix

    def read(self, event: Any) -> dict[str, Any]:
        """``get_online_features(...).to_dict()`` for every view of the event."""
        row: dict[str, str] = {}
        for view, key in zip(self.kind.views, self.kind.keys(event)):
            row.update(zip(view.keys, key))
        return self.store.get_online_features(
            features=self.service, entity_rows=[row], full_feature_names=True
        ).to_dict()

    def features(self, event: Any) -> np.ndarray:
        got = self.read(event)
        kind = self.kind
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
        return np.array([kind.compute(cols, reads, PY)], dtype=np.float32)

    def top_codes(self, contrib: np.ndarray, k: int = 3) -> list[str]:
        sums = contrib @ self.matrix
        order = sorted(range(len(sums)), key=lambda j: (-sums[j], self.codes[j]))
        return [self.codes[j] for j in order[:k] if sums[j] > 0]

    def score(self, event: Any) -> tuple[float, list[str]]:
        raise NotImplementedError


class UserPath(Peer):
    """The common path: the onnxmltools-converted model for the score, and xgboost's exact
    TreeSHAP (``pred_contribs``) for the reasons."""

    def __init__(self, kind: EventKind, repo: Path, booster: xgb.Booster) -> None:
        import onnxmltools
        import onnxruntime as ort
        from onnxmltools.convert.common.data_types import FloatTensorType

        super().__init__(kind, repo, booster)
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

    def score(self, event: Any) -> tuple[float, list[str]]:
        x = self.features(event)
        prob = self.session.run(None, {"input": x})[1]
        contrib = self.booster.predict(xgb.DMatrix(x), pred_contribs=True)[0, :-1]
        p = float(prob[0][1] if isinstance(prob, list) else prob[0, 1])
        return p, self.top_codes(contrib)


class LeanPath(Peer):
    """The strongest peer, doing the same work as fraudscore: the same read and features,
    xgboost's Saabas contributions (``approx_contribs``, the algorithm of our graph) in one
    predict, and the score as the sigmoid of their sum (no second model)."""

    def score(self, event: Any) -> tuple[float, list[str]]:
        x = self.features(event)
        contrib = self.booster.predict(xgb.DMatrix(x), pred_contribs=True, approx_contribs=True)[0]
        p = 1.0 / (1.0 + math.exp(-float(contrib.sum(dtype=np.float64))))
        return p, self.top_codes(contrib[:-1])


def interleaved(
    benchmark: Any,
    against: str,
    ours: Callable[[Any], Any],
    theirs: Callable[[Any], Any],
    events: list[Any],
    blocks: int = 20,
    block: int = 25,
) -> float:
    """The p50 ratio theirs / ours, measured in alternating blocks of calls on the same events.

    Benchmarks run one after another, so a machine that slows down for a while (this one is
    shared) shifts one benchmark's median and not the other's. Alternating blocks of ``block``
    calls exposes both paths to the same machine, while each block runs warm, as a service
    calling one path repeatedly does (alternating call by call would measure both cold). The
    ratio goes into the JSON (``extra_info["vs"]``) for ``check_ratios.py``.
    """
    a: list[float] = []
    b: list[float] = []
    at = 0
    for _ in range(blocks):
        chunk = [events[(at + i) % len(events)] for i in range(block)]
        at += block
        for fn, out in ((ours, a), (theirs, b)):
            for event in chunk:
                t0 = time.perf_counter()
                fn(event)
                out.append(time.perf_counter() - t0)
    ratio = float(np.median(b) / np.median(a))
    benchmark.extra_info.setdefault("vs", {})[against] = ratio
    return ratio


def bench_peer(benchmark: Any, peer: Peer, live: list[Any], scorer: Scorer, against: str) -> None:
    """Time ``peer.score`` over distinct live events, then its interleaved ratio to
    ``scorer.score`` (the benchmark ``against``); check the two agree beside."""
    nxt = cycle(live)
    score, _ = benchmark(lambda: peer.score(nxt()))
    assert 0.0 <= score <= 1.0
    interleaved(benchmark, against, scorer.score, peer.score, live[1000:])
    for event in live[:20]:
        assert peer.score(event)[0] == pytest.approx(scorer.score(event).score, abs=1e-5)


def bench_read(benchmark: Any, peer: Peer, live: list[Any], scorer: Scorer, against: str) -> None:
    """Time ``get_online_features(...).to_dict()`` alone (the read and nothing else), then its
    interleaved ratio to a whole ``scorer.score``."""
    nxt = cycle(live)
    got = benchmark(lambda: peer.read(nxt()))
    assert len(got) > len(peer.kind.views)
    interleaved(benchmark, against, scorer.score, peer.read, live[1000:])


@pytest.fixture(scope="session")
def scorer(world: dict[str, Any]) -> Scorer:
    return Scorer.open(world["bundle"], world["repo"])


@pytest.fixture(scope="session")
def user_path(world: dict[str, Any]) -> UserPath:
    return UserPath(TRANSACTION, world["repo"], world["trained"].booster)


@pytest.fixture(scope="session")
def lean_path(world: dict[str, Any]) -> LeanPath:
    return LeanPath(TRANSACTION, world["repo"], world["trained"].booster)


@pytest.fixture(scope="session")
def login_lean_path(login_world: dict[str, Any]) -> LeanPath:
    return LeanPath(LOGIN, login_world["repo"], login_world["trained"].booster)


@pytest.fixture(scope="session")
def redis_lean_path(redis_world: dict[str, Any]) -> LeanPath:
    return LeanPath(TRANSACTION, redis_world["repo"], redis_world["trained"].booster)


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
