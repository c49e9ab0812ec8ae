"""Segmentation students: small encoder-decoders that quantize well, with the raw frame in the graph.

``TinyUNet``: a U-Net of plain 3x3 Conv-BatchNorm-ReLU blocks (five levels, stride-2 convs down, bilinear x2
up + concatenated skip + conv). Only ops that every INT8 backend fuses (Conv+BN folds, ReLU, Resize, Concat):
no squeeze-excite, no hard-swish (DESIGN.md section 7: those lose accuracy and speed in INT8). The bottleneck
at 1/16 resolution sees the whole head (receptive field > 200 output pixels).

``RawFrameSegModel`` is what ships: uint8 frame (1, H, W) -> mask logits (1, out_h, out_w). The letterbox
(pad to the model grid's aspect, antialiased triangle resample: :mod:`fetaledge.runtime.geometry`) is two
MatMuls in the graph, so the device passes the probe's frame as it comes; the runtime maps the mask back with
:meth:`fetaledge.runtime.measure.FrameMap.letterbox`.

Example:
    >>> net = TinyUNet(width=8)                                                       # doctest: +SKIP
    >>> m = RawFrameSegModel(540, 800, 112, 160, net)                                 # doctest: +SKIP
    >>> m(torch.zeros(1, 540, 800, dtype=torch.uint8)).shape                          # doctest: +SKIP
    torch.Size([1, 112, 160])
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from fetaledge.errors import FetaledgeError
from fetaledge.models.preprocess import LinearResample
from fetaledge.preprocess import pad_resize_matrix
from fetaledge.runtime.geometry import letterbox_box

__all__ = ["RawFrameSegModel", "TinyUNet", "letterbox_matrices", "seg_student"]

#: Input normalisation of the grey frame: (x / 255 - 0.5) / 0.25 (no pretrained encoder to match).
IN_SHIFT, IN_SCALE = 0.5, 0.25


def _block(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class TinyUNet(nn.Module):
    """Grey (B, 1, H, W) normalised -> mask logits (B, 1, H, W); H and W divisible by 32.

    ``width`` is the first level's channels; the levels have width x (1, 2, 4, 8, 12). The stem works at half
    resolution (stride 2) and the logits are upsampled x2 (bilinear) at the end: a third of the cost of a
    full-resolution stem on CPU, and the measurement reads a smooth probability map anyway (sub-pixel edges).
    """

    def __init__(self, width: int = 8) -> None:
        super().__init__()
        if width < 2:
            raise FetaledgeError(f"TinyUNet width must be >= 2, got {width}")
        c = [width * k for k in (1, 2, 4, 8, 12)]
        self.stem = nn.Sequential(_block(1, c[0], 2), _block(c[0], c[0]))
        self.down = nn.ModuleList(nn.Sequential(_block(c[i], c[i + 1], 2), _block(c[i + 1], c[i + 1]))
                                  for i in range(4))
        self.up = nn.ModuleList(_block(c[i + 1] + c[i], c[i]) for i in reversed(range(4)))
        self.head = nn.Conv2d(c[0], 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = [self.stem(x)]
        for d in self.down:
            skips.append(d(skips[-1]))
        y = skips.pop()
        for u in self.up:
            skip = skips.pop()
            y = F.interpolate(y, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            y = u(torch.cat([y, skip], dim=1))
        return F.interpolate(self.head(y), size=x.shape[-2:], mode="bilinear", align_corners=False)


def seg_student(name: str) -> TinyUNet:
    """A student by name: ``unet8`` (width 8, 0.27 M parameters) or ``unet12`` (width 12)."""
    widths = {"unet6": 6, "unet8": 8, "unet12": 12}
    if name not in widths:
        raise FetaledgeError(f"unknown segmentation student {name!r}", hint=f"use one of {', '.join(widths)}")
    return TinyUNet(widths[name])


def letterbox_matrices(frame_h: int, frame_w: int, out_h: int, out_w: int) -> tuple[np.ndarray, np.ndarray]:
    """(rows (out_h, frame_h), cols (out_w, frame_w)): the letterbox rule as ``out = R @ frame @ C.T``."""
    ph, pw = letterbox_box(frame_h, frame_w, out_h, out_w)
    return pad_resize_matrix(frame_h, out_h, ph), pad_resize_matrix(frame_w, out_w, pw)


class RawFrameSegModel(nn.Module):
    """uint8 frame (B, frame_h, frame_w) -> mask logits (B, out_h, out_w), letterbox folded in."""

    def __init__(self, frame_h: int, frame_w: int, out_h: int, out_w: int, net: nn.Module) -> None:
        super().__init__()
        if out_h % 32 or out_w % 32:
            raise FetaledgeError(f"model grid {out_h}x{out_w} must be divisible by 32 (five stride-2 levels)")
        self.frame_h, self.frame_w, self.out_h, self.out_w = frame_h, frame_w, out_h, out_w
        self.resample = LinearResample(*letterbox_matrices(frame_h, frame_w, out_h, out_w))
        self.net = net

    def forward(self, frame: torch.Tensor) -> torch.Tensor:
        x = self.resample(frame.to(torch.float32))
        x = (x * (1.0 / 255.0) - IN_SHIFT) * (1.0 / IN_SCALE)
        return self.net(x.unsqueeze(1)).squeeze(1)
