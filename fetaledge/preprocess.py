"""Frame geometry shared by training, export and the runtime (numpy only, no torch).

One documented path from a raw frame of any size to the model input:

1. zero-pad the frame to a square, centred (the paper pads 562x744 to 744x744, 91 rows top and bottom);
2. resample the square to ``size x size`` with an antialiased triangle (bilinear) filter, separable,
   PIL-style (support scaled by the downscale factor);
3. grey to RGB by channel replication and CLIP normalisation (done by the torch module / the graph).

Steps 1 and 2 together are one linear map per axis (``FrameGeometry.matrices``), so that the same numbers
serve numpy (cache preparation), torch (the exported graph: two MatMuls) and any other runtime.

Difference from the paper: FetalCLIP-IQA resizes with OpenCV INTER_CUBIC without antialiasing. At a 3.3x
downscale that aliases the speckle; the triangle filter does not overshoot [0, 255] (so uint8 storage in the
cache loses nothing but rounding) and is a fixed linear map that folds into every backend's graph.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def _triangle_matrix(in_len: int, out_len: int) -> np.ndarray:
    """Dense antialiased triangle-filter resampling matrix (out_len, in_len), rows summing to 1."""
    scale = in_len / out_len
    support = max(scale, 1.0)
    centres = (np.arange(out_len) + 0.5) * scale  # half-pixel centres, like PIL and align_corners=False
    x = np.arange(in_len) + 0.5
    w = np.clip(1.0 - np.abs(x[None, :] - centres[:, None]) / support, 0.0, None)
    w /= w.sum(axis=1, keepdims=True)
    return w


def pad_resize_matrix(in_len: int, out_len: int, padded_len: int | None = None) -> np.ndarray:
    """Dense matrix mapping a real axis of ``in_len`` samples, centred in a zero-padded axis of
    ``padded_len`` samples, to ``out_len`` samples (pad then resample, as one linear map).

    Example:
        >>> pad_resize_matrix(562, 224, 744).shape
        (224, 562)
    """
    padded_len = in_len if padded_len is None else padded_len
    if padded_len < in_len:
        raise ValueError(f"padded length {padded_len} < input length {in_len}")
    full = _triangle_matrix(padded_len, out_len)
    before = (padded_len - in_len) // 2
    return full[:, before : before + in_len].astype(np.float32)


@dataclass(frozen=True)
class FrameGeometry:
    """Raw frame (height, width) to square model input ``size`` through a square of side max(h, w).

    ``stages`` chains resamplings, e.g. (224, 160): raw -> 224 (the cache) -> 160 (a small student); the
    composition is still one linear map per axis, so the graph does it in one step.
    """

    height: int
    width: int
    stages: tuple[int, ...]

    @property
    def size(self) -> int:
        return self.stages[-1]

    def matrices(self) -> tuple[np.ndarray, np.ndarray]:
        """(rows (size, height), cols (size, width)) dense maps: ``out = R @ frame @ C.T``."""
        side = max(self.height, self.width)
        r = pad_resize_matrix(self.height, self.stages[0], side)
        c = pad_resize_matrix(self.width, self.stages[0], side)
        for prev, nxt in zip(self.stages[:-1], self.stages[1:], strict=False):
            s = _triangle_matrix(prev, nxt).astype(np.float32)
            r, c = s @ r, s @ c
        return r, c


def resize_frames(frames: np.ndarray, geometry: FrameGeometry, out_dtype: type = np.uint8) -> np.ndarray:
    """Pad-and-resample a stack of grey frames (N, H, W) to (N, size, size).

    uint8 output is rounded and clipped (the frame cache); float32 output is exact (the runtime).

    Example:
        >>> g = FrameGeometry(562, 744, (224,))
        >>> resize_frames(np.zeros((2, 562, 744), np.uint8), g).shape
        (2, 224, 224)
    """
    if frames.ndim != 3 or frames.shape[1:] != (geometry.height, geometry.width):
        raise ValueError(
            f"frames of shape {frames.shape} do not match the geometry {geometry.height}x{geometry.width}"
        )
    r, c = geometry.matrices()
    out = np.empty((frames.shape[0], geometry.size, geometry.size), np.float32)
    ct = np.ascontiguousarray(c.T)
    for i, f in enumerate(frames):
        out[i] = r @ (f.astype(np.float32) @ ct)
    if out_dtype == np.uint8:
        return np.clip(np.rint(out), 0, 255).astype(np.uint8)
    return out.astype(out_dtype)
