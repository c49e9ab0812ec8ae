"""The measurement: a segmentation mask -> an ellipse -> a circumference in millimetres, or "no measurement".

numpy only (no torch). The steps, each in its own module so that ``android_demo/iqa-core`` mirrors them:

1. :func:`fetaledge.runtime.contour.edge_points`: the largest component of ``p >= threshold`` and its
   sub-pixel edge points in the model's output grid; edges on the field-of-view border are "cut".
2. :class:`FrameMap`: the exact inverse of the frame geometry, output pixel -> raw-frame pixel, an affine map
   per axis (letterbox / pad-and-resample: ``x_frame = x_out * P / out - (P - n) // 2``,
   :mod:`fetaledge.runtime.geometry`); then the pixel spacing to millimetres (x and y may differ).
3. :func:`fetaledge.runtime.ellipse.fit_ellipse` on the seen edge points **in millimetres** (so anisotropic
   scales and spacings are exact), then Ramanujan's circumference.
4. The quality flag (:class:`MeasureParams`): "ok", "rescan" (a number exists but should not be trusted:
   too small, not an ellipse, cut by the fan edge, fragmented) or "none" (no foreground, too few edge points,
   no ellipse): the app says "rescan" instead of showing a bad number.

Example:
    >>> import numpy as np
    >>> yy, xx = np.mgrid[0:100, 0:100]
    >>> mask = (((xx + 0.5 - 50) / 30) ** 2 + ((yy + 0.5 - 50) / 20) ** 2 <= 1).astype(float)
    >>> m = measure_mask(mask, FrameMap.identity(), spacing_mm=(0.5, 0.5))
    >>> m.status, round(m.circumference_mm / ramanujan(15, 10), 2)
    ('ok', 1.0)
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from fetaledge.errors import FetaledgeError
from fetaledge.runtime.contour import edge_points
from fetaledge.runtime.ellipse import Ellipse, EllipseFitError, fit_ellipse, ramanujan, sampson_rms
from fetaledge.runtime.geometry import letterbox_box
from fetaledge.runtime.measure_params import MeasureParams

__all__ = ["FrameMap", "MeasureParams", "Measurement", "measure_mask", "ramanujan"]

STATUSES = ("ok", "rescan", "none")


@dataclass(frozen=True)
class FrameMap:
    """Output-grid coordinates -> raw-frame pixel coordinates: ``x = u * sx + ox``, ``y = v * sy + oy``.

    ``frame_h`` x ``frame_w`` is the raw frame (its pixels are the field of view's outer limit).

    Example:
        >>> FrameMap.letterbox(540, 800, 112, 160)
        FrameMap(sx=5.0, sy=5.0, ox=0.0, oy=-10.0, frame_h=540, frame_w=800)
    """

    sx: float
    sy: float
    ox: float
    oy: float
    frame_h: int
    frame_w: int

    @classmethod
    def identity(cls, frame_h: int = 0, frame_w: int = 0) -> FrameMap:
        """The output grid IS the frame (``0`` sizes: no frame border is known)."""
        return cls(1.0, 1.0, 0.0, 0.0, frame_h, frame_w)

    @classmethod
    def letterbox(cls, frame_h: int, frame_w: int, out_h: int, out_w: int) -> FrameMap:
        """The inverse of letterboxing an (frame_h, frame_w) frame to (out_h, out_w) (rule in runtime.geometry)."""
        ph, pw = letterbox_box(frame_h, frame_w, out_h, out_w)
        return cls(pw / out_w, ph / out_h, float(-((pw - frame_w) // 2)), float(-((ph - frame_h) // 2)),
                   frame_h, frame_w)

    def then(self, outer: FrameMap) -> FrameMap:
        """This map followed by ``outer`` (e.g. model output -> bundle input, then bundle input -> raw frame).

        Example:
            >>> inner = FrameMap.letterbox(562, 744, 128, 128)      # in the graph
            >>> outer = FrameMap.letterbox(540, 800, 562, 744)      # a probe of another size
            >>> inner.then(outer).frame_h
            540
        """
        return FrameMap(self.sx * outer.sx, self.sy * outer.sy, self.ox * outer.sx + outer.ox,
                        self.oy * outer.sy + outer.oy, outer.frame_h, outer.frame_w)

    def apply(self, points: np.ndarray) -> np.ndarray:
        pts = np.asarray(points, np.float64).reshape(-1, 2)
        return np.stack([pts[:, 0] * self.sx + self.ox, pts[:, 1] * self.sy + self.oy], axis=1)

    def view(self, out_h: int, out_w: int, fov: np.ndarray | None = None) -> np.ndarray:
        """Output pixels whose centre falls inside the raw frame (and inside ``fov``, a frame-sized bool mask).

        Example:
            >>> FrameMap.letterbox(2, 4, 4, 4).view(4, 4).astype(int)[:, 0].tolist()
            [0, 1, 1, 0]
        """
        v, u = np.mgrid[0:out_h, 0:out_w]
        x = (u + 0.5) * self.sx + self.ox
        y = (v + 0.5) * self.sy + self.oy
        if self.frame_h <= 0 or self.frame_w <= 0:
            if fov is not None:
                raise FetaledgeError("a field-of-view mask needs the frame size in the FrameMap")
            return np.ones((out_h, out_w), bool)
        inside = (x >= 0) & (x < self.frame_w) & (y >= 0) & (y < self.frame_h)
        if fov is not None:
            fov = np.asarray(fov, bool)
            if fov.shape != (self.frame_h, self.frame_w):
                raise FetaledgeError(f"field-of-view mask is {fov.shape}, the frame is "
                                     f"{(self.frame_h, self.frame_w)}", hint="pass the fan mask of this probe")
            xi = np.clip(np.floor(x).astype(int), 0, self.frame_w - 1)
            yi = np.clip(np.floor(y).astype(int), 0, self.frame_h - 1)
            inside &= fov[yi, xi]
        return inside


@dataclass(frozen=True)
class Measurement:
    """One frame's measurement. ``circumference_mm`` is None exactly when ``status`` is "none"."""

    status: str
    reasons: tuple[str, ...]
    circumference_mm: float | None
    ellipse_mm: Ellipse | None  # in millimetres, origin at the frame's top-left corner
    ellipse_px: Ellipse | None  # in raw-frame pixels (for drawing)
    area_mm2: float
    residual: float  # relative RMS edge distance (0 when no fit)
    cut_fraction: float
    component_share: float
    points: int

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["reasons"] = list(self.reasons)
        return d


def _none(reason: str, area: float = 0.0, cut: float = 0.0, share: float = 0.0, points: int = 0) -> Measurement:
    return Measurement("none", (reason,), None, None, None, area, 0.0, cut, share, points)


def _spacing(spacing_mm: float | tuple[float, float]) -> tuple[float, float]:
    sx, sy = (spacing_mm, spacing_mm) if isinstance(spacing_mm, int | float) else tuple(spacing_mm)
    for v in (sx, sy):
        if not (math.isfinite(v) and v > 0):
            raise FetaledgeError(f"pixel spacing must be > 0 mm, got {spacing_mm}",
                                 hint="set the probe's spacing in the spec or pass --spacing-mm")
    return float(sx), float(sy)


def measure_mask(mask: np.ndarray, frame_map: FrameMap, spacing_mm: float | tuple[float, float],
                 params: MeasureParams | None = None, fov: np.ndarray | None = None) -> Measurement:
    """Measure the largest structure of one output mask (module docstring).

    ``mask``: (H, W) probabilities in [0, 1] (or a 0/1 / bool mask) in the model's output grid;
    ``frame_map``: output grid -> raw frame; ``spacing_mm``: raw-frame pixel spacing (x, y) or one number;
    ``fov``: optional raw-frame bool field of view (the probe's fan).

    Example:
        >>> measure_mask(np.zeros((8, 8)), FrameMap.identity(), 0.3).status
        'none'
    """
    params = params or MeasureParams()
    spx, spy = _spacing(spacing_mm)
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise FetaledgeError(f"a mask must be 2-D (H, W), got shape {mask.shape}")
    view = frame_map.view(mask.shape[0], mask.shape[1], fov)
    edges = edge_points(mask, params.threshold, view)
    if edges.area == 0:
        return _none("no_foreground")
    area_mm2 = edges.area * frame_map.sx * spx * frame_map.sy * spy
    share = edges.area / edges.foreground
    n_seen, n_cut = len(edges.points), len(edges.cut)
    cut = n_cut / (n_seen + n_cut)
    if n_seen < params.min_points:
        return _none("too_few_edge_points", area_mm2, cut, share, n_seen)
    px = frame_map.apply(edges.points)
    mm = px * np.array([spx, spy])
    try:
        e_mm = fit_ellipse(mm)
        e_px = e_mm if (spx, spy) == (1.0, 1.0) else fit_ellipse(px)
    except EllipseFitError:
        return _none("not_an_ellipse", area_mm2, cut, share, n_seen)
    residual = sampson_rms(e_mm, mm) / (0.5 * (e_mm.a + e_mm.b))
    reasons = []
    if area_mm2 < params.min_area_mm2:
        reasons.append("small")
    if residual > params.max_residual:
        reasons.append("poor_fit")
    if cut > params.max_cut_fraction:
        reasons.append("truncated")
    if share < params.min_component_share:
        reasons.append("fragmented")
    return Measurement("rescan" if reasons else "ok", tuple(reasons), e_mm.circumference, e_mm, e_px,
                       area_mm2, residual, cut, share, n_seen)
