"""Fine-tune the teacher on two domains — phone photos and studio shots of the same SKUs — on cached maps.

The teacher's first ``trunk`` blocks (and every batch norm) stay frozen, so their output for a given
input never changes: each studio shot is pasted ``studio_views`` times onto store-shelf crops
(:mod:`.shelf`, backgrounds from other SKUs' photos) and each training photo is taken as the node
serves it (or augmented ``phone_views`` times), all run once through the frozen trunk, and the kept
feature maps (float16) train the last blocks and a cosine classifier, with a random crop and mirror
of each map per step (:func:`map_augment`). Studio views and phone photos of one SKU share its class
weight: that is the pairing of the two domains. The serving crops of the catalogs and queries go
through the same trunk once, so every evaluation (and every weight-space blend with the ImageNet
blocks, :func:`blend_blocks`, which keeps part of the ImageNet feature for SKUs never trained on) is
a pass over the last blocks only.

Why cached maps: on a 2-core machine shared with other work, the backward pass through MobileNetV2's
depthwise blocks ran at 3-5 photos/s at 144 px with ``features[:7]`` frozen (``finetune.py``'s recipe),
about 20 with ``features[:14]`` frozen; the cached maps skip the trunk's forward pass as well.
"""
from __future__ import annotations

import copy
import logging
import time
from dataclasses import dataclass, replace

import numpy as np

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TwoDomainRecipe:
    """Knobs of one two-domain fine-tune (seeded)."""

    seed: int = 17
    trunk: int = 14              # features[:trunk] frozen and cached
    size: int = 144              # training input side (the serving size)
    phone_views: int = 0         # 0: the photos' serving crops only, augmented on the maps (crop, flip)
    studio_views: int = 16
    studio_share: float = 0.25   # studio views per epoch, as a share of the phone photos
    epochs: int = 12
    batch: int = 64
    lr_blocks: float = 0.01
    lr_head: float = 0.1
    warmup_epochs: float = 1.0
    scale: float = 16.0
    margin: float = 0.15
    label_smoothing: float = 0.1
    weight_decay: float = 1e-4


def _forward_maps(trunk, images: np.ndarray, batch: int = 64, prepare=None) -> np.ndarray:
    """Trunk maps (float16) of uint8 images; ``prepare(batch) -> tensor`` (default: serving crops)."""
    import torch

    from .data import to_tensor

    prepare = prepare or (lambda b: to_tensor(b, None))
    out = []
    with torch.inference_mode():
        for i in range(0, len(images), batch):
            out.append(trunk(prepare(images[i:i + batch])).to(torch.float16).numpy())
    return np.concatenate(out)


def augmented_maps(trunk, pixels: np.ndarray, views: int, size: int, seed: int, scale=(0.35, 1.0)) -> np.ndarray:
    """``[views, N, C, h, w]`` trunk maps of random crops, flips and lighting of each uint8 square."""
    from .data import augment, random_boxes

    rng = np.random.default_rng(seed)
    out = []
    for v in range(views):
        def prepare(b):
            return augment(b, random_boxes(len(b), rng, scale), rng.random(len(b)) < 0.5, size, rng)
        out.append(_forward_maps(trunk, pixels, prepare=prepare))
        log.info("augmented maps: view %d/%d", v + 1, views)
    return np.stack(out)


def studio_maps(trunk, shots: np.ndarray, shot_labels: np.ndarray, backgrounds: np.ndarray,
                background_labels: np.ndarray, views: int, size: int, seed: int) -> np.ndarray:
    """``[N, views, C, h, w]`` trunk maps of studio shots pasted on shelf crops, then cropped like photos."""
    from .data import augment, random_boxes
    from .shelf import shelf_views

    rng = np.random.default_rng(seed + 1)
    out = []
    for i in range(len(shots)):
        comp = shelf_views(shots[i:i + 1], backgrounds, views, seed * 1000 + i,
                           avoid=(shot_labels[i:i + 1], background_labels))[0]
        out.append(_forward_maps(trunk, comp, prepare=lambda b: augment(
            b, random_boxes(len(b), rng, (0.6, 1.0)), rng.random(len(b)) < 0.5, size, rng)))
    return np.stack(out)


