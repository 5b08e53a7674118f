"""ONNX export parity: score and Saabas contributions equal xgboost's, NaN and thresholds included."""

from __future__ import annotations

import json

import numpy as np
import onnxruntime as ort
import pytest
import xgboost as xgb
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from fraudscore._model.export import export_onnx
from fraudscore._model.fit import TrainConfig, fit_xgb
from fraudscore._model.runtime import OnnxModel

N_FEATURES = 6


@pytest.fixture(scope="module")
def model() -> tuple[xgb.Booster, np.ndarray]:
    """An early-stopped booster (cut to best_iteration + 1) and its split thresholds."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4000, N_FEATURES))
    x[rng.random(x.shape) < 0.15] = np.nan
    logit = 2 * np.nan_to_num(x[:, 0]) - np.nan_to_num(x[:, 1]) ** 2 + np.isnan(x[:, 2]) * 1.5
    y = (rng.random(4000) < 1 / (1 + np.exp(-logit + 2))).astype(int)
    cfg = TrainConfig(n_estimators=300, early_stopping_rounds=10, max_depth=4)
    booster = fit_xgb(x[:3000], y[:3000], x[3000:], y[3000:], cfg)
    trees = json.loads(booster.save_raw("json"))["learner"]["gradient_booster"]["model"]["trees"]
    thresholds = np.unique(
        [
            c
            for t in trees
            for c, left in zip(t["split_conditions"], t["left_children"])
            if left != -1
        ]
    )
    return booster, thresholds


def run(booster: xgb.Booster, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    onnx_model = export_onnx(booster, [f"f{i}" for i in range(N_FEATURES)])
    return OnnxModel(onnx_model.SerializeToString(), N_FEATURES).run(x.astype(np.float32))


def reference(booster: xgb.Booster, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    d = xgb.DMatrix(x.astype(np.float32))
    return booster.predict(d), booster.predict(d, pred_contribs=True, approx_contribs=True)


def rows_from(thresholds: np.ndarray) -> st.SearchStrategy[np.ndarray]:
    """Rows mixing exact split thresholds, NaN and arbitrary finite values."""
    cell = st.one_of(
        st.sampled_from([float(v) for v in thresholds]),
        st.just(float("nan")),
        st.floats(-5, 5, allow_nan=False, width=32),
    )
    return arrays(np.float64, (8, N_FEATURES), elements=cell)


def test_export_keeps_only_best_iteration_trees(monkeypatch: pytest.MonkeyPatch) -> None:
    """Early stopping at a known iteration: fit_xgb keeps exactly best_iteration + 1 trees, the
    graph holds exactly those, and its scores are the cut booster's, not the uncut one's."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3000, N_FEATURES))
    y = (rng.random(3000) < 1 / (1 + np.exp(-2 * x[:, 0] + 2))).astype(int)
    uncut: list[xgb.Booster] = []
    train = xgb.train

    def spy(*args: object, **kwargs: object) -> xgb.Booster:
        booster = train(*args, **kwargs)  # type: ignore[arg-type]
        uncut.append(booster)
        return booster

    monkeypatch.setattr(xgb, "train", spy)
    cfg = TrainConfig(n_estimators=400, early_stopping_rounds=15, max_depth=3, learning_rate=0.3)
    cut = fit_xgb(x[:2000], y[:2000], x[2000:], y[2000:], cfg)
    full = uncut[0]
    best = full.best_iteration
    assert full.num_boosted_rounds() == best + 1 + 15 < 400  # it did stop early
    assert cut.num_boosted_rounds() == best + 1
    graph = export_onnx(cut, [f"f{i}" for i in range(N_FEATURES)])
    tree_ids = next(a.ints for a in graph.graph.node[0].attribute if a.name == "nodes_treeids")
    assert len(set(tree_ids)) == best + 1
    prob, _ = OnnxModel(graph.SerializeToString(), N_FEATURES).run(x[2000:].astype(np.float32))
    d = xgb.DMatrix(x[2000:].astype(np.float32))
    np.testing.assert_allclose(prob, cut.predict(d), rtol=1e-5, atol=1e-6)
    assert np.abs(prob - full.predict(d)).max() > 1e-4


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_onnx_matches_xgboost_on_nan_and_threshold_rows(
    model: tuple[xgb.Booster, np.ndarray], data: st.DataObject
) -> None:
    """Probability equals predict(); contributions equal pred_contribs(approx_contribs=True)."""
    booster, thresholds = model
    x = data.draw(rows_from(thresholds))
    prob, contrib = run(booster, x)
    ref_prob, ref_contrib = reference(booster, x)
    np.testing.assert_allclose(prob, ref_prob, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(contrib, ref_contrib, rtol=1e-4, atol=2e-5)
    # Contributions sum to xgboost's own margin (not the graph's: that would be circular).
    margin = booster.predict(xgb.DMatrix(x.astype(np.float32)), output_margin=True)
    np.testing.assert_allclose(contrib.sum(axis=1), margin, rtol=1e-4, atol=1e-4)


def test_values_exactly_at_a_threshold_go_right(model: tuple[xgb.Booster, np.ndarray]) -> None:
    """A value equal to a split threshold follows xgboost (x < t goes left, so equality goes right)."""
    booster, thresholds = model
    x = np.tile(np.nan, (len(thresholds), N_FEATURES))
    for j in range(N_FEATURES):
        x[:, j] = thresholds
    prob, contrib = run(booster, x)
    ref_prob, ref_contrib = reference(booster, x)
    np.testing.assert_allclose(prob, ref_prob, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(contrib, ref_contrib, rtol=1e-4, atol=2e-5)


def test_onnxmltools_agrees_on_the_score(model: tuple[xgb.Booster, np.ndarray]) -> None:
    """A second opinion: onnxmltools' own conversion gives the same probability."""
    onnxmltools = pytest.importorskip("onnxmltools")
    from onnxmltools.convert.common.data_types import FloatTensorType

    booster, _ = model
    clf = xgb.XGBClassifier()
    clf._Booster = booster
    clf.n_classes_ = 2
    converted = onnxmltools.convert_xgboost(
        clf, initial_types=[("input", FloatTensorType([None, N_FEATURES]))], target_opset=15
    )
    session = ort.InferenceSession(
        converted.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    rng = np.random.default_rng(5)
    x = rng.normal(size=(200, N_FEATURES)).astype(np.float32)
    x[rng.random(x.shape) < 0.2] = np.nan
    theirs = session.run(None, {"input": x})[1]
    theirs = np.array([row[1] for row in theirs]) if isinstance(theirs, list) else theirs[:, 1]
    prob, _ = run(booster, x)
    np.testing.assert_allclose(prob, theirs, rtol=1e-5, atol=1e-6)


def test_graph_probability_output_equals_the_runtime_score(
    model: tuple[xgb.Booster, np.ndarray],
) -> None:
    """The graph's own ReduceSum -> Sigmoid output agrees with the runtime's float64 score."""
    booster, _ = model
    graph = export_onnx(booster, [f"f{i}" for i in range(N_FEATURES)])
    session = ort.InferenceSession(graph.SerializeToString(), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(9).normal(size=(300, N_FEATURES)).astype(np.float32)
    (prob,) = session.run(["probability"], {"features": x})
    score, _ = OnnxModel(graph.SerializeToString(), N_FEATURES).run(x)
    np.testing.assert_allclose(prob[:, 0], score, rtol=1e-6, atol=1e-7)
