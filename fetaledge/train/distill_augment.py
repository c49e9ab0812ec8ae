"""On-the-fly augmentation of cached grey frames with torch ops (batched, seeded, no PIL/OpenCV).

Input: a uint8 batch (B, S, S) straight from the frame cache. Output: float32 (B, S, S) in [0, 255], ready
for resampling to the student resolution and normalisation (the same path as the exported graph).

What the FetalCLIP-IQA paper used, and what we do instead:

* colour jitter -> brightness (multiplicative gain) and contrast (around each frame's mean), +-20 %;
* CLAHE -> a torch "local contrast" step: unsharp masking against a wide box blur (boosts local contrast the
  way CLAHE does, differentiable-friendly and batched) or a gamma curve, each with probability 0.3;
* affine +-20 % translation and +-20 degrees rotation -> one ``affine_grid``/``grid_sample`` per batch, zero
  fill (the black outside an ultrasound fan), plus a left-right flip with probability 0.5 (a sweep may run
  either way across the abdomen).

Example:
    >>> import torch
    >>> aug = FrameAugment()
    >>> out = aug(torch.zeros(4, 64, 64, dtype=torch.uint8), torch.Generator().manual_seed(0))
    >>> out.shape, out.dtype
    (torch.Size([4, 64, 64]), torch.float32)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class FrameAugment:
    """Random photometric and geometric augmentation; all magnitudes are configurable."""

    brightness: float = 0.2
    contrast: float = 0.2
    local_contrast_p: float = 0.3
    local_contrast: float = 0.8  # max unsharp-mask amount
    gamma_p: float = 0.3
    gamma: float = 0.3  # gamma in [1 - g, 1 + g]
    translate: float = 0.2  # fraction of the side
    rotate_deg: float = 20.0
    flip_p: float = 0.5

    def __call__(self, frames: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        x = frames.to(torch.float32)
        b = x.shape[0]

        def u(lo: float, hi: float) -> torch.Tensor:
            return torch.rand(b, 1, 1, generator=gen) * (hi - lo) + lo

        x = x * u(1 - self.brightness, 1 + self.brightness)
        mean = x.mean(dim=(1, 2), keepdim=True)
        x = (x - mean) * u(1 - self.contrast, 1 + self.contrast) + mean
        x = x.clamp(0, 255)
        if self.local_contrast_p > 0:
            x = self._local_contrast(x, u(0, self.local_contrast), torch.rand(b, 1, 1, generator=gen))
        if self.gamma_p > 0:
            g = u(1 - self.gamma, 1 + self.gamma)
            use = torch.rand(b, 1, 1, generator=gen) < self.gamma_p
            x = torch.where(use, 255.0 * (x / 255.0).clamp_min(0) ** g, x)
        return self._affine(x, gen)

    def _local_contrast(self, x: torch.Tensor, amount: torch.Tensor, draw: torch.Tensor) -> torch.Tensor:
        k = max(3, (x.shape[-1] // 8) | 1)  # odd window of ~1/8 of the frame
        blur = F.avg_pool2d(x.unsqueeze(1), k, stride=1, padding=k // 2, count_include_pad=False).squeeze(1)
        sharp = (x + amount * (x - blur)).clamp(0, 255)
        return torch.where(draw < self.local_contrast_p, sharp, x)

    def _affine(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        b = x.shape[0]
        angle = (torch.rand(b, generator=gen) * 2 - 1) * math.radians(self.rotate_deg)
        # affine_grid works in [-1, 1] coordinates: a shift of 2 * fraction moves the image by fraction.
        shift = (torch.rand(b, 2, generator=gen) * 2 - 1) * (2 * self.translate)
        flip = torch.where(torch.rand(b, generator=gen) < self.flip_p, -1.0, 1.0)
        cos, sin = torch.cos(angle), torch.sin(angle)
        theta = torch.stack([
            torch.stack([cos * flip, -sin, shift[:, 0]], dim=1),
            torch.stack([sin * flip, cos, shift[:, 1]], dim=1),
        ], dim=1)
        grid = F.affine_grid(theta, (b, 1, *x.shape[1:]), align_corners=False)
        out = F.grid_sample(x.unsqueeze(1), grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        return out.squeeze(1)
