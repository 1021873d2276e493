"""Distil a small student from the fine-tuned teacher's embedding.

The teacher runs once per catalog photo (and once on its mirror image) and its
last 7x7 feature map is kept. For every random crop the student sees, the
teacher target is the map averaged over the crop's area (weighted by cell
overlap): unlimited augmented views without further teacher passes.

The target space is the teacher's centred feature projected on its first
``emb_dim`` principal components (the features are non-negative and share one
large direction; centring removes it). The student's L2-normalised output is
trained with a cosine loss to match the normalised target, so student and
teacher embeddings live in the same space. With labels and ``d_ce_weight`` a
cross-entropy term is added: the student's embedding is classified against the
fixed class prototypes of the teacher targets (cosine logits), which keeps
photos of one product together where the cosine loss alone leaves them spread.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .checkpoint import save_checkpoint, start_epoch
from .data import augment, random_boxes
from .finetune import set_lr

log = logging.getLogger(__name__)


@dataclass
class TeacherTargets:
    """Cached teacher maps ``[N, G, G, C]`` (float16) for the images and their mirrors, and the projection."""

    maps: np.ndarray
    maps_flipped: np.ndarray
    mean: np.ndarray        # [C] mean pooled teacher feature
    projection: np.ndarray  # [D, C] principal directions

    def targets(self, idx: np.ndarray, boxes: np.ndarray, flips: np.ndarray) -> np.ndarray:
        """Normalised projected teacher features ``[B, D]`` for crops ``boxes`` of images ``idx``."""
        pooled = np.stack([crop_pool(self.maps_flipped[i] if f else self.maps[i], _mirror(b) if f else b)
                           for i, b, f in zip(idx, boxes, flips)])
        return self._project(pooled)

    def _project(self, pooled: np.ndarray) -> np.ndarray:
        z = (pooled - self.mean) @ self.projection.T
        return z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)

    def prototypes(self, labels: np.ndarray) -> np.ndarray:
        """Normalised mean target of each class's whole photos ``[C, D]`` (the CE term's fixed classifier)."""
        whole = self._project(self.maps.mean(axis=(1, 2), dtype=np.float32))  # no float32 copy of the maps
        protos = np.stack([whole[labels == c].mean(0) for c in range(int(labels.max()) + 1)])
        return (protos / np.maximum(np.linalg.norm(protos, axis=1, keepdims=True), 1e-12)).astype(np.float32)


def _mirror(box: np.ndarray) -> np.ndarray:
    x0, y0, x1, y1 = box
    return np.array([1 - x1, y0, 1 - x0, y1])


def cell_weights(lo: float, hi: float, grid: int) -> np.ndarray:
    """Overlap of the interval [lo, hi] (unit coordinates) with each of ``grid`` equal cells."""
    edges = np.arange(grid + 1) / grid
    return np.clip(np.minimum(hi, edges[1:]) - np.maximum(lo, edges[:-1]), 0, None)


def crop_pool(fmap: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Area-weighted mean of a ``[G, G, C]`` map over ``box = (x0, y0, x1, y1)``."""
    grid = fmap.shape[0]
    wy = cell_weights(box[1], box[3], grid)
    wx = cell_weights(box[0], box[2], grid)
    w = np.outer(wy, wx)
    return np.tensordot(w / w.sum(), fmap.astype(np.float32), axes=([0, 1], [0, 1]))


def teacher_maps(teacher, images: np.ndarray, size: int, flip: bool, batch: int = 32) -> np.ndarray:
    """Teacher feature maps ``[N, G, G, C]`` (float16) of the full squares resized to ``size``."""
    import torch
    import torch.nn.functional as F
    from tqdm import tqdm

    from .data import normalise

    out = []
    teacher.eval()
    with torch.inference_mode():
        for i in tqdm(range(0, len(images), batch), desc="teacher maps", leave=False):
            x = torch.from_numpy(images[i:i + batch]).permute(0, 3, 1, 2).float().div_(255)
            x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
            x = normalise(x.flip(-1) if flip else x)
            out.append(teacher.features(x).permute(0, 2, 3, 1).half().numpy())
    return np.concatenate(out)


