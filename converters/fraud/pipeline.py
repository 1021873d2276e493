"""The fraud converter's jobs: train a bundle from ULB data or from the synthetic payment stream, evaluate.

Every score is computed by the exported ONNX models through :class:`plugins.fraud.scoring.Scorer`,
the node's own scoring code.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np


def scorer_of(work_dir: Path, files: dict):
    """A :class:`Scorer` over freshly exported models (as a node would load them)."""
    from edge.runtime import load_model
    from plugins.fraud.scoring import MODELS, Scorer

    models = {role: load_model(MODELS[role], path) for role, path in files.items()}
    return Scorer.from_dir(work_dir, models, "evaluation")


def thresholds_of(review: float | None = None, block: float | None = None):
    """The configured thresholds (the plugin's defaults unless given)."""
    from plugins.fraud.engine import Thresholds
    from plugins.fraud.service import FraudConfig

    defaults = FraudConfig()
    return Thresholds(defaults.review_threshold if review is None else review, defaults.block_threshold if block is None else block)


def chain_decisions(scores: dict, envs: list[dict], ruleset, thresholds) -> tuple:
    """Run the engine's decision on each row's features and scores; return the chain's outcome."""
    from plugins.fraud import engine

    from .evaluate import chain_outcome

    ctx = engine.Context(ruleset, thresholds)
    decisions, actions = [], []
    for index, env in enumerate(envs):
        full = {**env, "score": float(scores["combined"][index]), "anomaly_score": float(scores["anomaly"][index]),
                "supervised_score": float(scores["supervised"][index]) if "supervised" in scores else None}
        decision, _, _ = engine.decide(ctx, full)
        rule, _ = ruleset.decide(full)
        decisions.append(decision)
        actions.append(rule.action if rule else None)
    return chain_outcome(decisions, np.asarray(scores["combined"], dtype=np.float64), actions)


def train_ulb(csv_path: Path, work_dir: Path, log, seed: int = 0, epochs: int = 60, trees: int = 200,
              blend: str = "validated") -> dict:
    """Train the three models on a ULB CSV into ``work_dir``."""
    from .train import train
    from .ulb import ULB_FEATURES, read_ulb

    X, y = read_ulb(csv_path)
    return train(X, y, ULB_FEATURES, work_dir, seed=seed, epochs=epochs, trees=trees, log=log, blend=blend)


def score_ulb(train_csv: Path, test_csv: Path, log, thresholds=None, seed: int = 0, epochs: int = 60,
              trees: int = 200, blend: str = "validated") -> tuple:
    """Train on ``train_csv``, score ``test_csv``: its labels, every scorer's scores and the decision chain's outcome."""
    from plugins.fraud.rules import default_rules

    from .ulb import read_ulb

    thresholds = thresholds or thresholds_of()
    with tempfile.TemporaryDirectory(prefix="fraud-eval-") as work:
        trained = train_ulb(train_csv, Path(work), log, seed, epochs, trees, blend)
        X, y = read_ulb(test_csv)
        log(f"scoring {len(X)} test rows ({int(y.sum())} fraud)")
        scores = scorer_of(Path(work), trained["files"]).score(X, with_raw=True)
    envs = [{"amount": float(row[-1])} for row in X]
    return y, scores, chain_decisions(scores, envs, default_rules(), thresholds)


def evaluate_ulb(train_csv: Path, test_csv: Path, log, thresholds=None, seed: int = 0, epochs: int = 60,
                 trees: int = 200) -> dict:
    """Train on ``train_csv``, score ``test_csv``; the JSON object of ``fraud evaluate``."""
    from .evaluate import evaluate_scores

    thresholds = thresholds or thresholds_of()
    y, scores, chain = score_ulb(train_csv, test_csv, log, thresholds, seed, epochs, trees)
    result = evaluate_scores(y, scores, chain, thresholds)
    result["thresholds"] = {"review": thresholds.review, "block": thresholds.block}
    result["test_rows"], result["test_fraud"] = int(len(y)), int(y.sum())
    return result


def stream_features(rows, ruleset=None, scorer=None, progress=None) -> tuple[np.ndarray, np.ndarray, list]:
    """The stream-model matrix, labels and the engine's answers of every row, replayed in order."""
    from plugins.fraud.features import STREAM_MODEL_FEATURES, model_vector

    from plugins.fraud.replay import replay, stream_context

    matrix, labels, results = [], [], []
    for row, result in replay(rows, stream_context(ruleset, scorer), progress=progress):
        matrix.append(model_vector(STREAM_MODEL_FEATURES, result["features"], None)[0])
        labels.append(int(row["label"]))
        results.append(result)
    return np.asarray(matrix, dtype=np.float32), np.asarray(labels, dtype=np.int64), results


def train_stream(work_dir: Path, params, log, seed: int = 0, epochs: int = 60, trees: int = 200) -> dict:
    """Train the three models on the derived features of a synthetic payment stream."""
    from plugins.fraud.features import STREAM_MODEL_FEATURES

    from .stream import generate
    from .train import train

    rows = generate(params)
    log(f"replaying {len(rows)} synthetic payments for their velocity and graph features")
    X, y, _ = stream_features(rows)
    return train(X, y, STREAM_MODEL_FEATURES, work_dir, seed=seed, epochs=epochs, trees=trees, log=log)