def split_teacher(trunk_blocks: int, weights: str | None = None):
    """``(frozen trunk, ImageNet last blocks)`` of MobileNetV2, both in eval mode."""
    from .architectures import load_imagenet_mobilenet_v2

    base = load_imagenet_mobilenet_v2(weights)
    return base.features[:trunk_blocks].eval(), copy.deepcopy(base.features[trunk_blocks:]).eval()


def pooled(blocks, maps: np.ndarray, batch: int = 256) -> np.ndarray:
    """Pooled features ``[N, 1280]`` of cached trunk maps through ``blocks`` (eval mode)."""
    import torch

    blocks.eval()
    out = []
    with torch.inference_mode():
        for i in range(0, len(maps), batch):
            out.append(blocks(torch.from_numpy(maps[i:i + batch]).float()).mean(dim=(2, 3)).numpy())
    return np.concatenate(out)


def _freeze_norms(blocks) -> list:
    from torch import nn

    for m in blocks.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.eval()
            for p in m.parameters():
                p.requires_grad_(False)
    return [p for p in blocks.parameters() if p.requires_grad]


def train_blocks(blocks, phone: np.ndarray, phone_labels: np.ndarray, studio: np.ndarray | None,
                 studio_labels: np.ndarray | None, classes: int, recipe: TwoDomainRecipe):
    """Fine-tune ``blocks`` in place on cached maps: phone ``[V, N, ...]``, studio ``[M, V, ...]``."""
    import torch
    import torch.nn.functional as F

    from .finetune import cosine_classifier, set_lr

    torch.manual_seed(recipe.seed)
    feats = torch.from_numpy(pooled(blocks, phone[0]))
    head = cosine_classifier(torch.stack([feats[torch.from_numpy(phone_labels == c)].mean(0)
                                          for c in range(classes)]), recipe.scale)
    params = _freeze_norms(blocks)
    opt = torch.optim.SGD([{"params": params, "lr": recipe.lr_blocks, "base": recipe.lr_blocks},
                           {"params": head.parameters(), "lr": recipe.lr_head, "base": recipe.lr_head}],
                          momentum=0.9, nesterov=True, weight_decay=recipe.weight_decay)
    rng = np.random.default_rng(recipe.seed)
    n_phone = phone.shape[1]
    n_studio = 0 if studio is None else int(recipe.studio_share * n_phone)
    steps = (n_phone + n_studio) // recipe.batch
    for epoch in range(recipe.epochs):
        x_idx = np.concatenate([np.stack([rng.integers(0, phone.shape[0], n_phone), np.arange(n_phone)], 1),
                                np.full((n_studio, 2), -1)])
        if n_studio:
            pick = np.stack([rng.integers(0, studio.shape[0], n_studio), rng.integers(0, studio.shape[1], n_studio)], 1)
        order = rng.permutation(len(x_idx))
        total, correct, start = 0.0, 0, time.perf_counter()
        for step in range(steps):
            set_lr(opt, epoch * steps + step, recipe.epochs * steps, steps * recipe.warmup_epochs)
            rows = order[step * recipe.batch:(step + 1) * recipe.batch]
            maps, labels = [], []
            for r in rows:
                if r < n_phone:
                    v, i = x_idx[r]
                    maps.append(phone[v, i]); labels.append(phone_labels[i])
                else:
                    s, v = pick[r - n_phone]
                    maps.append(studio[s, v]); labels.append(studio_labels[s])
            x = map_augment(torch.from_numpy(np.stack(maps)).float(), rng)
            y = torch.from_numpy(np.array(labels, np.int64))
            logits = head(blocks(x).mean(dim=(2, 3)))
            margin = recipe.scale * recipe.margin * F.one_hot(y, classes).to(logits.dtype)
            loss = F.cross_entropy(logits - margin, y, label_smoothing=recipe.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.item()
            correct += int((logits.argmax(1) == y).sum())
        log.info("two-domain epoch %d/%d loss %.4f acc %.3f (%.0f s)", epoch + 1, recipe.epochs,
                 total / steps, correct / (steps * recipe.batch), time.perf_counter() - start)
    return blocks.eval()


def map_augment(x, rng, keep: float = 0.75):
    """A random crop (side ``keep``..1 of the map, one size per batch, its own place per sample) and a
    random mirror of each cached trunk map: cheap augmentation without another trunk pass."""
    import torch

    h, w = x.shape[-2:]
    ch, cw = (max(1, int(round(side * rng.uniform(keep, 1.0)))) for side in (h, w))
    out = torch.empty(x.shape[0], x.shape[1], ch, cw)
    for i in range(len(x)):
        y0, x0 = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
        crop = x[i, :, y0:y0 + ch, x0:x0 + cw]
        out[i] = crop.flip(-1) if rng.random() < 0.5 else crop
    return out


def blend_blocks(raw, tuned, alpha: float):
    """Weight-space blend ``alpha * tuned + (1 - alpha) * raw`` of the last blocks (keeps part of ImageNet)."""
    out = copy.deepcopy(tuned)
    raw_state, tuned_state = raw.state_dict(), tuned.state_dict()
    out.load_state_dict({k: (alpha * v + (1 - alpha) * raw_state[k]) if v.is_floating_point() else v
                         for k, v in tuned_state.items()})
    return out.eval()


def unit(a: np.ndarray) -> np.ndarray:
    """Vectors along the last axis scaled to unit length (zero vectors stay zero)."""
    return a / np.maximum(np.linalg.norm(a, axis=-1, keepdims=True), 1e-12)


def sku_recall(catalog, catalog_labels, queries, query_labels, ks=(1, 5), leave_one_out: bool = False) -> dict:
    """recall@k by SKU mean (the node's ranking). ``leave_one_out``: queries are the catalog itself,
    each scored against its SKU's mean without itself (a validation that needs no query photos)."""
    labels = np.unique(catalog_labels)
    index = {c: i for i, c in enumerate(labels)}
    cat = unit(catalog)
    sums = np.zeros((len(labels), cat.shape[1]))
    np.add.at(sums, [index[c] for c in catalog_labels], cat)
    q = unit(queries)
    truth = np.array([index.get(c, -1) for c in query_labels])
    scores = q @ unit(sums).T
    if leave_one_out:
        own = sums[truth] - q
        scores[np.arange(len(q)), truth] = np.sum(q * unit(own), axis=1)
    order = np.argsort(-scores, axis=1)
    return {f"recall@{k}": round(float((order[:, :k] == truth[:, None]).any(axis=1).mean()), 4) for k in ks}


def with_recipe(recipe: TwoDomainRecipe, **changes) -> TwoDomainRecipe:
    """A copy of ``recipe`` with ``changes``."""
    return replace(recipe, **changes)


@dataclass
class DomainMaps:
    """Cached trunk maps of the augmented training views of both domains."""

    phone: np.ndarray               # [views, N, C, h, w] float16
    phone_labels: np.ndarray        # [N]
    studio: np.ndarray | None       # [shots, views, C, h, w] float16
    studio_labels: np.ndarray | None

    def without(self, classes: np.ndarray) -> "DomainMaps":
        """The maps with every view of ``classes`` left out (SKUs held out from training)."""
        keep = ~np.isin(self.phone_labels, classes)
        if self.studio is None:
            return DomainMaps(self.phone[:, keep], self.phone_labels[keep], None, None)
        skeep = ~np.isin(self.studio_labels, classes)
        return DomainMaps(self.phone[:, keep], self.phone_labels[keep], self.studio[skeep], self.studio_labels[skeep])


def from_recipe(recipe) -> TwoDomainRecipe:
    """The two-domain knobs of a converter :class:`~.recipe.Recipe` (``ft_*`` and ``td_*`` fields)."""
    return TwoDomainRecipe(seed=recipe.seed, trunk=recipe.td_trunk, size=recipe.ft_size,
                           phone_views=recipe.td_phone_views, studio_views=recipe.td_studio_views,
                           studio_share=recipe.td_studio_share, epochs=recipe.ft_epochs, batch=recipe.ft_batch,
                           lr_blocks=recipe.ft_lr_backbone, lr_head=recipe.ft_lr_head,
                           warmup_epochs=recipe.ft_warmup_epochs, scale=recipe.ft_scale, margin=recipe.ft_margin,
                           label_smoothing=recipe.ft_label_smoothing, weight_decay=recipe.ft_weight_decay)


def maps_key(pixels: np.ndarray, labels: np.ndarray, shots: np.ndarray | None, recipe: TwoDomainRecipe) -> str:
    """Cache key of the training maps: the recipe's augmentation knobs and the data's shape and labels."""
    import hashlib

    return hashlib.sha256(repr((recipe.seed, recipe.trunk, recipe.size, recipe.phone_views, recipe.studio_views,
                                pixels.shape, labels.tobytes(), None if shots is None else shots.shape)).encode()
                          ).hexdigest()[:12]


def build_maps(trunk, pixels: np.ndarray, labels: np.ndarray, shots: np.ndarray | None,
               shot_labels: np.ndarray | None, recipe: TwoDomainRecipe, cache_dir=None,
               serving: np.ndarray | None = None) -> DomainMaps:
    """Augment both domains and run them through the frozen trunk once (cached in ``cache_dir``).

    With ``recipe.phone_views == 0`` the photos' one view is their ``serving`` crop (the node's own
    preprocessing), and training augments it on the maps (:func:`map_augment`).
    """
    from pathlib import Path

    key = maps_key(pixels, labels, shots, recipe)
    cache = Path(cache_dir) / f"maps-{key}.npz" if cache_dir else None
    if cache is not None and cache.is_file():
        data = np.load(cache)
        return DomainMaps(data["phone"], labels, data["studio"] if "studio" in data else None,
                          shot_labels if "studio" in data else None)
    if recipe.phone_views:
        phone = augmented_maps(trunk, pixels, recipe.phone_views, recipe.size, recipe.seed)
    else:
        phone = _forward_maps(trunk, serving)[None]
    studio = None
    if shots is not None and len(shots) and recipe.studio_views:
        size = recipe.size if recipe.phone_views else serving.shape[1]   # one map size for both domains
        studio = studio_maps(trunk, shots, shot_labels, pixels, labels, recipe.studio_views, size, recipe.seed)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cache, phone=phone, **({} if studio is None else {"studio": studio}))
    return DomainMaps(phone, labels, studio, None if studio is None else shot_labels)


