"""Frames for the INT8 agreement gate: every frame the calibration did not use, plus augmented copies.

Agreement with fp32 needs no label, so the gate need not be decided on the (small) labelled validation split:
the other train frames and augmented copies of the calibration frames (left-right flip, a shift, a gain: what a
handheld probe varies) count too. When the pool is bigger than ``cap``, every *borderline* frame (fp32
probability within ``quantize.gate.BORDERLINE`` of the threshold: the frames that can flip) is kept and the rest
is sampled, so thousands of easy background frames cannot inflate the agreement.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from fetaledge.data.cache import FrameCache
from fetaledge.data.raw import raw_frames_at


def augment_raw(frames: np.ndarray, copies: int, seed: int = 0) -> np.ndarray:
    """``copies`` augmented versions of each raw uint8 frame (N, H, W): flip, shift up to 4 % of the size, gain
    0.85-1.15; zero fill (the black outside the fan).

    Example:
        >>> augment_raw(np.zeros((2, 8, 8), np.uint8), copies=3).shape
        (6, 8, 8)
    """
    if copies <= 0 or len(frames) == 0:
        return np.zeros((0, *frames.shape[1:]), np.uint8)
    rng = np.random.default_rng(seed)
    n, h, w = frames.shape
    out = np.zeros((n * copies, h, w), np.uint8)
    k = 0
    for c in range(copies):
        for f in frames:
            img = f[:, ::-1] if (c + rng.integers(2)) % 2 == 0 else f
            dy, dx = (int(rng.integers(-int(0.04 * s), int(0.04 * s) + 1)) for s in (h, w))
            dst = out[k]
            ys, yd = (slice(0, h - dy), slice(dy, h)) if dy >= 0 else (slice(-dy, h), slice(0, h + dy))
            xs, xd = (slice(0, w - dx), slice(dx, w)) if dx >= 0 else (slice(-dx, w), slice(0, w + dx))
            gain = rng.uniform(0.85, 1.15)
            dst[yd, xd] = np.clip(np.asarray(img[ys, xs], np.float32) * gain, 0, 255).astype(np.uint8)
            k += 1
    return out


def borderline_first(p: np.ndarray, threshold: float, cap: int, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """Sorted indices of at most ``cap`` rows: every row whose probability ``p`` lies within ``BORDERLINE`` of
    ``threshold`` (sampled down if there are more), then a random sample of the rest; and how many were borderline.

    Example:
        >>> keep, n = borderline_first(np.array([0.01, 0.5, 0.99, 0.45]), 0.5, 3, np.random.default_rng(0))
        >>> n, {1, 3} <= set(keep.tolist()), len(keep)
        (2, True, 3)
    """
    from quantize.gate import BORDERLINE

    border = np.flatnonzero(np.abs(np.asarray(p) - threshold) <= BORDERLINE)
    n_border = int(len(border))
    if len(border) > cap:
        border = rng.choice(border, cap, replace=False)
    others = np.setdiff1d(np.arange(len(p)), border)
    take = rng.choice(others, max(0, min(len(others), cap - len(border))), replace=False)
    return np.sort(np.concatenate([border, take]).astype(np.int64)), n_border


def agreement_frames(cache: FrameCache, calibration_index: np.ndarray, *, copies: int = 2, cap: int = 600,
                     score: Callable[[np.ndarray], np.ndarray] | None = None, threshold: float = 0.5,
                     seed: int = 0) -> tuple[np.ndarray, dict]:
    """Unlabelled gate frames: the train frames outside ``calibration_index`` plus ``copies`` augmented copies of
    the calibration frames; over ``cap``, all borderline frames (by ``score``, the fp32 model's logits) and a seeded
    sample of the others (``threshold``: the decision threshold as a probability). Returns the frames and a
    description for the report.

    Example:
        >>> frames, info = agreement_frames(FrameCache("work/cache"), idx, score=fp32_logits)  # doctest: +SKIP
    """
    from fetaledge.runtime.numeric import sigmoid_array

    n_train = len(cache.load("train").labels)
    rest = np.setdiff1d(np.arange(n_train), np.asarray(calibration_index, np.int64))
    rng = np.random.default_rng(seed)
    if len(rest) > 4 * cap:  # never read thousands of raw frames for a gate of a few hundred
        rest = np.sort(rng.choice(rest, 4 * cap, replace=False))
    parts = [raw_frames_at(cache, "train", rest)] if len(rest) else []
    calib = raw_frames_at(cache, "train", np.asarray(calibration_index, np.int64))
    parts.append(augment_raw(calib, copies, seed))
    pool = np.concatenate(parts) if parts else np.zeros((0,), np.uint8)
    info = {"train_not_calibration": int(len(rest)), "augmented_copies": int(len(calib) * copies),
            "copies_per_calibration_frame": int(copies), "pool": int(len(pool))}
    if len(pool) > cap and score is not None:
        p = sigmoid_array(np.asarray(score(pool), np.float64).ravel())
        keep, n_border = borderline_first(p, threshold, cap, rng)
        info.update({"borderline_in_pool": n_border, "sampled_others": int(len(keep) - min(n_border, cap))})
        pool = pool[keep]
    elif len(pool) > cap:
        pool = pool[np.sort(rng.choice(len(pool), cap, replace=False))]
    info["used"] = int(len(pool))
    return pool, info
