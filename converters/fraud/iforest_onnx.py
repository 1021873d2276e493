"""An Isolation Forest as one ONNX ``TreeEnsembleRegressor`` op instead of skl2onnx's graph.

skl2onnx writes about 27 nodes per tree (a decision path walked with Gather, Mul, Add...), and
onnxruntime runs them one by one: 50 trees cost 0.4 ms per payment on a quiet core and several
milliseconds when the machine is busy, which alone spent the precheck's latency budget. Here every
tree is one ensemble of ``TreeEnsembleRegressor`` whose leaves hold the path length scikit-learn
gives them (the leaf's depth plus the average path length of the samples left in it, minus one); the
op sums them over the trees in one C++ loop, and three small ops turn the sum into scikit-learn's
``decision_function``:

    scores = -2 ** (-sum / (n_trees * c(max_samples))) - offset_

so the exported model gives the same ``scores`` (and ``label``: -1 outlier, 1 inlier) as skl2onnx's,
to float32 rounding (``tests/test_fraud_models.py`` checks it against scikit-learn).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _tree_attributes(forest) -> dict:
    """The ``TreeEnsembleRegressor`` attributes of every tree, leaves weighted by their path length."""
    from sklearn.ensemble._iforest import _average_path_length

    attrs = {k: [] for k in ("nodes_treeids", "nodes_nodeids", "nodes_featureids", "nodes_values", "nodes_modes",
                             "nodes_truenodeids", "nodes_falsenodeids", "target_ids", "target_treeids", "target_nodeids", "target_weights")}
    for tree_id, (estimator, features) in enumerate(zip(forest.estimators_, forest.estimators_features_)):
        tree = estimator.tree_
        lengths = tree.compute_node_depths() + _average_path_length(tree.n_node_samples) - 1.0
        for node in range(tree.node_count):
            leaf = tree.children_left[node] == -1
            attrs["nodes_treeids"].append(tree_id)
            attrs["nodes_nodeids"].append(node)
            attrs["nodes_featureids"].append(0 if leaf else int(features[tree.feature[node]]))
            attrs["nodes_values"].append(0.0 if leaf else float(tree.threshold[node]))
            attrs["nodes_modes"].append("LEAF" if leaf else "BRANCH_LEQ")
            attrs["nodes_truenodeids"].append(0 if leaf else int(tree.children_left[node]))
            attrs["nodes_falsenodeids"].append(0 if leaf else int(tree.children_right[node]))
            if leaf:
                attrs["target_ids"].append(0)
                attrs["target_treeids"].append(tree_id)
                attrs["target_nodeids"].append(node)
                attrs["target_weights"].append(float(lengths[node]))
    return attrs


def forest_to_onnx(forest, n_features: int):
    """The ONNX model (input ``X`` float [n, n_features]; outputs ``label`` int64 [n, 1], ``scores`` float [n, 1])."""
    from onnx import TensorProto, helper
    from sklearn.ensemble._iforest import _average_path_length

    denominator = len(forest.estimators_) * float(_average_path_length([forest._max_samples])[0])
    scale = -1.0 / denominator if denominator else 0.0
    const = lambda name, value, kind=TensorProto.FLOAT: helper.make_node(  # noqa: E731
        "Constant", [], [name], value=helper.make_tensor(name, kind, [1], [value]))
    nodes = [
        helper.make_node("TreeEnsembleRegressor", ["X"], ["path_sum"], domain="ai.onnx.ml", n_targets=1,
                         aggregate_function="SUM", post_transform="NONE", **_tree_attributes(forest)),
        const("scale", scale), const("two", 2.0), const("offset", float(forest.offset_)), const("zero", 0.0),
        const("inlier", 1, TensorProto.INT64), const("outlier", -1, TensorProto.INT64),
        helper.make_node("Mul", ["path_sum", "scale"], ["exponent"]),
        helper.make_node("Pow", ["two", "exponent"], ["anomaly"]),
        helper.make_node("Neg", ["anomaly"], ["sample_scores"]),
        helper.make_node("Sub", ["sample_scores", "offset"], ["scores"]),
        helper.make_node("Less", ["scores", "zero"], ["is_outlier"]),
        helper.make_node("Where", ["is_outlier", "outlier", "inlier"], ["label"]),
    ]
    graph = helper.make_graph(nodes, "isolation_forest", [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, n_features])],
                              [helper.make_tensor_value_info("label", TensorProto.INT64, [None, 1]),
                               helper.make_tensor_value_info("scores", TensorProto.FLOAT, [None, 1])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 3)],
                              producer_name="storefront-edge")
    model.ir_version = 8
    return model


def export_forest(forest, n_features: int, path: Path) -> None:
    """Write :func:`forest_to_onnx` of a fitted ``IsolationForest`` to ``path``."""
    import onnx

    model = forest_to_onnx(forest, n_features)
    onnx.checker.check_model(model)
    Path(path).write_bytes(model.SerializeToString())


def check_against(forest, path: Path, X: np.ndarray) -> float:
    """The largest difference between the exported model's ``scores`` and ``forest.decision_function``."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    scores = session.run(["scores"], {"X": np.asarray(X, dtype=np.float32)})[0][:, 0]
    return float(np.abs(scores - forest.decision_function(np.asarray(X, dtype=np.float32))).max())
