"""Frame geometry shared by training, export and the runtime (numpy only, no torch).

One documented path from a raw frame of any size to the model input:

1. zero-pad the frame to a square, centred (the paper pads 562x744 to 744x744, 91 rows top and bottom);
2. resample the square to ``size x size`` with an antialiased triangle (bilinear) filter, separable,
   PIL-style (support scaled by the downscale factor);
3. grey to RGB by channel replication and CLIP normalisation (done by the torch module / the graph).

Steps 1 and 2 together are one linear map per axis (``FrameGeometry.matrices``), so that the same numbers
serve numpy (cache preparation), torch (the exported graph) and any other runtime. The maps are banded (12
taps per output at 744 -> 128), so the graph computes them as blocks of outputs over contiguous input windows
(``band_matrix``): the same map, exactly, at a tenth of a dense product's MACs.

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
class BandedMap:
    """A dense ``(out_len, in_len)`` linear map stored as ``nb`` blocks of ``block`` consecutive outputs, each
    reading one window of ``window`` consecutive inputs that holds every non-zero weight of its rows.

    ``out[b * block + j] = sum_k weights[b, j, k] * x[starts[b] + k]``: exactly the dense product (the weights
    outside the windows are zero), with ``out_len * window`` MACs per vector instead of ``out_len * in_len``.
    """

    starts: np.ndarray  # (nb,) int64, first input of each block's window
    weights: np.ndarray  # (nb, block, window) float32
    in_len: int

    @property
    def block(self) -> int:
        return int(self.weights.shape[1])

    @property
    def window(self) -> int:
        return int(self.weights.shape[2])

    @property
    def out_len(self) -> int:
        return int(self.weights.shape[0] * self.weights.shape[1])

    def indices(self) -> np.ndarray:
        """(nb * window,) input index of every window position, block after block (what a Gather reads)."""
        return (self.starts[:, None] + np.arange(self.window)[None, :]).reshape(-1).astype(np.int64)

    def dense(self) -> np.ndarray:
        """The ``(out_len, in_len)`` matrix this stands for."""
        m = np.zeros((self.out_len, self.in_len), np.float32)
        for b, s in enumerate(self.starts):
            m[b * self.block : (b + 1) * self.block, s : s + self.window] = self.weights[b]
        return m


def band_matrix(m: np.ndarray, block: int | None = None) -> BandedMap | None:
    """``m`` as a :class:`BandedMap`, or None where banding would not save at least half the MACs (small or
    upsampling maps, where a dense product is as cheap and needs no gather).

    ``block`` defaults to the largest of 8, 4, 2, 1 dividing the output length: at 8 the windows' overlap costs
    ~25 % over the taps themselves (744 -> 128: 52-wide windows for 8 outputs of 12 taps), while smaller blocks
    mean more, smaller products.

    Example:
        >>> bm = band_matrix(pad_resize_matrix(744, 128))
        >>> (bm.block, bm.window, bool(np.array_equal(bm.dense(), pad_resize_matrix(744, 128))))
        (8, 52, True)
    """
    m = np.asarray(m, np.float32)
    out_len, in_len = m.shape
    if block is None:
        block = next(b for b in (8, 4, 2, 1) if out_len % b == 0)
    if block < 1 or out_len % block:
        raise ValueError(f"block {block} does not divide the output length {out_len}")
    nb = out_len // block
    spans = []
    for b in range(nb):
        cols = np.flatnonzero(np.any(m[b * block : (b + 1) * block] != 0, axis=0))
        spans.append((int(cols[0]), int(cols[-1]) + 1) if cols.size else (0, 1))
    window = max(hi - lo for lo, hi in spans)
    if nb * block * window * 2 > out_len * in_len:
        return None
    starts = np.array([min(lo, in_len - window) for lo, _ in spans], np.int64)
    weights = np.stack([m[b * block : (b + 1) * block, s : s + window] for b, s in enumerate(starts)])
    banded = BandedMap(starts=starts, weights=np.ascontiguousarray(weights, np.float32), in_len=in_len)
    if not np.array_equal(banded.dense(), m):  # a window must hold every non-zero weight of its rows
        raise AssertionError("banded map does not reproduce the dense map")
    return banded


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
