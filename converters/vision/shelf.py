"""Studio shots on store shelves: paste a white-background packshot onto a crop of a phone photo.

A packshot's background is the near-white region connected to the image border (white parts of the
product itself — a milk carton, a yoghurt lid — stay product). :func:`shelf_composite` scales the
product, places it on a random crop of a store photo (another SKU's shelf), and changes lighting,
colour and sharpness the way a customer's phone does. Used for the studio shots as a second training
domain (:mod:`.twodomain`) and for catalog-side augmentation (several views of each shot averaged).
"""
from __future__ import annotations

import numpy as np


def product_mask(image: np.ndarray, threshold: int = 245) -> np.ndarray:
    """``[H, W]`` float mask, 1 on the product: 0 on near-white pixels connected to the border, edges softened.

    The white mask is eroded before its border components are taken, so a thin bright rim or highlight
    does not connect a white part of the product to the background.
    """
    import cv2

    white = (image.min(axis=2) >= threshold).astype(np.uint8)
    kernel = np.ones((3, 3), np.uint8)
    core = cv2.erode(white, kernel, iterations=2)
    count, labels = cv2.connectedComponents(core, connectivity=4)
    border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    background = np.isin(labels, border[border > 0]).astype(np.uint8)
    background = cv2.dilate(background, kernel, iterations=3) & white
    return cv2.GaussianBlur(1.0 - background.astype(np.float32), (5, 5), 0)


def _random_crop(image: np.ndarray, rng, scale=(0.3, 1.0)) -> np.ndarray:
    import cv2

    h, w = image.shape[:2]
    s = rng.uniform(*scale)
    ch, cw = max(8, int(h * s)), max(8, int(w * s))
    y, x = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
    return cv2.resize(image[y:y + ch, x:x + cw], (w, h), interpolation=cv2.INTER_LINEAR)


def _phone_look(out: np.ndarray, rng) -> np.ndarray:
    """Lighting, colour cast, blur and sensor noise on a float HWC image."""
    import cv2

    out = out * rng.uniform(0.65, 1.15) + rng.uniform(-20, 20)
    out = out * rng.uniform(0.88, 1.12, 3)
    if rng.random() < 0.35:
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.5, 1.4))
    return out + rng.normal(0, rng.uniform(0, 6), out.shape)


def shelf_composite(shot: np.ndarray, background: np.ndarray, rng, scale=(0.5, 0.95)) -> np.ndarray:
    """One view of ``shot`` (uint8 HWC, white background) on a crop of ``background`` (same size)."""
    import cv2

    h, w = shot.shape[:2]
    bg = _random_crop(background, rng).astype(np.float32)
    side = int(min(h, w) * rng.uniform(*scale))
    product = cv2.resize(shot, (side, side), interpolation=cv2.INTER_AREA).astype(np.float32)
    mask = cv2.resize(product_mask(shot), (side, side), interpolation=cv2.INTER_AREA)[..., None]
    y, x = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
    region = bg[y:y + side, x:x + side]
    bg[y:y + side, x:x + side] = mask * product + (1 - mask) * region
    if rng.random() < 0.5:
        bg = bg[:, ::-1]
    return np.clip(_phone_look(bg, rng), 0, 255).astype(np.uint8)


def shelf_views(shots: np.ndarray, backgrounds: np.ndarray, views: int, seed: int = 0,
                avoid: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """``[N, views, H, W, 3]`` shelf composites of each shot (seeded); backgrounds resized to the shots.

    ``avoid=(shot_labels, background_labels)`` draws each shot's backgrounds from other SKUs' photos.
    """
    import cv2

    rng = np.random.default_rng(seed)
    h, w = shots.shape[1:3]
    out = np.empty((len(shots), views, h, w, 3), np.uint8)
    for i, shot in enumerate(shots):
        pool = np.arange(len(backgrounds)) if avoid is None else np.flatnonzero(avoid[1] != avoid[0][i])
        for v in range(views):
            bg = backgrounds[rng.choice(pool)]
            if bg.shape[:2] != (h, w):
                bg = cv2.resize(bg, (w, h), interpolation=cv2.INTER_AREA)
            out[i, v] = shelf_composite(shot, bg, rng)
    return out
