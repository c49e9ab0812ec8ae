"""Pixel preprocessing as torch modules that export into ONNX and TFLite graphs.

The numbers come from :mod:`fetaledge.preprocess` (numpy), so the cache, training and the exported graph use
one definition. Resampling applies the precomputed (antialiased, padding-folded) linear map of each axis with
Gather + MatMul, which every backend supports, unlike antialiased Resize.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from fetaledge.preprocess import CLIP_MEAN, CLIP_STD, FrameGeometry, band_matrix

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
NORMALISATIONS = {"clip": (CLIP_MEAN, CLIP_STD), "imagenet": (IMAGENET_MEAN, IMAGENET_STD)}


class LinearResample(nn.Module):
    """Separable resampling (B, H, W) -> (B, S, S'): ``rows @ x @ cols.T`` with fixed maps (padding to square
    folded in); ``rows`` is (S, H), ``cols`` is (S', W).

    Each banded axis (:func:`fetaledge.preprocess.band_matrix`) runs as a Gather of its input windows and one
    batched MatMul over the blocks; an axis where banding saves little stays one dense MatMul. Rows go first, so
    that the only transposes are of the already row-reduced tensor. ``dense=True`` keeps both axes dense (the
    reference the tests compare against).
    """

    def __init__(self, rows: np.ndarray, cols: np.ndarray, dense: bool = False) -> None:
        super().__init__()
        self.rows_banded = self._register_axis("rows", rows, dense)
        self.cols_banded = self._register_axis("cols", cols, dense)

    def _register_axis(self, name: str, m: np.ndarray, dense: bool) -> bool:
        banded = None if dense else band_matrix(m)
        if banded is None:
            self.register_buffer(name, torch.from_numpy(np.ascontiguousarray(m, np.float32)), persistent=False)
            return False
        self.register_buffer(f"{name}_index", torch.from_numpy(banded.indices()), persistent=False)
        # (nb, block, window), applied to the gathered (B, nb, window, N) windows
        self.register_buffer(f"{name}_weights", torch.from_numpy(banded.weights), persistent=False)
        return True

    @classmethod
    def from_geometry(cls, geometry: FrameGeometry, dense: bool = False) -> LinearResample:
        return cls(*geometry.matrices(), dense=dense)

    @staticmethod
    def _rows(x: torch.Tensor, index: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """Banded map over axis 1 of (B, H, N): gather the windows, one batched MatMul -> (B, S, N)."""
        nb, block, window = weights.shape
        g = x.index_select(1, index).reshape(x.shape[0], nb, window, x.shape[2])
        return (weights @ g).reshape(x.shape[0], nb * block, x.shape[2])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Windows, not taps: one GEMM per axis keeps the core busy. ORT, 1 thread, 562x744 -> 128: banded 0.41 vs
        # dense 1.54 ms in one run; an earlier run: dense 0.90 vs per-tap Gather + Mul + ReduceSum 2.20 ms.
        y = self._rows(x, self.rows_index, self.rows_weights) if self.rows_banded else self.rows @ x
        if self.cols_banded:
            return self._rows(y.transpose(1, 2), self.cols_index, self.cols_weights).transpose(1, 2)
        return y @ self.cols.transpose(0, 1)


class GrayToInput(nn.Module):
    """Grey frames in [0, 255], (B, S, S) or (B, 1, S, S) -> normalised RGB (B, 3, S, S)."""

    def __init__(self, norm: str = "clip") -> None:
        super().__init__()
        mean, std = NORMALISATIONS[norm]
        self.norm = norm
        # One channel replicated to three: fold /255, mean and std into a per-channel affine map.
        scale = torch.tensor([1.0 / (255.0 * s) for s in std]).view(1, 3, 1, 1)
        shift = torch.tensor([-m / s for m, s in zip(mean, std, strict=True)]).view(1, 3, 1, 1)
        self.register_buffer("scale", scale, persistent=False)
        self.register_buffer("shift", shift, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 3:
            x = x.unsqueeze(1)
        return x * self.scale + self.shift


class RawFrameModel(nn.Module):
    """What ships: raw uint8 frame (1, H, W) -> logit (1,). Preprocessing is part of the graph.

    Example:
        >>> m = RawFrameModel(FrameGeometry(562, 744, (224,)), classifier, norm="clip")  # doctest: +SKIP
        >>> m(torch.zeros(1, 562, 744, dtype=torch.uint8)).shape                        # doctest: +SKIP
        torch.Size([1])
    """

    def __init__(self, geometry: FrameGeometry, classifier: nn.Module, norm: str) -> None:
        super().__init__()
        self.resample = LinearResample.from_geometry(geometry)
        self.to_input = GrayToInput(norm)
        self.classifier = classifier

    def forward(self, frame: torch.Tensor) -> torch.Tensor:
        x = self.resample(frame.to(torch.float32))
        return self.classifier(self.to_input(x)).reshape(-1)
