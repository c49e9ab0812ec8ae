"""Frames of another size or in colour, brought to a bundle's input (numpy only, no torch).

A bundle is built for one raw frame size (``iqa_spec.json`` ``input.height`` x ``input.width``). What a
frame of another size becomes is stated by the spec's ``input.other_sizes`` (``docs/frame_geometry.md``):

* ``"refuse"``: an error naming both sizes (the default of every ACOUSLIC bundle, and the meaning of every
  schema-1 spec);
* ``"letterbox"``: scale to fit, preserving the aspect ratio, centred, zero padding; see :func:`letterbox`.

Colour images (RGB or RGBA files) become grey by :func:`to_grey` (integer ITU-R BT.601 luma, bit-identical
to Pillow's ``convert("L")``) before anything else, in training, export and at run time.

The letterbox is one deterministic rule, reproduced bit for bit by ``android_demo/iqa-core``
(``FrameGeometry.kt``) and pinned by ``tests/goldens/geometry/letterbox_cases.json``:

1. **Padded box.** Pad the frame (h, w) with zeros, centred (``before = (P - n) // 2``), to the smallest
   box (P_h, P_w) of the target's aspect: if ``h * W >= w * H`` (height limits) then ``P_h = h`` and
   ``P_w = max(w, round_half_up(h * W / H))``, else ``P_w = w`` and ``P_h = max(h, round_half_up(w * H / W))``
   (integer arithmetic: ``round_half_up(a / b) = (2a + b) // (2b)``). For a square target this IS the
   pad-to-square of :mod:`fetaledge.preprocess`.
2. **Resample** each padded axis (P -> out) with the antialiased triangle filter of
   :mod:`fetaledge.preprocess`: output sample j has centre ``c = (j + 0.5) * (P / out)``, support
   ``s = max(P / out, 1)``, padded sample q weighs ``max(0, 1 - |q + 0.5 - c| / s)``, weights are divided by
   their sum over the whole padded axis (padding included: it is zeros). All in IEEE binary64, sums in
   increasing q.
3. **Apply** horizontally first (every input row), then vertically, each output value accumulated from 0.0
   in increasing tap order (``acc += w * v``, no fused multiply-add), then rounded half to even and clipped
   to 0..255.

Example:
    >>> import numpy as np
    >>> letterbox(np.full((2, 4), 200, np.uint8), 4, 4).tolist()
    [[0, 0, 0, 0], [200, 200, 200, 200], [200, 200, 200, 200], [0, 0, 0, 0]]
    >>> letterbox_box(430, 500, 562, 744)
    (430, 569)
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from fetaledge.errors import FetaledgeError

__all__ = ["OTHER_SIZES", "axis_taps", "fit_frame", "letterbox", "letterbox_box", "to_grey"]

OTHER_SIZES = ("refuse", "letterbox")


def to_grey(image: np.ndarray) -> np.ndarray:
    """A uint8 image (H, W), (H, W, 1), (H, W, 3) RGB or (H, W, 4) RGBA as grey (H, W) uint8.

    Colour uses the integer luma ``(19595 R + 38470 G + 7471 B + 32768) >> 16`` (ITU-R BT.601 weights
    0.299/0.587/0.114 in 16-bit fixed point, as Pillow's ``convert("L")``); alpha is ignored.

    Example:
        >>> to_grey(np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255]]], np.uint8)).tolist()
        [[76, 150, 29, 255]]
    """
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise FetaledgeError(f"image dtype is {image.dtype}, expected uint8", hint="pass 8-bit images")
    if image.ndim == 2:
        return image
    if image.ndim == 3 and image.shape[2] == 1:
        return image[:, :, 0]
    if image.ndim == 3 and image.shape[2] in (3, 4):
        c = image[:, :, :3].astype(np.uint32)
        return ((c[:, :, 0] * 19595 + c[:, :, 1] * 38470 + c[:, :, 2] * 7471 + 32768) >> 16).astype(np.uint8)
    raise FetaledgeError(f"image of shape {image.shape} is neither grey (H, W) nor colour (H, W, 3|4)")


def letterbox_box(h: int, w: int, out_h: int, out_w: int) -> tuple[int, int]:
    """The zero-padded box (P_h, P_w) of the target's aspect ratio that holds an (h, w) frame (rule step 1).

    Example:
        >>> letterbox_box(450, 400, 224, 224), letterbox_box(562, 744, 562, 744)
        ((450, 450), (562, 744))
    """
    for name, v in (("h", h), ("w", w), ("out_h", out_h), ("out_w", out_w)):
        if int(v) < 1:
            raise FetaledgeError(f"letterbox: {name} must be >= 1, got {v}")
    if h * out_w >= w * out_h:  # height limits: the width is padded
        return h, max(w, (2 * h * out_w + out_h) // (2 * out_h))
    return max(h, (2 * w * out_h + out_w) // (2 * out_w)), w


@lru_cache(maxsize=64)
def axis_taps(in_len: int, out_len: int, padded_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Rule step 2 for one axis: (index int32 (out_len, K), weight float64 (out_len, K)).

    ``index`` points into the real (unpadded) samples; unused taps (rows near the padding) have weight 0
    and index 0 and sit after the used ones. Computed with Python floats in the documented order.

    Example:
        >>> idx, wt = axis_taps(2, 4, 4)
        >>> idx[:, 0].tolist(), wt.sum(axis=1).tolist()
        ([0, 0, 1, 0], [0.0, 1.0, 1.0, 0.0])
    """
    if padded_len < in_len:
        raise FetaledgeError(f"letterbox: padded length {padded_len} < input length {in_len}")
    before = (padded_len - in_len) // 2
    scale = padded_len / out_len
    support = scale if scale > 1.0 else 1.0
    rows: list[list[tuple[int, float]]] = []
    for j in range(out_len):
        c = (j + 0.5) * scale
        lo = max(0, math.floor(c - support))
        hi = min(padded_len - 1, math.ceil(c + support))
        total = 0.0
        taps: list[tuple[int, float]] = []
        for q in range(lo, hi + 1):
            wq = 1.0 - abs(q + 0.5 - c) / support
            if wq > 0.0:
                total += wq
                if before <= q < before + in_len:
                    taps.append((q - before, wq))
        rows.append([(i, wq / total) for i, wq in taps])
    k = max(1, max(len(r) for r in rows))
    index = np.zeros((out_len, k), np.int32)
    weight = np.zeros((out_len, k), np.float64)
    for j, r in enumerate(rows):
        for t, (i, wq) in enumerate(r):
            index[j, t] = i
            weight[j, t] = wq
    index.flags.writeable = False
    weight.flags.writeable = False
    return index, weight


