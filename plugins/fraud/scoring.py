"""The fraud models of the active ``storefront-fraud`` bundle, run through the node's model runtime.

The bundle holds up to three ONNX models reading one float matrix ``X`` (its columns named in
``fraud.json``): ``fraud_iforest`` (an Isolation Forest; output ``scores``, higher is more normal),
``fraud_autoencoder`` (output ``error``, the reconstruction error of each row) and ``fraud_gbm``
(gradient boosting; output ``probabilities``) where the training data had labels, and
``fraud_ensemble``, the three as one graph (:mod:`converters.fraud.ensemble`): the node runs that one
session per payment instead of three when the bundle has it.

Calibration to 0-100: every score is the share of legitimate reference payments (held out from
training) that score lower (ties counted half), times 100. A score of 99.7 means 0.3 % of legitimate payments score
higher, so a threshold is a false-positive budget. ``anomaly`` is the mean of the Isolation Forest's
and the autoencoder's scores, ``supervised`` the gradient boosting's, and ``combined`` their blend by
the bundle's ``weights``, each calibrated again the same way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

SPEC_FILE = "fraud.json"
MODELS = {"iforest": "fraud_iforest", "autoencoder": "fraud_autoencoder", "supervised": "fraud_gbm"}
OUTPUTS = {"iforest": "scores", "autoencoder": "error", "supervised": "probabilities"}
ENSEMBLE = "fraud_ensemble"  # the three as one graph, outputs ``<role>_<output>`` (converters.fraud.ensemble)


def calibrate(reference: np.ndarray, raw: np.ndarray) -> np.ndarray:
    """100 × the share of ``reference`` (sorted raw scores of legitimate payments) below each ``raw``, ties
    counted half (a tree model gives many payments the same score)."""
    reference = np.asarray(reference, dtype=np.float64)
    if reference.size == 0:
        return np.zeros(len(raw))
    raw = np.asarray(raw, dtype=np.float64)
    below = np.searchsorted(reference, raw, side="left") + np.searchsorted(reference, raw, side="right")
    return below * (50.0 / reference.size)


def raw_output(role: str, outputs: dict) -> np.ndarray:
    """The raw score (higher = more suspicious) of a model's outputs."""
    value = np.asarray(outputs[OUTPUTS[role]], dtype=np.float64)
    if role == "iforest":
        return -value.reshape(len(value), -1)[:, 0]
    if role == "supervised":
        return value.reshape(len(value), -1)[:, -1]
    return value.reshape(len(value), -1)[:, 0]


def combine(scores: dict, weights: dict) -> dict:
    """Add the raw ``anomaly`` and ``combined`` blends to per-model calibrated ``scores``."""
    out = dict(scores)
    parts = [scores[r] for r in ("iforest", "autoencoder") if r in scores]
    if parts:
        out["anomaly"] = sum(parts) / len(parts)
    blend = [(weights.get(r, 0.0), out[r]) for r in ("anomaly", "supervised") if r in out]
    total = sum(w for w, _ in blend) or 1.0
    out["combined"] = sum(w * v for w, v in blend) / total if blend else np.zeros(0)
    return out


@dataclass
class Scorer:
    """The fraud models of one bundle with their calibration."""

    features: tuple[str, ...]
    calibration: dict
    weights: dict
    models: dict = field(default_factory=dict)
    bundle: str = ""
    ensemble: object = None

    @classmethod
    def from_dir(cls, directory: Path, models: dict, bundle: str = "", ensemble=None) -> "Scorer":
        """Read ``fraud.json`` in a bundle folder; ``models`` maps role → loaded model; ``ensemble``: the loaded
        ``fraud_ensemble`` (run instead of the three when given)."""
        spec = json.loads((Path(directory) / SPEC_FILE).read_text())
        calibration = {k: np.asarray(v, dtype=np.float64) for k, v in spec["calibration"].items()}
        return cls(tuple(spec["features"]), calibration, spec.get("weights", {}), models, bundle, ensemble)

    def raw_scores(self, matrix: np.ndarray) -> dict:
        """``{role: raw score}`` of every model: one run of the ensemble when there is one, else one run per model."""
        if self.ensemble is not None:
            outputs = self.ensemble.run({"X": matrix})
            return {role: raw_output(role, {OUTPUTS[role]: outputs[f"{role}_{OUTPUTS[role]}"]}) for role in self.models}
        return {role: raw_output(role, model.run({"X": matrix})) for role, model in self.models.items()}

    def score(self, matrix: np.ndarray, with_raw: bool = False) -> dict:
        """``{role: calibrated scores}`` for every row of ``matrix`` (roles: the models, anomaly, combined);
        ``with_raw`` adds ``raw_<model role>``, the models' own scores (evaluation breaks ties with them)."""
        matrix = np.asarray(matrix, dtype=np.float32).reshape(-1, len(self.features))
        scores, raws = {}, {}
        for role, raw in self.raw_scores(matrix).items():
            raws[f"raw_{role}"] = raw
            scores[role] = calibrate(self.calibration[role], raw)
        blended = combine(scores, self.weights)
        for role in ("anomaly", "combined"):
            if role in blended and role in self.calibration:
                blended[role] = calibrate(self.calibration[role], blended[role])
        return {**blended, **raws} if with_raw else blended


def active_scorer(node, cache) -> Scorer | None:
    """The scorer of the bundle serving ``fraud_iforest`` now (``cache`` keeps one per bundle version)."""
    bundle = node.bundle_for(MODELS["iforest"]) or node.bundle_for(MODELS["supervised"])
    if bundle is None:
        return None
    key = (bundle.name, bundle.version, id(bundle))
    if cache.get("key") != key:
        models = {role: bundle.models[name] for role, name in MODELS.items() if name in bundle.models}
        cache["scorer"] = Scorer.from_dir(bundle.directory, models, f"{bundle.name} {bundle.version}",
                                          bundle.models.get(ENSEMBLE))
        cache["key"] = key
    return cache["scorer"]
