"""Train the fraud models, export them to ONNX and calibrate them on held-out legitimate payments.

- Isolation Forest (scikit-learn, exported as one ``TreeEnsembleRegressor`` op by
  :mod:`converters.fraud.iforest_onnx`) and an autoencoder (plain torch MLP with the
  standardisation inside, exported by ``torch.onnx``), both fit on payments not known to be fraud;
- gradient boosting (scikit-learn ``GradientBoostingClassifier``, skl2onnx) where the labels have both
  classes. (``HistGradientBoostingClassifier`` does not convert with skl2onnx 1.20 / onnx 1.23.)

Calibration (see :mod:`plugins.fraud.scoring`): a quarter of the legitimate rows is held out from every
model (the gradient boosting learns from the other legitimate rows and every fraud row) and their
scores are the reference, so a score's meaning ("the share of legitimate payments scoring lower")
holds on unseen payments. (Out-of-fold scores of the supervised model were tried first: the final
model's probabilities sit lower than the folds' models', so unseen legitimate payments all scored 0.)
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

REFERENCE_POINTS = 4000
WEIGHTS = {"anomaly": 0.3, "supervised": 0.7}  # the fixed blend ("fixed"), and the fallback without labels
BLEND_GRID = (0.0, 0.25, 0.5, 0.7, 0.85, 1.0)  # supervised shares tried by the validated blend
VALIDATION_MAX_FPR = 0.05


def _isolation_forest(X, seed, trees: int):
    from sklearn.ensemble import IsolationForest

    return IsolationForest(n_estimators=trees, max_samples=min(256, len(X)), random_state=seed).fit(X)


def _gradient_boosting(seed):
    from sklearn.ensemble import GradientBoostingClassifier

    return GradientBoostingClassifier(n_estimators=150, max_depth=3, learning_rate=0.1, subsample=0.8, random_state=seed)


def _export_classifier(model, n_features: int, path: Path) -> None:
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    options = {id(model): {"zipmap": False}}
    onx = convert_sklearn(model, initial_types=[("X", FloatTensorType([None, n_features]))], options=options,
                          target_opset={"": 17, "ai.onnx.ml": 3})
    path.write_bytes(onx.SerializeToString())


def _autoencoder(X, seed, epochs: int, log):
    import torch

    torch.manual_seed(seed)
    mean, std = X.mean(axis=0), X.std(axis=0)
    std = np.where(std < 1e-6, 1.0, std)  # a feature constant in training: read in its own units
    width = X.shape[1]
    hidden, bottleneck = max(8, width // 2), max(3, width // 4)

    class AutoEncoder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32))
            self.register_buffer("std", torch.tensor(std, dtype=torch.float32))
            self.net = torch.nn.Sequential(torch.nn.Linear(width, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, bottleneck),
                                           torch.nn.ReLU(), torch.nn.Linear(bottleneck, hidden), torch.nn.ReLU(),
                                           torch.nn.Linear(hidden, width))

        def forward(self, x):
            z = torch.clamp((x - self.mean) / self.std, -20.0, 20.0)
            return ((self.net(z) - z) ** 2).mean(dim=1, keepdim=True)

    model = AutoEncoder()
    optimiser = torch.optim.Adam(model.parameters(), lr=2e-3, weight_decay=1e-5)
    data = torch.tensor(X, dtype=torch.float32)
    for epoch in range(epochs):
        order = torch.randperm(len(data))
        for start in range(0, len(data), 256):
            loss = model(data[order[start:start + 256]]).mean()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        if epoch % max(1, epochs // 4) == 0:
            log(f"autoencoder epoch {epoch}: loss {loss.item():.4f}")
    return model.eval()


def _export_torch(model, n_features: int, path: Path) -> None:
    import warnings

    import torch

    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript exporter: no onnxscript needed
        torch.onnx.export(model, (torch.zeros(1, n_features),), str(path), input_names=["X"], output_names=["error"],
                          dynamic_axes={"X": {0: "n"}, "error": {0: "n"}}, opset_version=17, dynamo=False)


def _reference(values: np.ndarray) -> list[float]:
    ordered = np.sort(np.asarray(values, dtype=np.float64))
    if len(ordered) > REFERENCE_POINTS:
        ordered = np.quantile(ordered, np.linspace(0, 1, REFERENCE_POINTS))
    return [float(v) for v in ordered]


def _split_legit(y: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    legit = np.flatnonzero(y == 0)
    rng = np.random.default_rng(seed)
    rng.shuffle(legit)
    held = max(1, len(legit) // 4)
    return legit[held:], legit[:held]


def _raw_scores(files: dict, X: np.ndarray) -> dict:
    from edge.runtime import load_model
    from plugins.fraud import scoring

    return {role: scoring.raw_output(role, load_model(role, path).run({"X": X})) for role, path in files.items()}


def _calibration(files: dict, X: np.ndarray, reference_rows: np.ndarray, weights: dict) -> dict:
    from plugins.fraud import scoring

    raw = _raw_scores(files, X[reference_rows])
    calibration = {role: _reference(values) for role, values in raw.items()}
    calibrated = {role: scoring.calibrate(calibration[role], values) for role, values in raw.items()}
    blended = scoring.combine(calibrated, weights)
    calibration["anomaly"] = _reference(blended["anomaly"])
    calibrated["anomaly"] = scoring.calibrate(calibration["anomaly"], blended["anomaly"])
    calibration["combined"] = _reference(scoring.combine(calibrated, weights)["combined"])
    return calibration


def _validated_weights(X, y, files: dict, fit_rows, reference_rows, seed: int, work: Path, log) -> tuple[dict, dict]:
    """The blend of the anomaly and supervised scores, chosen on the training data alone.

    A quarter of the fraud rows is held out from a provisional gradient boosting; the reference
    (legitimate, held out from every model) and those fraud rows score each share of ``BLEND_GRID``,
    and the share with the best ROC AUC up to ``VALIDATION_MAX_FPR`` false positives (standardised
    partial AUC: the region a threshold of 95-100 lives in) wins, the larger share on a tie.
    """
    from scipy.stats import rankdata
    from sklearn.metrics import roc_auc_score

    from plugins.fraud import scoring

    fraud = np.random.default_rng(seed + 1).permutation(np.flatnonzero(y == 1))
    held, kept = fraud[:max(1, len(fraud) // 4)], fraud[max(1, len(fraud) // 4):]
    provisional = {**files, "supervised": work / "fraud_gbm.provisional.onnx"}
    _export_classifier(_gradient_boosting(seed).fit(X[np.concatenate([fit_rows, kept])], y[np.concatenate([fit_rows, kept])]),
                       X.shape[1], provisional["supervised"])
    rows = np.concatenate([reference_rows, held])
    raw = _raw_scores(provisional, X[rows])
    ranked = {role: rankdata(values) / len(values) for role, values in raw.items()}  # any monotone calibration
    anomaly = (ranked["iforest"] + ranked["autoencoder"]) / 2
    figures = {share: float(roc_auc_score(y[rows], share * ranked["supervised"] + (1 - share) * anomaly,
                                          max_fpr=VALIDATION_MAX_FPR)) for share in BLEND_GRID}
    share = max(BLEND_GRID, key=lambda s: (round(figures[s], 6), s))
    log(f"blend: supervised share {share} (partial AUC {figures[share]:.4f} on {len(held)} held-out fraud rows)")
    return ({"anomaly": round(1 - share, 4), "supervised": share},
            {"grid": {str(s): round(v, 4) for s, v in figures.items()}, "held_out_fraud": int(len(held)),
             "reference_rows": int(len(reference_rows)), "criterion": f"partial ROC AUC up to FPR {VALIDATION_MAX_FPR}"})


def train(X: np.ndarray, y: np.ndarray | None, features, out_dir: Path, *, seed: int = 0, epochs: int = 60,
          trees: int = 200, log=print, blend: str = "validated") -> dict:
    """Train, export and calibrate; write ``fraud_*.onnx`` and ``fraud.json`` into ``out_dir``; return the spec.

    ``blend``: how the combined score weighs the anomaly and supervised scores where labels exist:
    ``validated`` (chosen on held-out training rows: :func:`_validated_weights`) or ``fixed`` (``WEIGHTS``).

    ``trees``: of the Isolation Forest, exported as one tree-ensemble op (200 trees: about 0.03 ms per
    payment; skl2onnx's graph of 27 nodes per tree cost 0.4 ms for 50 trees, several ms on a busy machine).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    X = np.asarray(X, dtype=np.float32)
    y = np.zeros(len(X), dtype=np.int64) if y is None else np.asarray(y, dtype=np.int64)
    fit_rows, reference_rows = _split_legit(y, seed)
    log(f"training on {len(X)} rows ({int(y.sum())} fraud), {len(features)} features")
    files = {"iforest": out / "fraud_iforest.onnx", "autoencoder": out / "fraud_autoencoder.onnx"}
    from .iforest_onnx import export_forest

    export_forest(_isolation_forest(X[fit_rows], seed, trees), X.shape[1], files["iforest"])
    log("isolation forest exported")
    _export_torch(_autoencoder(X[fit_rows], seed, epochs, log), X.shape[1], files["autoencoder"])
    log("autoencoder exported")
    supervised = 0 < y.sum() and np.bincount(y).min() >= 2
    weights, selection = {"anomaly": 1.0}, {"blend": "anomaly only (no labels)"}
    if supervised:
        weights, selection = dict(WEIGHTS), {"blend": "fixed"}
        if blend == "validated" and y.sum() >= 4:
            weights, selection = _validated_weights(X, y, files, fit_rows, reference_rows, seed, out, log)
            (out / "fraud_gbm.provisional.onnx").unlink()
        files["supervised"] = out / "fraud_gbm.onnx"
        rows = np.concatenate([fit_rows, np.flatnonzero(y == 1)])
        _export_classifier(_gradient_boosting(seed).fit(X[rows], y[rows]), X.shape[1], files["supervised"])
        log("gradient boosting exported")
    spec = {"features": list(features), "weights": weights, "weight_selection": selection,
            "calibration": _calibration(files, X, reference_rows, weights),
            "trained_on": {"rows": int(len(X)), "fraud": int(y.sum()), "reference_rows": int(len(reference_rows))}}
    (out / "fraud.json").write_text(json.dumps(spec, separators=(",", ":")) + "\n")
    from .ensemble import write_ensemble

    ensemble = write_ensemble(files, out / "fraud_ensemble.onnx")
    return {"spec": spec, "files": {role: str(path) for role, path in files.items()}, "ensemble": str(ensemble),
            "work_dir": str(out)}