def letterbox(frame: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """Bring a grey uint8 frame (h, w) to (out_h, out_w) by the letterbox rule (module docstring).

    The same size comes back unchanged (the rule is the identity there).

    Example:
        >>> letterbox(np.zeros((430, 500), np.uint8), 224, 224).shape
        (224, 224)
    """
    frame = np.asarray(frame)
    if frame.dtype != np.uint8 or frame.ndim != 2:
        raise FetaledgeError(f"letterbox takes a grey uint8 frame (H, W), got {frame.dtype} {frame.shape}",
                             hint="convert colour frames with fetaledge.runtime.geometry.to_grey first")
    h, w = frame.shape
    if (h, w) == (out_h, out_w):
        return frame
    ph, pw = letterbox_box(h, w, out_h, out_w)
    ri, rw = axis_taps(h, out_h, ph)
    ci, cw = axis_taps(w, out_w, pw)
    src = frame.astype(np.float64)
    horiz = np.zeros((h, out_w), np.float64)
    for k in range(ci.shape[1]):
        horiz += cw[:, k] * src[:, ci[:, k]]
    out = np.zeros((out_h, out_w), np.float64)
    for k in range(ri.shape[1]):
        out += rw[:, k, None] * horiz[ri[:, k], :]
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def fit_frame(frame: np.ndarray, height: int, width: int, other_sizes: str) -> np.ndarray:
    """A grey frame of any size brought to (height, width) as ``other_sizes`` says, or a clear error.

    Example:
        >>> fit_frame(np.zeros((10, 12), np.uint8), 8, 8, "letterbox").shape
        (8, 8)
        >>> fit_frame(np.zeros((10, 12), np.uint8), 8, 8, "refuse")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        fetaledge.errors.FetaledgeError: frame is 10x12 (HxW); this bundle was built for 8x8 frames ...
    """
    if other_sizes not in OTHER_SIZES:
        raise FetaledgeError(f"unknown other_sizes rule {other_sizes!r}", hint=f"use one of {', '.join(OTHER_SIZES)}")
    if frame.shape == (height, width):
        return frame
    if other_sizes == "refuse":
        raise FetaledgeError(
            f"frame is {frame.shape[0]}x{frame.shape[1]} (HxW); this bundle was built for {height}x{width} frames "
            "and its spec says input.other_sizes \"refuse\"",
            hint="build a bundle for this probe's frame size, or one with input.other_sizes \"letterbox\" "
            "(docs/frame_geometry.md)",
        )
    return letterbox(frame, height, width)
