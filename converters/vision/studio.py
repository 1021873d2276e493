"""The retailer's situation on the Grocery Store Dataset: studio shots as the catalog, phone photos as queries.

- *studio catalog*: the catalog is the dataset's iconic image of each fine class (one studio packshot
  per SKU, from ``classes.csv``), the queries are the validation photos; recall@1/@5 by SKU.
- *phone catalog*: the catalog is the training photos (the converter's usual figure), beside it.

Catalog-side augmentation (:func:`augmented_views`) embeds several views of each studio shot —
random crops, flips, lighting and colour changes, its white background replaced by a random colour
or noise — and averages them with the shot itself into the SKU's vector; it needs no retraining.
Test-time multi-crop (:func:`multi_crop`) averages a query's embedding over its centre and four
corner crops and the mirror image. A category-first step (:func:`category_first_scores`) first picks
the coarse category whose SKUs score highest on average, then ranks SKUs inside it first.

The iconic images are read from ``../shared`` only (benchmarks and tests); they are never copied into
the repository or a bundle.
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from .data import ImageList

ICONIC = "iconic-images-and-descriptions"


def iconic_images(root: str | Path) -> tuple[ImageList, np.ndarray, list[str]]:
    """``(one iconic image per fine class, coarse id per fine class, description per fine class)``."""
    root = Path(root)
    with (root / "classes.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    rows.sort(key=lambda r: int(r["Class ID (int)"]))
    paths = [root / r["Iconic Image Path (str)"].lstrip("/") for r in rows]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"{len(missing)} iconic images are missing, e.g. {missing[0]}")
    labels = np.array([int(r["Class ID (int)"]) for r in rows], np.int64)
    coarse = np.array([int(r["Coarse Class ID (int)"]) for r in rows], np.int64)
    texts = [_read_text(root / r["Product Description Path (str)"].lstrip("/")) for r in rows]
    return ImageList(paths, labels, [r["Class Name (str)"] for r in rows]), coarse, texts


def _read_text(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace").strip() if path.is_file() else ""


def _background_mask(image: np.ndarray, threshold: int = 232) -> np.ndarray:
    """Near-white pixels (a packshot's background), as a float mask ``[H, W, 1]``, softened at the edges."""
    import cv2

    mask = (image.min(axis=2) >= threshold).astype(np.float32)
    return cv2.GaussianBlur(mask, (5, 5), 0)[..., None]


def _random_background(rng, shape) -> np.ndarray:
    h, w, _ = shape
    if rng.random() < 0.5:
        colour = rng.integers(40, 220, 3)
        return np.broadcast_to(colour, shape).astype(np.float32) + rng.normal(0, 12, shape)
    low = rng.integers(20, 200, (max(h // 16, 2), max(w // 16, 2), 3)).astype(np.uint8)
    import cv2

    return cv2.resize(low, (w, h), interpolation=cv2.INTER_CUBIC).astype(np.float32)


def augment(image: np.ndarray, rng) -> np.ndarray:
    """One augmented view of a uint8 HWC studio shot: new background, crop, flip, lighting, colour."""
    import cv2

    h, w, _ = image.shape
    out = image.astype(np.float32)
    mask = _background_mask(image)
    out = out * (1 - mask) + _random_background(rng, image.shape) * mask
    scale = rng.uniform(0.6, 1.0)
    ch, cw = int(h * scale), int(w * scale)
    y, x = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
    out = cv2.resize(out[y:y + ch, x:x + cw], (w, h), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    if rng.random() < 0.5:
        out = out[:, ::-1]
    out = out * rng.uniform(0.6, 1.2) + rng.uniform(-25, 25)          # lighting
    out = out * rng.uniform(0.85, 1.15, 3)                           # colour cast
    return np.clip(out, 0, 255).astype(np.uint8)


def augmented_views(images: np.ndarray, views: int, seed: int = 0) -> np.ndarray:
    """``[N, views + 1, H, W, 3]``: each image itself, then ``views`` augmented views (seeded)."""
    rng = np.random.default_rng(seed)
    return np.stack([np.stack([image] + [augment(image, rng) for _ in range(views)]) for image in images])


def multi_crop(images: np.ndarray, keep: float = 0.8) -> np.ndarray:
    """``[N, 7, H, W, 3]``: the image, its centre and four corner crops of ``keep`` (resized back), its mirror."""
    import cv2

    h, w = images.shape[1:3]
    ch, cw = int(h * keep), int(w * keep)
    corners = [((h - ch) // 2, (w - cw) // 2), (0, 0), (0, w - cw), (h - ch, 0), (h - ch, w - cw)]
    out = []
    for image in images:
        crops = [cv2.resize(image[y:y + ch, x:x + cw], (w, h), interpolation=cv2.INTER_AREA) for y, x in corners]
        out.append(np.stack([image, *crops, image[:, ::-1]]))
    return np.stack(out)


def embed_view_sets(embed, views: np.ndarray) -> np.ndarray:
    """Embed ``[N, V, H, W, 3]`` views: normalised vectors ``[N, V, D]``."""
    from .evaluate import embed_images

    n, v = views.shape[:2]
    flat = embed_images(embed, views.reshape(n * v, *views.shape[2:]), None, desc="views")
    flat /= np.maximum(np.linalg.norm(flat, axis=1, keepdims=True), 1e-12)
    return flat.reshape(n, v, -1)


def embed_views(embed, views: np.ndarray) -> np.ndarray:
    """Embed ``[N, V, H, W, 3]`` views and return each image's normalised mean vector ``[N, D]``."""
    mean = embed_view_sets(embed, views).mean(axis=1)
    return mean / np.maximum(np.linalg.norm(mean, axis=1, keepdims=True), 1e-12)


def trim_white_border(image: np.ndarray, threshold: int = 235, margin: float = 0.04) -> np.ndarray:
    """A packshot without its white border: the bounding box of the pixels darker than ``threshold`` (in
    any channel), widened by ``margin`` of its size, padded with white to a square. An all-white image
    comes back as it is."""
    rows, cols = np.nonzero(image.min(axis=2) < threshold)
    if not len(rows):
        return image
    y0, y1, x0, x1 = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    dy, dx = int((y1 - y0) * margin), int((x1 - x0) * margin)
    box = image[max(0, y0 - dy):y1 + dy, max(0, x0 - dx):x1 + dx]
    side = max(box.shape[:2])
    out = np.full((side, side, image.shape[2]), 255, np.uint8)
    top, left = (side - box.shape[0]) // 2, (side - box.shape[1]) // 2
    out[top:top + box.shape[0], left:left + box.shape[1]] = box
    return out


def trimmed_serving_crops(images: ImageList, size: int) -> np.ndarray:
    """``[N, size, size, 3]`` RGB: each studio shot decoded as the node decodes it, its white border
    trimmed (:func:`trim_white_border`), then resized and centre-cropped as the node does. Never cached."""
    from plugins.visual_search.imaging import Preprocess, decode, model_crop

    from .bundle import preprocess_spec

    recipe = Preprocess.from_manifest(preprocess_spec(size))
    out = []
    for path in images.paths:
        bgr = decode(Path(path).read_bytes(), 1 << 40, 1 << 16)
        out.append(model_crop(np.ascontiguousarray(trim_white_border(bgr)), recipe))
    return np.stack(out)


def category_first_scores(scores: np.ndarray, coarse: np.ndarray, top: int = 1) -> np.ndarray:
    """SKU scores ``[Q, C]`` re-ranked category first: the ``top`` coarse categories whose SKUs score
    highest on average (the query against each category's centre) come first, SKU order kept inside."""
    categories = np.unique(coarse)
    centre = np.stack([scores[:, coarse == c].mean(axis=1) for c in categories], axis=1)
    chosen = categories[np.argsort(-centre, axis=1)[:, :top]]
    inside = (coarse[None, :, None] == chosen[:, None, :]).any(axis=2)
    return scores + 10.0 * inside


def recall_from_scores(scores: np.ndarray, truth: np.ndarray, ks=(1, 5)) -> dict[str, float]:
    """recall@k of SKU scores ``[Q, C]`` (column c is SKU c)."""
    order = np.argsort(-scores, axis=1)
    return {f"recall@{k}": round(float((order[:, :k] == truth[:, None]).any(axis=1).mean()), 4) for k in ks}


def studio_catalog(root: str | Path, size: int, serving: bool = True):
    """``(serving crops, labels)`` of the iconic images when ``root`` has them (``classes.csv`` and
    ``iconic-images-and-descriptions/``), else ``None``. Never cached on disk.

    ``serving=False``: decoded squares of side ``size`` instead (training views).
    """
    from .data import load_cached, load_serving

    root = Path(root)
    if not (root / "classes.csv").is_file() or not (root / ICONIC).is_dir():
        return None
    try:
        iconic, _, _ = iconic_images(root)
    except (KeyError, FileNotFoundError, ValueError):
        return None
    if not serving:
        return load_cached(iconic, size, None, "decode iconic"), iconic.labels
    return load_serving(iconic, size, None, "serving crops iconic"), iconic.labels


def studio_metrics(embed, studio, queries: np.ndarray, query_labels: np.ndarray) -> dict:
    """``studio_recall@1/@5``: catalog = one studio shot per SKU (``studio`` from :func:`studio_catalog`)."""
    from .evaluate import embed_images, recall_at_k

    if studio is None:
        return {}
    pixels, labels = studio
    found = recall_at_k(embed_images(embed, pixels, None, desc="studio catalog"), labels,
                        embed_images(embed, queries, None, desc="studio queries"), query_labels)
    return {f"studio_{k}": v for k, v in found.items()}


def shelf_catalog(shots: np.ndarray, backgrounds: np.ndarray, views: int, seed: int = 0,
                  avoid: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """``[N, views + 1, H, W, 3]``: each studio shot, then ``views`` composites of it on store-shelf crops
    (:func:`~.shelf.shelf_views`; backgrounds are catalog-side photos of other SKUs, never queries)."""
    from .shelf import shelf_views

    return np.concatenate([shots[:, None], shelf_views(shots, backgrounds, views, seed, avoid)], axis=1)


def validation_split(labels: np.ndarray, every: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """``(catalog rows, query rows)`` of a catalog: every ``every``-th photo of each SKU becomes a query.

    Used to choose a setting (a fusion weight) without touching the evaluation queries.
    """
    rank = np.zeros(len(labels), np.int64)
    for c in np.unique(labels):
        rows = np.flatnonzero(labels == c)
        rank[rows] = np.arange(len(rows))
    query = rank % every == every - 1
    return np.flatnonzero(~query), np.flatnonzero(query)


def fuse(scores_a: np.ndarray, scores_b: np.ndarray, weight: float) -> np.ndarray:
    """``weight * a + (1 - weight) * b``: SKU cosines of two embeddings blended (the same ranking as
    concatenating the two normalised vectors scaled by ``sqrt(weight)`` and ``sqrt(1 - weight)``)."""
    return weight * scores_a + (1 - weight) * scores_b


def choose_weight(score_pairs: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
                  grid=tuple(np.round(np.arange(0.0, 1.01, 0.1), 2))) -> tuple[float, dict]:
    """The fusion weight with the best mean recall@1 over ``(scores_a, scores_b, truth)`` validation sets."""
    table = {}
    for w in grid:
        table[float(w)] = round(float(np.mean([recall_from_scores(fuse(a, b, w), t)["recall@1"]
                                              for a, b, t in score_pairs])), 4)
    best = max(table, key=lambda w: (table[w], w))
    return best, table
