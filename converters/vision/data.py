"""Product-photo datasets, the decoded-image cache and batch augmentations.

Two layouts are read:

- a list file (the Grocery Store Dataset's ``train.txt``): lines ``path, fine_id[, coarse_id]``
  relative to the list file's folder; class names come from ``classes.csv`` when present;
- an image folder: one subfolder per product (the subfolder name is the SKU).

Images are decoded once, resized so the shorter side is ``cache_size`` and centre
cropped to a square (the same geometry as the serving preprocess: resize 256,
centre crop 224), and kept as one uint8 array ``[N, S, S, 3]``.
"""
from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


@dataclass
class ImageList:
    """Image paths with integer labels and the label names (SKUs)."""

    paths: list[Path]
    labels: np.ndarray
    names: list[str]

    def __len__(self) -> int:
        return len(self.paths)


def read_split(root: str | Path, split: str) -> ImageList:
    """Read ``split`` (``train`` or ``val``) from a list-file or folder dataset at ``root``."""
    root = Path(root)
    if (root / f"{split}.txt").is_file():
        return _read_list_file(root, root / f"{split}.txt")
    if (root / split).is_dir():
        return read_folder(root / split)
    raise FileNotFoundError(f"no {split}.txt or {split}/ folder in {root}")


def _read_list_file(root: Path, list_file: Path) -> ImageList:
    rows = [line.split(",") for line in list_file.read_text().splitlines() if line.strip()]
    paths = [root / r[0].strip() for r in rows]
    labels = np.array([int(r[1]) for r in rows], dtype=np.int64)
    return ImageList(paths, labels, class_names(root, int(labels.max()) + 1))


def class_names(root: Path, count: int) -> list[str]:
    """Fine class names from ``classes.csv`` (id -> name), or ``class_<id>``."""
    names = [f"class_{i}" for i in range(count)]
    table = root / "classes.csv"
    if table.is_file():
        with table.open(newline="") as fh:
            for row in csv.DictReader(fh):
                names[int(row["Class ID (int)"])] = row["Class Name (str)"]
    return names


def read_folder(folder: str | Path) -> ImageList:
    """One subfolder per product; the sorted subfolder names are the label names."""
    folder = Path(folder)
    names = sorted(p.name for p in folder.iterdir() if p.is_dir())
    paths, labels = [], []
    for idx, name in enumerate(names):
        for img in sorted((folder / name).rglob("*")):
            if img.suffix.lower() in IMAGE_SUFFIXES:
                paths.append(img)
                labels.append(idx)
    return ImageList(paths, np.array(labels, dtype=np.int64), names)


def load_square(path: Path, size: int) -> np.ndarray:
    """Decode an image, resize its shorter side to ``size`` and centre-crop a square (uint8 HWC RGB)."""
    from PIL import Image

    with Image.open(path) as im:
        im.draft("RGB", (size, size))
        im = im.convert("RGB")
        w, h = im.size
        scale = size / min(w, h)
        nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
        im = im.resize((nw, nh), Image.BILINEAR)
        left, top = (nw - size) // 2, (nh - size) // 2
        return np.asarray(im.crop((left, top, left + size, top + size)))


def load_cached(images: ImageList, size: int, cache_dir: Path | None, desc: str = "decode") -> np.ndarray:
    """All images as ``[N, size, size, 3]`` uint8, cached in ``cache_dir`` as ``.npy``."""
    return _cached_stack(images, lambda p: load_square(p, size), "images", f"@{size}", cache_dir, desc)


def _cached_stack(images: ImageList, load, prefix: str, variant: str, cache_dir: Path | None, desc: str) -> np.ndarray:
    """``load(path)`` of every image, stacked; cached as ``<prefix>-<hash of the paths and variant>.npy``."""
    from tqdm import tqdm

    key = hashlib.sha256(("|".join(map(str, images.paths)) + variant).encode()).hexdigest()[:16]
    cache = Path(cache_dir) / f"{prefix}-{key}.npy" if cache_dir else None
    if cache is not None and cache.is_file():
        return np.load(cache)
    out = np.stack([load(p) for p in tqdm(images.paths, desc=desc, leave=False)])
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.save(cache, out)
    return out


