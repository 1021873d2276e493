"""The learned blend: a classifier over every scorer's candidates, trained on validation prefixes, run as ONNX.

Rows: per validation prefix, every candidate of the scorers' union with its
:data:`plugins.recommend.rerank.FEATURES`; label 1 for the item that came next. Prefixes whose next item
the session had already viewed are left out of the training rows, and so are the session's own items
(the blend puts them first anyway, see :func:`plugins.recommend.rerank.rank_learned`): what the model
learns is which *new* item comes next. The rows come from two time folds of the training data (the
last 25 % of sessions on tables of the rest, and the third before it on tables of the rest before it),
so every label is an event later than the tables that scored it.

Model: a standardised logistic regression; its ONNX export (skl2onnx, ``X float32[N, F]`` to
``probabilities float32[N, 2]``) is what evaluation scores with and what the node runs, so both rank
with the same numbers.
"""

from __future__ import annotations

import numpy as np

from plugins.recommend import rerank

from .evaluate import case_features

C = 1.0  # the regression's inverse regularisation


def training_rows(tables, cases) -> tuple[np.ndarray, np.ndarray]:
    """The features and labels of every new-item candidate of the prefixes whose next item is new to the session."""
    features, labels = [], []
    for case in cases:
        if not len(case.candidates) or case.target in case.session:
            continue
        rows = case_features(tables, case)
        new = ~np.isin(case.candidates, np.asarray(case.session, dtype=np.int64))
        features.append(rows[new])
        labels.append(case.candidates[new] == case.target)
    if not features:
        return np.zeros((0, len(rerank.FEATURES)), np.float32), np.zeros(0, bool)
    return np.vstack(features), np.concatenate(labels)


def fit(folds) -> bytes | None:
    """The ONNX model (bytes) of the classifier fitted on ``folds`` (``(tables, cases)`` pairs), or ``None`` when
    the rows hold no positive or no negative example."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    parts = [training_rows(tables, cases) for tables, cases in folds]
    X = np.vstack([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    if not len(y) or y.all() or not y.any():
        return None
    model = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=5000)).fit(X, y)
    return _to_onnx(model, X.shape[1])


def _to_onnx(model, n_features: int) -> bytes:
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    options = {id(model): {"zipmap": False}}
    onx = convert_sklearn(model, initial_types=[("X", FloatTensorType([None, n_features]))], options=options,
                          target_opset={"": 17, "ai.onnx.ml": 3})
    return onx.SerializeToString()


class OnnxScorer:
    """Scores feature rows with an ONNX reranker (what evaluation uses; the node runs the same file)."""

    def __init__(self, model: bytes):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        self.model = model
        self.session = onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])

    def __call__(self, features: np.ndarray) -> np.ndarray:
        outputs = self.session.run(None, {"X": np.asarray(features, dtype=np.float32)})
        return rerank.positive_probability(outputs)
