"""The paper's offline training copies: ColorJitter, CLAHE and a random affine, applied to a frame and its mask.

FetalCLIP-IQA (``preprocess.py``, ``num_train_aug=2``) writes two augmented copies of every training frame with
albumentations ``ColorJitter()`` (brightness and contrast factors in [0.8, 1.2], p 0.5; saturation and hue do
nothing to a grey frame), ``CLAHE()`` (clip limit in [1, 4], 8 x 8 tiles, p 0.5) and ``Affine(scale=1,
translate_percent=(-0.2, 0.2), rotate=(-20, 20), shear=0, p=1)`` (zero fill), on the padded 744 x 744 frame
before the resize to 224. Here the same transforms run on the cached square frame (the affine is the same
map in relative units; only the interpolation happens at 224 instead of 744) with numpy/scipy; the mask moves
with nearest-neighbour sampling, and the copy's label comes from the moved mask, as the paper's does.

Example:
    >>> rng = np.random.default_rng(0)
    >>> img, msk = augment_copy(np.zeros((64, 64), np.uint8), np.zeros((64, 64), np.uint8), rng)
    >>> img.shape, msk.dtype
    ((64, 64), dtype('uint8'))
"""

from __future__ import annotations

import math

import numpy as np

BRIGHTNESS = CONTRAST = (0.8, 1.2)
JITTER_P = CLAHE_P = 0.5
CLAHE_CLIP = (1.0, 4.0)
CLAHE_TILES = 8
TRANSLATE, ROTATE_DEG = 0.2, 20.0


def color_jitter(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Brightness then contrast (about the mean grey), factors uniform in [0.8, 1.2], saturating at 0/255."""
    x = img.astype(np.float32) * rng.uniform(*BRIGHTNESS)
    x = np.clip(x, 0, 255)
    mean = float(x.mean())
    x = (x - mean) * rng.uniform(*CONTRAST) + mean
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def clahe(img: np.ndarray, clip_limit: float, tiles: int = CLAHE_TILES) -> np.ndarray:
    """Contrast-limited adaptive histogram equalisation of a uint8 frame (tiles x tiles, bilinear between tiles).

    ``clip_limit`` is relative to a flat histogram (OpenCV's convention): each bin of a tile is clipped at
    ``clip_limit * tile_pixels / 256`` and the excess is spread evenly over all bins.
    """
    h, w = img.shape
    th, tw = math.ceil(h / tiles), math.ceil(w / tiles)
    padded = np.pad(img, ((0, th * tiles - h), (0, tw * tiles - w)), mode="reflect")
    blocks = padded.reshape(tiles, th, tiles, tw).transpose(0, 2, 1, 3).reshape(tiles, tiles, th * tw)
    hist = np.stack([np.stack([np.bincount(b, minlength=256) for b in row]) for row in blocks]).astype(np.float64)
    limit = max(clip_limit * th * tw / 256.0, 1.0)
    excess = np.clip(hist - limit, 0, None).sum(axis=-1, keepdims=True)
    hist = np.minimum(hist, limit) + excess / 256.0
    lut = np.clip(np.rint(np.cumsum(hist, axis=-1) * (255.0 / (th * tw))), 0, 255)  # (tiles, tiles, 256)
    fy = (np.arange(h) + 0.5) / th - 0.5
    fx = (np.arange(w) + 0.5) / tw - 0.5
    y0 = np.clip(np.floor(fy).astype(int), 0, tiles - 1)
    x0 = np.clip(np.floor(fx).astype(int), 0, tiles - 1)
    y1, x1 = np.minimum(y0 + 1, tiles - 1), np.minimum(x0 + 1, tiles - 1)
    wy = np.clip(fy - y0, 0, 1)[:, None]
    wx = np.clip(fx - x0, 0, 1)[None, :]
    v = img.astype(np.int64)
    top = lut[y0[:, None], x0[None, :], v] * (1 - wx) + lut[y0[:, None], x1[None, :], v] * wx
    bottom = lut[y1[:, None], x0[None, :], v] * (1 - wx) + lut[y1[:, None], x1[None, :], v] * wx
    return np.clip(np.rint(top * (1 - wy) + bottom * wy), 0, 255).astype(np.uint8)


def random_affine(img: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Rotation in [-20, 20] degrees about the centre and a shift of up to 20 % per axis; zero fill."""
    from scipy.ndimage import affine_transform

    h, w = img.shape
    angle = math.radians(rng.uniform(-ROTATE_DEG, ROTATE_DEG))
    ty, tx = rng.uniform(-TRANSLATE, TRANSLATE) * h, rng.uniform(-TRANSLATE, TRANSLATE) * w
    c, s = math.cos(angle), math.sin(angle)
    rot = np.array([[c, -s], [s, c]])  # output (y, x) -> input: rotate back about the centre, then unshift
    centre = np.array([(h - 1) / 2, (w - 1) / 2])
    offset = centre - rot @ (centre + np.array([ty, tx]))
    out_img = affine_transform(img.astype(np.float32), rot, offset=offset, order=1, mode="constant", cval=0.0)
    out_mask = affine_transform(mask, rot, offset=offset, order=0, mode="constant", cval=0)
    return np.clip(np.rint(out_img), 0, 255).astype(np.uint8), out_mask.astype(np.uint8)


def augment_copy(img: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One augmented copy of a (frame, mask) pair in the paper's order: ColorJitter, CLAHE, Affine."""
    if rng.random() < JITTER_P:
        img = color_jitter(img, rng)
    if rng.random() < CLAHE_P:
        img = clahe(img, rng.uniform(*CLAHE_CLIP))
    return random_affine(img, mask, rng)


def augmented_copies(images: np.ndarray, masks: np.ndarray, copies: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``copies`` augmented copies of every (frame, mask): arrays of ``copies * n`` frames, copy-major order."""
    rng = np.random.default_rng([seed, 9872])
    out_i = np.empty((copies * len(images), *images.shape[1:]), np.uint8)
    out_m = np.empty_like(out_i)
    for k in range(copies):
        for i in range(len(images)):
            out_i[k * len(images) + i], out_m[k * len(images) + i] = augment_copy(images[i], masks[i], rng)
    return out_i, out_m
