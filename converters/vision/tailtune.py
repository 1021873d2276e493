"""Studio shots as a second domain for the shipped embedder's last layers, trained on cached maps.

The shipped int8 embedder is a fine-tuned MobileNetV2 whose last two layers — the 1x1 convolution
``features.18`` (320 → 1280, batch norm folded in, ReLU6) and the 1280 → 256 head — are small enough
to train in about two minutes on a loaded 2-core machine once the output of block 17 (``[N, 320, 5, 5]``
at 144 px) is computed for every photo. :func:`block_maps` reads those maps from the shipped graph,
:func:`tail_weights` dequantizes the two layers it holds, and :func:`fit_tail` trains them from there
(the shipped model's own weights, not ImageNet's) on the phone photos and on augmented views of the
studio shots together, a SKU's two domains sharing one class proxy:

- a cosine classifier over the SKUs (margin :attr:`TailSettings.margin`, proxies initialised to the
  shipped model's SKU means of the phone photos), for phone photos and studio views alike;
- a term keeping each phone photo's embedding near the shipped model's (:attr:`TailSettings.keep`),
  so that the phone-photo catalog does not pay for the studio one;
- random windows (3-5 of the 5 x 5 cells) and mirrors of the maps as augmentation.

With ``frozen=16`` (:func:`tail_weights`, :func:`block_maps`) the tail starts from block 16's maps
and block 17's three convolutions are trained as well. :func:`interpolate_tail` blends a trained tail
with the shipped one in weight space (part of the way back to the shipped weights).

:func:`write_tuned_onnx` writes the shipped graph with the trained weights (int8 per-channel weights
as before; the three activations after block 17 stay float). Used by ``python -m benchmarks
studio_tail``; the settings are chosen on the train photos and on held-out SKUs (see there).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

BLOCK_16 = "/features/features.16/Add_output_0_DequantizeLinear_Output"
BLOCK_17 = "/features/features.17/conv/conv.2/Conv_output_0_DequantizeLinear_Output"
TAPS = {16: BLOCK_16, 17: BLOCK_17}  # the map a tail starts from, by the last block left frozen
CONV_OUT = "/features/features.18/features.18.0/Conv_output_0"
HEAD_OUT = "/head/MatMul_output_0"
# Block 17's three convolutions (expand 160 -> 960, depthwise 3x3, project 960 -> 320), by their outputs.
BLOCK_17_CONVS = {"expand": "/features/features.17/conv/conv.0/conv.0.0/Conv_output_0",
                  "depthwise": "/features/features.17/conv/conv.1/conv.1.0/Conv_output_0",
                  "project": "/features/features.17/conv/conv.2/Conv_output_0"}
# Activations after the frozen trunk whose int8 round trip is removed in a tuned graph (their ranges changed).
TAIL_ACTIVATIONS = (CONV_OUT, "/Sub_output_0", HEAD_OUT)
BLOCK_17_ACTIVATIONS = (BLOCK_17_CONVS["expand"], "/features/features.17/conv/conv.1/conv.1.2/Clip_output_0",
                        BLOCK_17_CONVS["project"])


@dataclass(frozen=True)
class TailSettings:
    """Training settings of :func:`fit_tail`."""

    epochs: int = 5
    lr: float = 1e-3
    proto_lr: float = 1e-2
    weight_decay: float = 1e-4
    batch: int = 128
    studio_share: float = 0.25  # of each batch
    studio_weight: float = 1.0
    margin: float = 0.1
    scale: float = 16.0
    label_smoothing: float = 0.1
    keep: float = 1.0
    seed: int = 0


def _initializers(model) -> dict:
    from onnx import numpy_helper

    return {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}


def _producer(model, output: str):
    return next(n for n in model.graph.node if output in n.output)


def _dequantized(model, init: dict, name: str) -> np.ndarray:
    """The float value of initializer ``name``, or of the ``DequantizeLinear`` of an int8 one."""
    if name in init:
        return init[name].astype(np.float32)
    node = _producer(model, name)
    q, scale, zero = (init[i].astype(np.float32) for i in node.input[:3])
    axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
    shape = [1] * q.ndim
    shape[axis] = -1
    return (q - zero.reshape(shape)) * scale.reshape(shape)


def tail_weights(path: str | Path, frozen: int = 17) -> dict:
    """``{conv_weight [1280, 320, 1, 1], conv_bias, center [1280], head [1280, 256]}`` of a shipped embedder;
    with ``frozen=16`` also ``block17``: ``{expand|depthwise|project: (weight, bias)}``."""
    import onnx

    model = onnx.load(str(path))
    init = _initializers(model)
    conv, head = _producer(model, CONV_OUT), _producer(model, HEAD_OUT)
    out = {"conv_weight": _dequantized(model, init, conv.input[1]), "conv_bias": _dequantized(model, init, conv.input[2]),
           "center": _dequantized(model, init, "center"), "head": _dequantized(model, init, head.input[1])}
    if frozen == 16:
        nodes = {name: _producer(model, output) for name, output in BLOCK_17_CONVS.items()}
        out["block17"] = {name: tuple(_dequantized(model, init, n.input[i]) for i in (1, 2)) for name, n in nodes.items()}
    elif frozen != 17:
        raise ValueError(f"a tail starts after block 16 or 17, not {frozen}")
    return out


def block_maps(path: str | Path, images: np.ndarray, threads: int = 2, batch: int = 64, frozen: int = 17) -> np.ndarray:
    """Block-17 maps ``[N, 320, h, w]`` (``frozen=16``: block 16's, ``[N, 160, h, w]``; float16) of uint8
    model inputs ``[N, S, S, 3]`` or of normalised float32 ``[N, 3, S, S]`` batches, from the shipped graph."""
    from .data import to_tensor
    from .taps import tapped_session

    tap = TAPS[frozen]
    session = tapped_session(path, (tap,), threads)
    out = []
    for i in range(0, len(images), batch):
        x = images[i:i + batch]
        x = to_tensor(x, None).numpy() if x.dtype == np.uint8 else np.ascontiguousarray(x, np.float32)
        out.append(session.run([tap], {session.get_inputs()[0].name: x})[0].astype(np.float16))
    return np.concatenate(out)


def _conv(weight: np.ndarray, bias: np.ndarray, groups: int = 1):
    import torch

    outs, ins_per_group, k = weight.shape[:3]
    conv = torch.nn.Conv2d(ins_per_group * groups, outs, k, padding=k // 2, groups=groups)
    conv.weight.data = torch.from_numpy(weight.copy())
    conv.bias.data = torch.from_numpy(bias.copy())
    return conv


def _tail_module(weights: dict):
    import torch
    import torch.nn.functional as F

    class Tail(torch.nn.Module):
        """[block 17 ->] features.18 (1x1 conv + ReLU6) -> mean -> minus centre -> head -> L2 normalise."""

        def __init__(self):
            super().__init__()
            block = weights.get("block17")
            self.block17 = None if block is None else torch.nn.ModuleDict(
                {"expand": _conv(*block["expand"]), "project": _conv(*block["project"]),
                 "depthwise": _conv(*block["depthwise"], groups=block["depthwise"][0].shape[0])})
            self.conv = _conv(weights["conv_weight"], weights["conv_bias"])
            self.register_buffer("center", torch.from_numpy(weights["center"].copy()))
            self.head = torch.nn.Parameter(torch.from_numpy(weights["head"].copy()))

        def forward(self, maps):
            if self.block17 is not None:
                b = self.block17
                maps = b["project"](F.relu6(b["depthwise"](F.relu6(b["expand"](maps)))))
            return F.normalize((F.relu6(self.conv(maps)).mean(dim=(2, 3)) - self.center) @ self.head, dim=1)

    return Tail()


def embed_maps(tail, maps: np.ndarray, batch: int = 512) -> np.ndarray:
    """Unit embeddings ``[N, D]`` of block-17 maps through a tail (:func:`fit_tail` or :func:`shipped_tail`)."""
    import torch

    with torch.no_grad():
        return torch.cat([tail(torch.from_numpy(maps[i:i + batch].astype(np.float32)))
                          for i in range(0, len(maps), batch)]).numpy()


def shipped_tail(weights: dict):
    """The shipped model's own last layers as a torch module (the starting point of :func:`fit_tail`)."""
    tail = _tail_module(weights)
    return tail.eval()


def interpolate_tail(weights: dict, tuned, alpha: float):
    """The shipped tail moved ``alpha`` of the way to ``tuned`` in weight space (``weights`` from
    :func:`tail_weights`; 0: the shipped tail, 1: ``tuned``). A weight-space blend of a fine-tuned
    model with its starting point keeps more of what the start knew about classes it never trained on
    (WiSE-FT); the blend is an ordinary tail, written by :func:`write_tuned_onnx` like any other."""
    import torch

    blend = _tail_module(weights)
    start, end = blend.state_dict(), tuned.state_dict()
    if start.keys() != end.keys():
        raise ValueError("the tuned tail and the shipped weights are not of the same depth")
    with torch.no_grad():
        blend.load_state_dict({k: start[k] + alpha * (end[k] - start[k]) for k in start})
    return blend.eval()


def _window(maps, rng):
    """One random window (3-5 cells a side of a 5 x 5 map) of a batch, mirrored half the time."""
    h, w = maps.shape[2:]
    wh, ww = rng.integers(min(3, h), h + 1), rng.integers(min(3, w), w + 1)
    y, x = rng.integers(0, h - wh + 1), rng.integers(0, w - ww + 1)
    out = maps[:, :, y:y + wh, x:x + ww]
    return out.flip(-1) if rng.random() < 0.5 else out


def fit_tail(phone_maps: np.ndarray, phone_labels: np.ndarray, studio_maps: np.ndarray, studio_labels: np.ndarray,
             weights: dict, settings: TailSettings = TailSettings(), classes: int | None = None):
    """The shipped tail (``weights`` from :func:`tail_weights`) trained on both domains (module docstring)."""
    import torch
    import torch.nn.functional as F

    from .crossdomain import sku_means

    s = settings
    rng = np.random.default_rng(s.seed)
    torch.manual_seed(s.seed)
    classes = classes or int(max(phone_labels.max(), studio_labels.max())) + 1
    tail, reference = _tail_module(weights), shipped_tail(weights)
    for p in reference.parameters():
        p.requires_grad_(False)
    proxies = torch.nn.Parameter(torch.from_numpy(sku_means(embed_maps(reference, phone_maps), phone_labels, classes)).float())
    opt = torch.optim.AdamW([{"params": tail.parameters(), "lr": s.lr}, {"params": [proxies], "lr": s.proto_lr}],
                            weight_decay=s.weight_decay)
    n_phone = int(s.batch * (1 - s.studio_share))
    total = max(1, len(phone_maps) // n_phone) * s.epochs
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=[s.lr, s.proto_lr], total_steps=total, pct_start=0.1)

    def batch(maps, labels, count):
        rows = rng.integers(0, len(maps), count)
        return _window(torch.from_numpy(maps[rows].astype(np.float32)), rng), torch.from_numpy(labels[rows])

    for _ in range(total):
        (mp, yp), (ms, ys) = batch(phone_maps, phone_labels, n_phone), batch(studio_maps, studio_labels, s.batch - n_phone)
        ep, es = tail(mp), tail(ms)
        unit_proxies = F.normalize(proxies, dim=1)
        loss = 0.0
        for emb, y, weight in ((ep, yp, 1.0), (es, ys, s.studio_weight)):
            logits = s.scale * (emb @ unit_proxies.T - s.margin * F.one_hot(y, classes))
            loss = loss + weight * F.cross_entropy(logits, y, label_smoothing=s.label_smoothing)
        if s.keep:
            with torch.no_grad():
                shipped = reference(mp)
            loss = loss + 10 * s.keep * (1 - (ep * shipped).sum(dim=1)).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    return tail.eval()


def _quantize_per_channel(w: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 per-channel quantization along ``axis``: ``(int8 values, float32 scales)``."""
    moved = np.moveaxis(w, axis, 0).reshape(w.shape[axis], -1)
    scale = np.maximum(np.abs(moved).max(axis=1), 1e-12) / 127.0
    shape = [1] * w.ndim
    shape[axis] = -1
    q = np.clip(np.round(w / scale.reshape(shape)), -127, 127).astype(np.int8)
    return q, scale.astype(np.float32)


def write_tuned_onnx(src: str | Path, dst: str | Path, tail) -> Path:
    """``src`` (a shipped int8 embedder) with ``tail``'s weights (its last conv and head, and block 17's
    convolutions when the tail has them) written to ``dst``.

    Weights stay int8 per channel (symmetric) where they were int8, float where they were float; the
    activation round trips after the frozen trunk (:data:`TAIL_ACTIVATIONS`, :data:`BLOCK_17_ACTIVATIONS`)
    are removed, since their calibrated ranges belonged to the old weights.
    """
    import onnx

    model = onnx.load(str(src))
    convs = {CONV_OUT: tail.conv}
    if tail.block17 is not None:
        convs.update({output: tail.block17[name] for name, output in BLOCK_17_CONVS.items()})
    for output, conv in convs.items():
        node = _producer(model, output)
        _set_weight(model, node.input[1], conv.weight.detach().numpy())
        _set_float(model, node.input[2], conv.bias.detach().numpy().astype(np.float32))
    _set_weight(model, _producer(model, HEAD_OUT).input[1], tail.head.detach().numpy())
    _drop_activation_qdq(model, TAIL_ACTIVATIONS + (BLOCK_17_ACTIVATIONS if tail.block17 is not None else ()))
    onnx.checker.check_model(model)
    dst = Path(dst)
    onnx.save(model, str(dst))
    return dst


def _set_weight(model, name: str, value: np.ndarray) -> None:
    """Write ``value`` into weight ``name``: requantized in place when a DequantizeLinear makes it, else as float."""
    from onnx import numpy_helper

    producers = [n for n in model.graph.node if name in n.output and n.op_type == "DequantizeLinear"]
    if not producers:
        _set_float(model, name, value.astype(np.float32))
        return
    node, init = producers[0], {i.name: i for i in model.graph.initializer}
    axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
    q, scale = _quantize_per_channel(value, axis)
    init[node.input[0]].CopyFrom(numpy_helper.from_array(q, node.input[0]))
    init[node.input[1]].CopyFrom(numpy_helper.from_array(scale, node.input[1]))
    init[node.input[2]].CopyFrom(numpy_helper.from_array(np.zeros_like(scale, np.int8), node.input[2]))


def _set_float(model, name: str, value: np.ndarray) -> None:
    """Make ``name`` a float initializer holding ``value`` (replacing the int32 bias and its DequantizeLinear)."""
    from onnx import numpy_helper

    producer = [n for n in model.graph.node if name in n.output]
    for node in producer:
        model.graph.node.remove(node)
        for stale in [i for i in model.graph.initializer if i.name in node.input]:
            model.graph.initializer.remove(stale)
    for stale in [i for i in model.graph.initializer if i.name == name]:
        model.graph.initializer.remove(stale)
    model.graph.initializer.append(numpy_helper.from_array(value, name))


def _drop_activation_qdq(model, tensors) -> None:
    """Remove the QuantizeLinear -> DequantizeLinear pair after each of ``tensors``; consumers read the float."""
    nodes = list(model.graph.node)
    for tensor in tensors:
        quant = next(n for n in nodes if n.op_type == "QuantizeLinear" and n.input[0] == tensor)
        dequant = next(n for n in nodes if n.op_type == "DequantizeLinear" and n.input[0] == quant.output[0])
        for node in nodes:
            for i, name in enumerate(node.input):
                if name == dequant.output[0]:
                    node.input[i] = tensor
        nodes = [n for n in nodes if n is not quant and n is not dequant]
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    used = {name for n in nodes for name in n.input}
    for stale in [i for i in model.graph.initializer if i.name not in used]:
        model.graph.initializer.remove(stale)
