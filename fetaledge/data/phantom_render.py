"""Rendering of synthetic blind-sweep frames: fan geometry, speckle, attenuation, shadows, anatomy.

Pure numpy. :mod:`fetaledge.data.phantom` decides *what* is in each frame (the scene); this module turns a
scene into a 562x744 uint8 B-mode frame and its abdomen mask. The fan matches the ACOUSLIC-AI field of view
(apex 185 px above the image, half-angle 29.8 degrees, radii 213..748 px; measured on the challenge's
``fov_mask.mha``, which the project does not need at run time).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fetaledge.data.layout import FRAME_HEIGHT as H
from fetaledge.data.layout import FRAME_WIDTH as W

APEX_X, APEX_Y = 372.0, -185.0
HALF_ANGLE = np.deg2rad(29.8)
R_NEAR, R_FAR = 213.0, 748.0


@dataclass
class Fan:
    """Per-pixel polar coordinates of the probe fan and its field-of-view mask (computed once)."""

    x: np.ndarray = field(init=False)
    y: np.ndarray = field(init=False)
    r: np.ndarray = field(init=False)
    theta: np.ndarray = field(init=False)
    mask: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.y, self.x = np.mgrid[0:H, 0:W].astype(np.float32)
        dx, dy = self.x - APEX_X, self.y - APEX_Y
        self.r = np.hypot(dx, dy)
        self.theta = np.arctan2(dx, dy)  # 0 straight down, positive to the right
        self.mask = (np.abs(self.theta) <= HALF_ANGLE) & (self.r >= R_NEAR) & (self.r <= R_FAR)


@dataclass
class Ellipse:
    """A rotated ellipse in pixel coordinates."""

    cx: float
    cy: float
    a: float
    b: float
    phi: float = 0.0

    def rho(self, fan: Fan) -> np.ndarray:
        """Normalised radius over the whole frame: < 1 inside, 1 on the outline."""
        return self._rho(fan.x, fan.y)

    def _rho(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        c, s = np.cos(self.phi), np.sin(self.phi)
        dx, dy = x - self.cx, y - self.cy
        u = (dx * c + dy * s) / self.a
        v = (-dx * s + dy * c) / self.b
        return np.sqrt(u * u + v * v)

    def box(self, margin: float = 1.0) -> tuple[slice, slice]:
        """Frame slices covering the ellipse scaled by ``margin`` (clipped to the frame)."""
        ext = max(self.a, self.b) * margin + 2
        y0, y1 = int(max(self.cy - ext, 0)), int(min(self.cy + ext + 1, H))
        x0, x1 = int(max(self.cx - ext, 0)), int(min(self.cx + ext + 1, W))
        return slice(y0, max(y0, y1)), slice(x0, max(x0, x1))

    def rho_box(self, fan: Fan, margin: float = 1.0) -> tuple[tuple[slice, slice], np.ndarray]:
        """(slices, rho inside those slices): the cheap form for small structures."""
        sl = self.box(margin)
        return sl, self._rho(fan.x[sl], fan.y[sl])

    def point(self, angle: float, frac: float) -> tuple[float, float]:
        """The point at polar ``angle`` (ellipse frame) and fraction ``frac`` of the radius."""
        c, s = np.cos(self.phi), np.sin(self.phi)
        u, v = self.a * frac * np.cos(angle), self.b * frac * np.sin(angle)
        return self.cx + u * c - v * s, self.cy + u * s + v * c


def smooth_field(rng: np.random.Generator, shape: tuple[int, int], scale: float) -> np.ndarray:
    """Gaussian random field with correlation length ``scale`` px, zero mean, unit std."""
    fy = np.fft.fftfreq(shape[0])[:, None]
    fx = np.fft.rfftfreq(shape[1])[None, :]
    filt = np.exp(-2 * (np.pi * scale) ** 2 * (fx * fx + fy * fy))
    spec = (rng.standard_normal((shape[0], fx.shape[1])) + 1j * rng.standard_normal((shape[0], fx.shape[1])))
    f = np.fft.irfft2(spec * filt, s=shape)
    return ((f - f.mean()) / (f.std() + 1e-9)).astype(np.float32)


class Speckle:
    """Temporally correlated, spatially correlated Rayleigh speckle (complex Gaussian field, |.|).

    The grain is longer laterally than axially, as in a B-mode image; consecutive frames share a fraction
    ``keep`` of the field, as when a probe moves slowly.
    """

    def __init__(self, rng: np.random.Generator, axial: float = 0.8, lateral: float = 1.8, keep: float = 0.6):
        # Generated at half resolution and upsampled x2: a grain of >= 2 px, at a quarter of the cost.
        self.rng = rng
        self.h, self.w = (H + 1) // 2, (W + 1) // 2
        fy = np.fft.fftfreq(self.h)[:, None]
        fx = np.fft.fftfreq(self.w)[None, :]
        self.filt = np.exp(-2 * np.pi**2 * ((axial * fy) ** 2 + (lateral * fx) ** 2))
        self.filt /= np.sqrt((self.filt**2).mean())
        self.keep = keep
        self.state = self._fresh()

    def _fresh(self) -> np.ndarray:
        shape = (self.h, self.w)
        spec = self.rng.standard_normal(shape, np.float32) + 1j * self.rng.standard_normal(shape, np.float32)
        return np.fft.ifft2(spec * self.filt) * np.sqrt(self.h * self.w / 2)

    def next(self) -> np.ndarray:
        self.state = self.keep * self.state + np.sqrt(1 - self.keep**2) * self._fresh()
        mag = np.abs(self.state).astype(np.float32)
        return np.repeat(np.repeat(mag, 2, axis=0), 2, axis=1)[:H, :W]


def blob(echo: np.ndarray, fan: Fan, cx: float, cy: float, rx: float, ry: float, phi: float = 0.0,
         *, add: float = 0.0, mul: float = 0.0) -> None:
    """Add ``add`` times / scale by (1 - ``mul`` times) a soft-edged filled ellipse, in place."""
    sl, rho = Ellipse(cx, cy, rx, ry, phi).rho_box(fan)
    g = np.clip((1.0 - rho) * max(rx, ry) / 2.0, 0.0, 1.0)
    if mul:
        echo[sl] *= 1.0 - mul * g
    if add:
        echo[sl] += add * g


def ring(rho: np.ndarray, width: float) -> np.ndarray:
    """Soft ring around rho == 1 of relative half-width ``width``."""
    return np.clip(1.0 - np.abs(rho - 1.0) / width, 0.0, 1.0)


def shadow_from(echo: np.ndarray, fan: Fan, px: float, py: float, half_width_px: float, strength: float) -> None:
    """Acoustic shadow cast along the beam behind the point (px, py), in place."""
    r0 = np.hypot(px - APEX_X, py - APEX_Y)
    t0 = np.arctan2(px - APEX_X, py - APEX_Y)
    y0 = int(np.clip(py - half_width_px, 0, H))
    # The shadow widens with depth; bound the columns it can reach below y0.
    spread = half_width_px * R_FAR / max(r0, 1.0) + abs(np.tan(t0)) * (H - y0) + 2
    x0, x1 = int(np.clip(px - spread, 0, W)), int(np.clip(px + spread + 1, 0, W))
    sl = (slice(y0, H), slice(x0, x1))
    r, th = fan.r[sl], fan.theta[sl]
    behind = np.clip((r - r0) / 20.0, 0.0, 1.0)
    across = np.clip(1.0 - np.abs(th - t0) * r / half_width_px, 0.0, 1.0)
    echo[sl] *= 1.0 - strength * behind * across


def to_uint8(echo: np.ndarray, speckle: np.ndarray, fan: Fan, atten: float, gain: float, noise: float,
             rng: np.random.Generator) -> np.ndarray:
    """Attenuate with depth, apply speckle, log-compress and mask to the fan."""
    depth = (fan.r - R_NEAR) / (R_FAR - R_NEAR)
    intensity = echo * np.exp(-atten * depth) * speckle ** (0.6 + 0.4 * noise)
    intensity += 0.02 * noise * np.abs(rng.standard_normal(intensity.shape)).astype(np.float32)
    img = 255.0 * np.log1p(gain * intensity) / np.log1p(gain * 2.2)
    return np.where(fan.mask, np.clip(img, 0, 255), 0).astype(np.uint8)
