"""Export an XGBoost binary classifier to one ONNX graph: score and Saabas contributions.

Graph::

    features[N, F] --TreeEnsembleRegressor(F+1 targets)--> contributions[N, F+1]
                   --ReduceSum(axis 1)--> margin[N, 1] --Sigmoid--> probability[N, 1]

Each leaf's target weights are that leaf's per-feature Saabas contributions: along the root-to-leaf
path, feature ``f`` of a split receives ``mean(child) - mean(parent)``, where a node's mean is
the hessian-weighted mean of its leaves (xgboost's ``approx_contribs``). The last target is the
bias: the tree's root mean. The model's base margin is carried on every leaf of tree 0 (not in
``base_values``: onnxruntime adds a base value only to targets that a visited leaf writes).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from fraudscore._errors import TrainingError

if TYPE_CHECKING:
    import onnx
    import xgboost as xgb

__all__ = ["base_margin", "export_onnx"]

ONNX_OPSET = 17
ONNX_ML_OPSET = 3


def base_margin(model: dict[str, Any]) -> float:
    """The margin added before the trees, from a model's JSON (``base_score`` as a logit)."""
    learner = model["learner"]
    objective = learner["objective"]["name"]
    if objective != "binary:logistic":
        raise TrainingError(f"ONNX export supports binary:logistic models, not {objective!r}")
    raw = learner["learner_model_param"]["base_score"].strip("[]")
    p = float(raw.split(",")[0])
    return math.log(p / (1.0 - p))


def _node_means(tree: dict[str, Any]) -> np.ndarray:
    left = tree["left_children"]
    right = tree["right_children"]
    hess = np.asarray(tree["sum_hessian"], dtype=np.float64)
    value = np.asarray(tree["split_conditions"], dtype=np.float64)
    means = np.zeros(len(left))

    def fill(nid: int) -> float:
        if left[nid] == -1:
            means[nid] = value[nid]
        else:
            lo, hi = left[nid], right[nid]
            means[nid] = (fill(lo) * hess[lo] + fill(hi) * hess[hi]) / hess[nid]
        return float(means[nid])

    fill(0)
    return means


def export_onnx(booster: xgb.Booster, feature_names: Sequence[str]) -> onnx.ModelProto:
    """One ONNX graph giving probability and per-feature contributions of ``booster``."""
    from onnx import TensorProto, checker, helper

    model = json.loads(booster.save_raw("json"))
    n_features = len(feature_names)
    if int(model["learner"]["learner_model_param"]["num_feature"]) != n_features:
        raise TrainingError("feature_names does not match the booster's feature count")
    margin0 = base_margin(model)
    trees = model["learner"]["gradient_booster"]["model"]["trees"]
    if any(any(t["split_type"]) for t in trees):
        raise TrainingError("categorical splits are not supported by the ONNX export")

    nodes: dict[str, list[Any]] = {
        k: []
        for k in (
            "treeids",
            "nodeids",
            "featureids",
            "values",
            "modes",
            "truenodeids",
            "falsenodeids",
            "missing",
        )
    }
    targets: dict[str, list[Any]] = {k: [] for k in ("treeids", "nodeids", "ids", "weights")}
    for tid, tree in enumerate(trees):
        left, right = tree["left_children"], tree["right_children"]
        split = tree["split_indices"]
        means = _node_means(tree)
        bias = means[0] + (margin0 if tid == 0 else 0.0)
        # Depth-first walk carrying the contributions accumulated on the path.
        stack: list[tuple[int, dict[int, float]]] = [(0, {})]
        while stack:
            nid, contrib = stack.pop()
            leaf = left[nid] == -1
            nodes["treeids"].append(tid)
            nodes["nodeids"].append(nid)
            nodes["featureids"].append(0 if leaf else int(split[nid]))
            nodes["values"].append(float(tree["split_conditions"][nid]) if not leaf else 0.0)
            nodes["modes"].append("LEAF" if leaf else "BRANCH_LT")
            nodes["truenodeids"].append(0 if leaf else int(left[nid]))
            nodes["falsenodeids"].append(0 if leaf else int(right[nid]))
            nodes["missing"].append(int(bool(tree["default_left"][nid])) if not leaf else 0)
            if leaf:
                for fid, w in sorted(contrib.items()):
                    if w != 0.0:
                        targets["treeids"].append(tid)
                        targets["nodeids"].append(nid)
                        targets["ids"].append(fid)
                        targets["weights"].append(w)
                targets["treeids"].append(tid)
                targets["nodeids"].append(nid)
                targets["ids"].append(n_features)
                targets["weights"].append(bias)
                continue
            f = int(split[nid])
            for child in (right[nid], left[nid]):
                c = dict(contrib)
                c[f] = c.get(f, 0.0) + means[child] - means[nid]
                stack.append((child, c))

    ensemble = helper.make_node(
        "TreeEnsembleRegressor",
        ["features"],
        ["contributions"],
        domain="ai.onnx.ml",
        n_targets=n_features + 1,
        aggregate_function="SUM",
        post_transform="NONE",
        nodes_treeids=nodes["treeids"],
        nodes_nodeids=nodes["nodeids"],
        nodes_featureids=nodes["featureids"],
        nodes_values=nodes["values"],
        nodes_modes=nodes["modes"],
        nodes_truenodeids=nodes["truenodeids"],
        nodes_falsenodeids=nodes["falsenodeids"],
        nodes_missing_value_tracks_true=nodes["missing"],
        target_treeids=targets["treeids"],
        target_nodeids=targets["nodeids"],
        target_ids=targets["ids"],
        target_weights=targets["weights"],
    )
    axes = helper.make_tensor("axes", TensorProto.INT64, [1], [1])
    graph = helper.make_graph(
        [
            ensemble,
            helper.make_node("ReduceSum", ["contributions", "axes"], ["margin"], keepdims=1),
            helper.make_node("Sigmoid", ["margin"], ["probability"]),
        ],
        "fraudscore",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, [None, n_features])],
        [
            helper.make_tensor_value_info("probability", TensorProto.FLOAT, [None, 1]),
            helper.make_tensor_value_info(
                "contributions", TensorProto.FLOAT, [None, n_features + 1]
            ),
        ],
        initializer=[axes],
    )
    onnx_model = helper.make_model(
        graph,
        opset_imports=[
            helper.make_opsetid("", ONNX_OPSET),
            helper.make_opsetid("ai.onnx.ml", ONNX_ML_OPSET),
        ],
        producer_name="fraudscore",
    )
    onnx_model.ir_version = 8
    onnx_model.doc_string = "Outputs: probability, contributions (features..., bias)."
    checker.check_model(onnx_model)
    return onnx_model