def finetune_blocks(maps: DomainMaps, recipe: TwoDomainRecipe, weights: str | None = None):
    """``(ImageNet last blocks, fine-tuned last blocks)`` trained on ``maps``.

    Labels may be any class ids: they are renumbered over the classes present in ``maps``.
    """
    _, raw = split_teacher(recipe.trunk, weights)
    classes = np.unique(maps.phone_labels)
    remap = {int(c): i for i, c in enumerate(classes)}
    phone_labels = np.array([remap[int(c)] for c in maps.phone_labels], np.int64)
    studio, studio_labels = maps.studio, None
    if studio is not None:
        known = np.isin(maps.studio_labels, classes)
        studio = studio[known]
        studio_labels = np.array([remap[int(c)] for c in maps.studio_labels[known]], np.int64)
    tuned = train_blocks(copy.deepcopy(raw), maps.phone, phone_labels, studio, studio_labels, len(classes), recipe)
    return raw, tuned


def finetune_two_domain(maps: DomainMaps, recipe: TwoDomainRecipe, blend: float = 1.0, weights: str | None = None):
    """MobileNetV2 ``features``: the frozen trunk and the fine-tuned last blocks, blended with ImageNet's by ``blend``."""
    from torch import nn

    trunk, _ = split_teacher(recipe.trunk, weights)
    raw, tuned = finetune_blocks(maps, recipe, weights)
    blocks = blend_blocks(raw, tuned, blend) if blend < 1 else tuned
    return nn.Sequential(*trunk, *blocks).eval()
