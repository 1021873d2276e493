"""Fine-tune the MobileNetV2 teacher on product photos with a cosine classifier.

Recipe (measured on the grocery photos, see PITFALLS): early blocks and every
batch norm frozen, a cosine classifier (scale 16) initialised from class-mean
features, label smoothing, SGD Nesterov with a 10x higher head learning rate
and a cosine schedule, training at a lower resolution than scoring.

Each epoch draws its shuffling and augmentation from ``(seed, epoch)``, so a run
resumed from an epoch checkpoint continues exactly as an uninterrupted one.
"""
from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np

from .checkpoint import save_checkpoint, start_epoch
from .data import augment, random_boxes, to_tensor

log = logging.getLogger(__name__)


def set_lr(optimizer, step: int, total: int, warmup: float = 0) -> None:
    """Set every group's ``lr`` from its ``base``: linear warm-up over ``warmup`` steps, cosine decay to 0 over ``total``."""
    warm = min(1.0, (step + 1) / warmup) if warmup else 1.0
    decay = 0.5 * (1 + math.cos(math.pi * min(1.0, step / total)))
    for group in optimizer.param_groups:
        group["lr"] = group["base"] * decay * warm


def cosine_classifier(weight, scale: float):
    """``scale * cos(feature, class weight)`` logits; weights ``[C, D]`` start as ``weight``."""
    from torch import nn

    class CosineClassifier(nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = nn.Parameter(weight.clone())
            self.scale = scale

        def forward(self, f):
            f = f / f.norm(dim=1, keepdim=True).clamp_min(1e-12)
            w = self.weight / self.weight.norm(dim=1, keepdim=True).clamp_min(1e-12)
            return self.scale * f @ w.t()
    return CosineClassifier()


def class_means(embedder, images: np.ndarray, labels: np.ndarray, size: int, n_classes: int):
    """Mean pooled feature per class (the classifier's initial weights)."""
    import torch

    feats = []
    embedder.eval()
    with torch.inference_mode():
        for i in range(0, len(images), 64):
            feats.append(embedder.pooled(to_tensor(images[i:i + 64], size)))
    feats = torch.cat(feats)
    return torch.stack([feats[torch.from_numpy(labels == c)].mean(0) for c in range(n_classes)])


def freeze_teacher(embedder, freeze_blocks: int) -> None:
    """Freeze ``features[:freeze_blocks]`` and every batch norm (statistics and affine)."""
    from torch import nn

    for i, block in enumerate(embedder.features):
        for p in block.parameters():
            p.requires_grad_(i >= freeze_blocks)
    for m in embedder.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.eval()
            for p in m.parameters():
                p.requires_grad_(False)


def finetune_teacher(embedder, images: np.ndarray, labels: np.ndarray, n_classes: int, recipe,
                     work_dir: Path, resume: bool = False):
    """Fine-tune ``embedder`` (MobileNetV2 features) in place; returns it in eval mode.

    :param images: uint8 squares ``[N, S, S, 3]``; :param labels: int class per image.
    :param work_dir: folder for ``teacher.ckpt`` (written after each epoch).
    """
    import torch

    torch.manual_seed(recipe.seed)
    head = cosine_classifier(class_means(embedder, images, labels, recipe.ft_size, n_classes),
                                  recipe.ft_scale)
    model = torch.nn.ModuleDict({"embedder": embedder, "head": head})
    freeze_teacher(embedder, recipe.ft_freeze_blocks)
    backbone = [p for p in embedder.parameters() if p.requires_grad]
    opt = torch.optim.SGD([{"params": backbone, "lr": recipe.ft_lr_backbone, "base": recipe.ft_lr_backbone},
                           {"params": head.parameters(), "lr": recipe.ft_lr_head, "base": recipe.ft_lr_head}],
                          momentum=0.9, nesterov=True, weight_decay=recipe.ft_weight_decay)
    ckpt = Path(work_dir) / "teacher.ckpt"
    first = start_epoch(ckpt, model, opt, resume)
    for epoch in range(first, recipe.ft_epochs):
        loss, acc = _train_epoch(model, opt, images, labels, recipe, epoch)
        log.info("teacher epoch %d/%d loss %.4f acc %.3f", epoch + 1, recipe.ft_epochs, loss, acc)
        save_checkpoint(ckpt, epoch + 1, model, opt, {"loss": loss, "acc": acc})
    return embedder.eval()


def _train_epoch(model, opt, images, labels, recipe, epoch: int) -> tuple[float, float]:
    import torch
    import torch.nn.functional as F
    from tqdm import tqdm

    rng = np.random.default_rng([recipe.seed, epoch])
    order = rng.permutation(len(images))
    steps = len(order) // recipe.ft_batch or 1
    model["head"].train()
    total, correct, seen = 0.0, 0, 0
    for step in tqdm(range(steps), desc=f"teacher {epoch + 1}/{recipe.ft_epochs}", leave=False):
        set_lr(opt, epoch * steps + step, recipe.ft_epochs * steps, steps * recipe.ft_warmup_epochs)
        idx = order[step * recipe.ft_batch:(step + 1) * recipe.ft_batch]
        x = augment(images[idx], random_boxes(len(idx), rng), rng.random(len(idx)) < 0.5, recipe.ft_size, rng)
        y = torch.from_numpy(labels[idx])
        logits = model["head"](model["embedder"].pooled(x))
        # CosFace margin: the true class must win by ``ft_margin`` in cosine, which pulls photos of
        # one product closer together than the plain softmax does (accuracy is counted without it)
        margin = recipe.ft_scale * recipe.ft_margin * F.one_hot(y, logits.shape[1]).to(logits.dtype)
        loss = F.cross_entropy(logits - margin, y, label_smoothing=recipe.ft_label_smoothing)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        total += loss.item() * len(idx)
        correct += int((logits.argmax(1) == y).sum())
        seen += len(idx)
    return total / seen, correct / seen