def serving_crop(path: Path, size: int) -> np.ndarray:
    """One photo exactly as the node feeds it to a model of input ``size`` (before normalisation): uint8 HWC RGB.

    Uses the visual search plugin's own decode and :func:`~plugins.visual_search.imaging.model_crop`
    with the preprocessing a bundle's manifest records, so evaluation scores what a node serves.
    """
    from plugins.visual_search.imaging import Preprocess, decode, model_crop

    from .bundle import preprocess_spec

    recipe = Preprocess.from_manifest(preprocess_spec(size))
    return model_crop(decode(Path(path).read_bytes(), 1 << 40, recipe.resize), recipe)


def load_serving(images: ImageList, size: int, cache_dir: Path | None, desc: str = "serving crops") -> np.ndarray:
    """All images as :func:`serving_crop` makes them, ``[N, size, size, 3]`` uint8, cached in ``cache_dir``."""
    return _cached_stack(images, lambda p: serving_crop(p, size), "serving", f"@serve{size}", cache_dir, desc)


def to_tensor(batch_uint8, size: int | None = None):
    """uint8 ``[N, H, W, 3]`` -> normalised float32 ``[N, 3, size, size]`` (centre crop 224/256 ratio).

    ``size=None``: the images are already model inputs (:func:`load_serving`); only normalise.
    """
    import torch

    x = torch.from_numpy(np.array(batch_uint8, copy=True)).permute(0, 3, 1, 2).float().div_(255)
    if size is not None:
        x = center_crop_resize(x, size)
    return normalise(x)


def center_crop_resize(x, size: int, crop_ratio: float = 224 / 256):
    """Centre-crop ``crop_ratio`` of a square batch and resize it to ``size`` (the serving geometry)."""
    import torch.nn.functional as F

    full = x.shape[-1]
    crop = round(full * crop_ratio)
    off = (full - crop) // 2
    x = x[..., off:off + crop, off:off + crop]
    return x if crop == size else F.interpolate(x, size=(size, size), mode="bilinear",
                                                antialias=True, align_corners=False)


def normalise(x):
    """Subtract the ImageNet mean and divide by its std, channel-wise (NCHW float in [0, 1])."""
    import torch

    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    std = torch.tensor(STD).view(1, 3, 1, 1)
    return (x - mean) / std


def random_boxes(n: int, rng: np.random.Generator, scale=(0.35, 1.0), ratio=(3 / 4, 4 / 3)) -> np.ndarray:
    """``n`` random-resized-crop boxes ``(x0, y0, x1, y1)`` in [0, 1] unit-square coordinates."""
    area = rng.uniform(*scale, size=n)
    logr = rng.uniform(np.log(ratio[0]), np.log(ratio[1]), size=n)
    w = np.clip(np.sqrt(area * np.exp(logr)), 0.05, 1.0)
    h = np.clip(np.sqrt(area / np.exp(logr)), 0.05, 1.0)
    x0 = rng.uniform(0, 1 - w)
    y0 = rng.uniform(0, 1 - h)
    return np.stack([x0, y0, x0 + w, y0 + h], axis=1)


def augment(images: np.ndarray, boxes: np.ndarray, flips: np.ndarray, size: int, rng: np.random.Generator,
            jitter: float = 0.2):
    """Crop each image to its box, resize to ``size``, flip, jitter brightness/contrast, normalise."""
    import torch
    import torch.nn.functional as F

    full = images.shape[1]
    crops = []
    for img, (x0, y0, x1, y1), flip in zip(images, boxes, flips):
        a, b = int(y0 * full), max(int(y0 * full) + 2, int(round(y1 * full)))
        c, d = int(x0 * full), max(int(x0 * full) + 2, int(round(x1 * full)))
        t = torch.from_numpy(np.ascontiguousarray(img[a:b, c:d])).permute(2, 0, 1)[None].float()
        t = F.interpolate(t, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        crops.append(t.flip(-1) if flip else t)
    x = torch.cat(crops).div_(255)
    if jitter:
        n = len(x)
        bright = torch.from_numpy(rng.uniform(1 - jitter, 1 + jitter, n)).float().view(n, 1, 1, 1)
        contrast = torch.from_numpy(rng.uniform(1 - jitter, 1 + jitter, n)).float().view(n, 1, 1, 1)
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        x = ((x - mean) * contrast + mean * bright).clamp_(0, 1)
    return normalise(x)
