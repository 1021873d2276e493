"""Build real, tiny artefacts at test time: ONNX models, signed bundles, key pairs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def tiny_onnx_model(path: Path, scale: float = 2.0, width: int = 4, input_name: str = "x", output_name: str = "y") -> Path:
    """An ONNX model computing ``y = x * scale`` over float32 ``[N, width]``."""
    import onnx
    from onnx import TensorProto, helper

    node = helper.make_node("Mul", [input_name, "scale"], [output_name])
    graph = helper.make_graph(
        [node], "tiny",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, ["N", width])],
        [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, ["N", width])],
        [helper.make_tensor("scale", TensorProto.FLOAT, [1], [scale])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def bundle_source(folder: Path, version: str = "1.0.0", scale: float = 2.0, name: str = "test-bundle",
                  plugins=(), models: dict | None = None) -> Path:
    """A bundle folder with one tiny ONNX model ``doubler`` and its ``bundle.json``."""
    folder.mkdir(parents=True, exist_ok=True)
    tiny_onnx_model(folder / "doubler.onnx", scale)
    spec = {"name": name, "version": version, "plugins": list(plugins),
            "models": models or {"doubler": {"file": "doubler.onnx", "runtime": "onnx"}},
            "metrics": {"scale": scale}}
    (folder / "bundle.json").write_text(json.dumps(spec))
    return folder


def write_golden(folder: Path, scale: float, name: str = "golden.npz") -> dict:
    """Golden inputs/outputs for the doubler model; returns the model entry's ``golden`` spec."""
    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    np.savez(folder / name, **{"input:x": x, "output:y": x * scale})
    return {"file": name, "atol": 1e-5}


def signed_bundle(folder: Path, private_key: Path, **kwargs) -> Path:
    """Build and sign a tiny bundle folder."""
    from edge.bundles.builder import build_manifest
    from edge.bundles.signing import sign_bundle

    bundle_source(folder, **kwargs)
    build_manifest(folder)
    sign_bundle(folder, private_key)
    return folder


def run_doubler(model) -> np.ndarray:
    """Run a tiny model on ones and return its output."""
    return model.run({"x": np.ones((1, 4), dtype=np.float32)})["y"]
