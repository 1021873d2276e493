"""Export an embedder to TFLite with litert-torch (no TensorFlow needed).

The TFLite model has the same meaning as the ONNX one: one input ``image``
float32 [1,3,H,W] (NCHW, ImageNet-normalised RGB) and one output ``embedding``
float32 [1,D], L2-normalised.
"""
from __future__ import annotations

import warnings
from pathlib import Path


def tflite_available() -> bool:
    """True when ``litert_torch`` can be imported."""
    try:
        import litert_torch  # noqa: F401
    except Exception:  # noqa: BLE001 - any import failure means "not available"
        return False
    return True


def _named(model):
    import torch

    class Named(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, image):
            return {"embedding": self.inner(image)}
    return Named(model).eval()


def export_tflite(model, path: str | Path, size: int) -> Path:
    """Convert ``model`` (eval mode) for a 1x3xSIZExSIZE input and write ``path``."""
    import litert_torch
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sample = {"image": torch.zeros(1, 3, size, size)}
    with warnings.catch_warnings():  # litert-torch/torch.export internals emit Future/Deprecation warnings
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        edge_model = litert_torch.convert(_named(model.eval()), sample_args=(), sample_kwargs=sample)
    edge_model.export(str(path))
    return name_io(path)


def name_io(path: str | Path, input_name: str = "image", output_name: str = "embedding") -> Path:
    """Rename the input/output tensors (``serving_default_image`` ...) to ``image``/``embedding``.

    The signature already uses these names; the tensor names are what a plain
    ``Interpreter.get_input_details()`` reports, so both now agree with the ONNX model.
    """
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model(str(path))
    graph = model.subgraphs[0]
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise ValueError(f"{path}: expected one input and one output")
    graph.tensors[graph.inputs[0]].name = input_name.encode()
    graph.tensors[graph.outputs[0]].name = output_name.encode()
    flatbuffer_utils.write_model(model, str(path))
    return Path(path)


def quantize_tflite_weights(fp32_path: str | Path, out_path: str | Path) -> Path:
    """int8 weights with float activations (dynamic range) via ai-edge-quantizer: ~4x smaller."""
    from ai_edge_quantizer import quantizer, recipe

    qt = quantizer.Quantizer(str(fp32_path))
    qt.load_quantization_recipe(recipe.dynamic_wi8_afp32())
    qt.quantize().export_model(str(out_path), overwrite=True)
    return name_io(out_path)