def principal_axes(features: np.ndarray, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``[C]`` and first ``dim`` principal directions ``[dim, C]`` of ``features``."""
    mean = features.mean(0)
    _, _, vt = np.linalg.svd(features - mean, full_matrices=False)
    return mean.astype(np.float32), vt[:dim].astype(np.float32)


def build_targets(teacher, images: np.ndarray, recipe, cache_dir: Path | None = None) -> TeacherTargets:
    """Run the teacher once per image and mirror; fit the centred projection on pooled maps.

    With ``cache_dir`` the maps are saved there and reused by a resumed run (same teacher).
    """
    if cache_dir is not None and (Path(cache_dir) / "maps_flipped.npy").is_file():
        return TeacherTargets(*(np.load(Path(cache_dir) / f"{k}.npy") for k in _TARGET_FIELDS))
    maps = teacher_maps(teacher, images, recipe.d_teacher_size, flip=False)
    flipped = teacher_maps(teacher, images, recipe.d_teacher_size, flip=True)
    pooled = maps.mean(axis=(1, 2), dtype=np.float32)
    mean, proj = principal_axes(pooled, min(recipe.emb_dim, pooled.shape[1], len(pooled)))
    targets = TeacherTargets(maps, flipped, mean, proj)
    if cache_dir is not None:
        Path(cache_dir).mkdir(parents=True, exist_ok=True)
        for key in _TARGET_FIELDS:
            np.save(Path(cache_dir) / f"{key}.npy", getattr(targets, key))
    return targets


_TARGET_FIELDS = ("maps", "maps_flipped", "mean", "projection")


def distill_student(student, targets: TeacherTargets, images: np.ndarray, recipe, work_dir: Path,
                    name: str, resume: bool = False, lr_scale: float = 1.0, labels: np.ndarray | None = None,
                    epochs: int | None = None):
    """Train ``student`` (an Embedder) on cosine distance to the teacher targets; checkpoint per epoch.

    :param labels: class per image; with ``recipe.d_ce_weight`` it adds the prototype cross-entropy.
    :param epochs: overrides ``recipe.d_epochs`` (students that start from the teacher need fewer).
    """
    import torch

    epochs = epochs or recipe.d_epochs
    protos = None
    if labels is not None and recipe.d_ce_weight:
        protos = torch.from_numpy(targets.prototypes(labels))

    torch.manual_seed(recipe.seed)
    opt = torch.optim.AdamW(student.parameters(), lr=recipe.d_lr * lr_scale, weight_decay=recipe.d_weight_decay)
    for group in opt.param_groups:
        group["base"] = group["lr"]
    ckpt = Path(work_dir) / f"student-{name}.ckpt"
    first = start_epoch(ckpt, student, opt, resume)
    for epoch in range(first, epochs):
        loss = _distill_epoch(student, opt, targets, images, recipe, (epoch, epochs), name, labels, protos)
        log.info("student %s epoch %d/%d loss %.4f", name, epoch + 1, epochs, loss)
        save_checkpoint(ckpt, epoch + 1, student, opt, {"loss": loss})
    return student.eval()


def _distill_epoch(student, opt, targets, images, recipe, epoch_of: tuple[int, int], name: str,
                   labels=None, protos=None) -> float:
    import torch
    import torch.nn.functional as F
    from tqdm import tqdm

    epoch, epochs = epoch_of
    rng = np.random.default_rng([recipe.seed, 1000 + epoch])
    order = rng.permutation(len(images))
    steps = max(1, len(order) // recipe.d_batch)
    student.train()
    total = 0.0
    for step in tqdm(range(steps), desc=f"{name} {epoch + 1}/{epochs}", leave=False):
        set_lr(opt, epoch * steps + step, epochs * steps, warmup=steps)  # one warm-up epoch
        idx = order[step * recipe.d_batch:(step + 1) * recipe.d_batch]
        boxes, flips = random_boxes(len(idx), rng), rng.random(len(idx)) < 0.5
        x = augment(images[idx], boxes, flips, recipe.d_size, rng)
        y = torch.from_numpy(targets.targets(idx, boxes, flips))
        out = student(x)
        loss = (1 - (out * y).sum(1)).mean()
        if protos is not None:
            logits = recipe.ft_scale * out @ protos.t()
            loss = loss + recipe.d_ce_weight * F.cross_entropy(logits, torch.from_numpy(labels[idx]),
                                                               label_smoothing=recipe.ft_label_smoothing)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        total += loss.item()
    return total / steps


def student_from_teacher(teacher_features, targets: TeacherTargets, keep: float = 0.5):
    """Channel-pruned MobileNetV2 student whose head starts as the teacher's projection."""
    import torch
    from torch import nn

    from .architectures import Embedder, MobileNetV2, prune_mobilenet_v2

    full = MobileNetV2()
    full.features.load_state_dict(teacher_features.state_dict())
    pruned = prune_mobilenet_v2(full, keep)
    head = nn.Linear(pruned.out_channels, targets.projection.shape[0])
    with torch.no_grad():
        head.weight.copy_(torch.from_numpy(targets.projection))
        head.bias.copy_(-torch.from_numpy(targets.projection @ targets.mean))
    return Embedder(pruned.features, pruned.out_channels, head)


def projected_teacher(teacher_features, targets: TeacherTargets):
    """The teacher with the distillation projection as head (same space as the students)."""
    import copy

    import torch
    from torch import nn

    from .architectures import Embedder

    head = nn.Linear(targets.projection.shape[1], targets.projection.shape[0])
    with torch.no_grad():
        head.weight.copy_(torch.from_numpy(targets.projection))
        head.bias.copy_(-torch.from_numpy(targets.projection @ targets.mean))
    return Embedder(copy.deepcopy(teacher_features), targets.projection.shape[1], head)

