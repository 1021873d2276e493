"""An exported embedder read at other sizes and at an inner layer, for experiments (never shipped).

:func:`tapped_session` loads an ONNX embedder (input ``image``, first output ``embedding``), makes the
input's height and width free (a MobileNet ends in a global mean, so it runs at any size) and adds
inner tensors as extra outputs; :func:`tapped_embed` returns the embedding and each tap's spatial
mean. Used by the studio-catalog benchmark for higher-resolution studio shots and for fusing an
earlier block's pooled feature with the final embedding.
"""
from __future__ import annotations

import numpy as np


def tapped_session(path, taps: tuple[str, ...] = (), threads: int = 2):
    """An onnxruntime session of ``path`` with a free input size and ``taps`` as extra outputs."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    model = onnx.load(str(path))
    known = {o for node in model.graph.node for o in node.output}
    missing = [t for t in taps if t not in known]
    if missing:
        raise ValueError(f"no tensor named {missing[0]!r} in {path}")
    for tap in taps:
        model.graph.output.append(helper.make_tensor_value_info(tap, TensorProto.FLOAT, None))
    dims = model.graph.input[0].type.tensor_type.shape.dim
    dims[2].dim_param, dims[3].dim_param = "height", "width"
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    return ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])


def tapped_embed(session, images: np.ndarray, batch: int = 32) -> list[np.ndarray]:
    """``[embedding [N, D], tap_1 [N, C_1], ...]`` of uint8 model inputs ``[N, S, S, 3]`` (any S); a tap
    with spatial axes is averaged over them."""
    from .data import to_tensor

    parts = []
    for i in range(0, len(images), batch):
        outs = session.run(None, {session.get_inputs()[0].name: to_tensor(images[i:i + batch], None).numpy()})
        parts.append([o.mean(axis=(2, 3)) if o.ndim == 4 else o.reshape(len(o), -1) for o in outs])
    return [np.concatenate(column).astype(np.float32) for column in zip(*parts)]
