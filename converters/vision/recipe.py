"""Named training recipes: ``default`` (under 30 min on 2 cores), ``long`` and ``tiny`` (tests).

A recipe is a plain dataclass; its ``asdict()`` is written into ``bundle.json`` so a
bundle records exactly how it was made.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace


@dataclass(frozen=True)
class Recipe:
    """Every knob of one conversion run (seeded, so a run is reproducible)."""

    name: str = "default"
    seed: int = 17
    cache_size: int = 256           # decoded square side (serving: resize 256)
    eval_size: int = 224            # serving crop (centre crop 224 of 256)
    max_per_class: int = 0          # 0 = all training photos
    # teacher fine-tuning (MobileNetV2, cosine classifier)
    ft_epochs: int = 5
    ft_batch: int = 32
    ft_size: int = 160
    ft_freeze_blocks: int = 7       # features[0:7] frozen
    ft_lr_backbone: float = 0.01
    ft_lr_head: float = 0.1
    ft_scale: float = 16.0
    ft_label_smoothing: float = 0.1
    ft_weight_decay: float = 1e-4
    center_embedding: bool = False  # subtract the catalog mean feature (measured: raw r@1 0.608 vs 0.622)
    # student distillation (cached teacher 7x7 maps, cosine loss on centred features)
    students: tuple[str, ...] = ("mobilenet_v3_small",)
    emb_dim: int = 256
    d_epochs: int = 12
    d_batch: int = 64
    d_size: int = 160
    d_lr: float = 2e-3              # AdamW
    d_weight_decay: float = 4e-5
    d_teacher_size: int = 224
    # export
    opset: int = 17
    calib_images: int = 160
    int8_float_first_convs: int = 4
    int8_float_depthwise: bool = True
    agreement_images: int = 64
    size_budget_mb: float = 5.0
    latency: bool = True
    tflite: bool = True
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """JSON-ready dict of the recipe."""
        d = asdict(self)
        d["students"] = list(self.students)
        return d


RECIPES = {
    "default": Recipe(),
    "long": Recipe(name="long", ft_epochs=30, d_epochs=80, d_size=192, ft_freeze_blocks=4,
                   students=("mobilenet_v3_small", "mobilenet_v3_large", "pruned_mobilenet_v2")),
    "tiny": Recipe(name="tiny", cache_size=72, eval_size=64, ft_epochs=2, ft_batch=4, ft_size=48,
                   d_epochs=2, d_batch=4, d_size=48, d_teacher_size=64, emb_dim=32,
                   calib_images=4, agreement_images=4, latency=False, tflite=False),
}


def get_recipe(name: str, **overrides) -> Recipe:
    """Recipe by name with keyword overrides (``None`` values are ignored)."""
    if name not in RECIPES:
        raise KeyError(f"unknown recipe {name!r}; choose one of {', '.join(RECIPES)}")
    return replace(RECIPES[name], **{k: v for k, v in overrides.items() if v is not None})
