"""Export an embedder to ONNX: input ``image`` float32 [N,3,H,W], output ``embedding`` float32 [N,D].

The input is RGB, NCHW, normalised with the ImageNet mean/std; the output is
L2-normalised inside the graph (the :class:`~.architectures.Embedder` does it).
"""
from __future__ import annotations

import warnings
from pathlib import Path


def export_onnx(model, path: str | Path, size: int, opset: int = 17) -> Path:
    """Write ``model`` to ``path`` with a dynamic batch axis and check the graph."""
    import onnx
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = model.eval()
    sample = torch.zeros(1, 3, size, size)
    with warnings.catch_warnings():
        # The TorchScript exporter is deprecated upstream but exports these convnets in ~2 s at
        # opset 17; the dynamo exporter takes ~20 s and cannot down-convert to opset 17.
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(model, (sample,), str(path), input_names=["image"], output_names=["embedding"],
                          dynamic_axes={"image": {0: "batch"}, "embedding": {0: "batch"}},
                          opset_version=opset, dynamo=False)
    graph = onnx.load(str(path))
    onnx.checker.check_model(graph)
    _check_io(graph)
    return path


def _check_io(graph) -> None:
    inputs = [i.name for i in graph.graph.input]
    outputs = [o.name for o in graph.graph.output]
    if inputs != ["image"] or outputs != ["embedding"]:
        raise ValueError(f"unexpected ONNX signature: inputs {inputs}, outputs {outputs}")
