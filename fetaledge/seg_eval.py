"""Segmentation and measurement scores (numpy only): Dice, Hausdorff distance in mm, circumference errors,
and the INT8 gate of a segmentation model (Dice against fp32 + measurement agreement).

Everything is scored in the raw frame: the predicted grid mask is brought back to frame pixels through the
same :class:`fetaledge.runtime.measure.FrameMap` the measurement uses (each frame pixel takes the grid pixel
its centre falls in), and compared with the full-size reference mask.

Example:
    >>> a = np.zeros((4, 4), bool); a[:2] = True
    >>> dice(a, a), round(dice(a, np.ones((4, 4), bool)), 3)
    (1.0, 0.667)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from fetaledge.errors import FetaledgeError
from fetaledge.runtime.contour import edge_points
from fetaledge.runtime.measure import FrameMap, Measurement, MeasureParams, measure_mask

__all__ = ["ImageScore", "SegGate", "dice", "frame_mask", "hausdorff_mm", "score_image", "seg_gate"]


def dice(pred: np.ndarray, ref: np.ndarray) -> float:
    """Dice of two bool masks (1.0 when both are empty)."""
    p, r = np.asarray(pred, bool), np.asarray(ref, bool)
    if p.shape != r.shape:
        raise FetaledgeError(f"dice: masks differ in shape {p.shape} vs {r.shape}")
    s = int(p.sum()) + int(r.sum())
    return 1.0 if s == 0 else 2.0 * int((p & r).sum()) / s


def frame_mask(grid_prob: np.ndarray, frame_map: FrameMap, threshold: float = 0.5) -> np.ndarray:
    """The grid's foreground (``p >= threshold``) as a raw-frame bool mask (nearest grid pixel per frame pixel)."""
    h, w = frame_map.frame_h, frame_map.frame_w
    y = (np.arange(h) + 0.5 - frame_map.oy) / frame_map.sy
    x = (np.arange(w) + 0.5 - frame_map.ox) / frame_map.sx
    gi = np.clip(np.floor(y).astype(int), 0, grid_prob.shape[0] - 1)
    gj = np.clip(np.floor(x).astype(int), 0, grid_prob.shape[1] - 1)
    return np.asarray(grid_prob)[gi][:, gj] >= threshold


def _edges_mm(mask: np.ndarray, frame_map: FrameMap, spacing_mm: float) -> np.ndarray:
    e = edge_points(mask.astype(np.float64), 0.5)
    pts = np.concatenate([e.points, e.cut]) if len(e.cut) else e.points
    return frame_map.apply(pts) * spacing_mm


def hausdorff_mm(pred_pts: np.ndarray, ref_pts: np.ndarray) -> float:
    """Symmetric Hausdorff distance between two point sets (n, 2) in mm; inf when one is empty."""
    if len(pred_pts) == 0 or len(ref_pts) == 0:
        return float("inf")

    def directed(a: np.ndarray, b: np.ndarray) -> float:
        worst = 0.0
        for k in range(0, len(a), 512):
            d = ((a[k:k + 512, None, :] - b[None, :, :]) ** 2).sum(-1)
            worst = max(worst, float(np.sqrt(d.min(axis=1)).max()))
        return worst

    return max(directed(pred_pts, ref_pts), directed(ref_pts, pred_pts))


@dataclass(frozen=True)
class ImageScore:
    """One image's scores: Dice and Hausdorff (frame resolution), measured vs reference circumference."""

    name: str
    subject: str
    dice: float
    hausdorff_mm: float
    hc_mm: float | None  # None: no measurement
    ref_mm: float
    status: str
    reasons: tuple[str, ...]

    @property
    def abs_error_mm(self) -> float | None:
        return None if self.hc_mm is None else abs(self.hc_mm - self.ref_mm)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["reasons"] = list(self.reasons)
        return d


def score_image(name: str, subject: str, grid_prob: np.ndarray, ref_mask: np.ndarray, frame_map: FrameMap,
                spacing_mm: float, ref_mm: float, params: MeasureParams | None = None
                ) -> tuple[ImageScore, Measurement]:
    """Score one predicted grid probability map against the full-size reference mask and reference HC."""
    m = measure_mask(grid_prob, frame_map, spacing_mm, params)
    pred = frame_mask(grid_prob, frame_map, (params or MeasureParams()).threshold)
    d = dice(pred, ref_mask)
    # Hausdorff of the measured structure (largest component) against the reference outline.
    hd = hausdorff_mm(_edges_mm(grid_prob >= (params or MeasureParams()).threshold, frame_map, spacing_mm)
                      if pred.any() else np.zeros((0, 2)),
                      _edges_mm(ref_mask, FrameMap.identity(*ref_mask.shape), spacing_mm))
    return ImageScore(name, subject, d, hd, m.circumference_mm, ref_mm, m.status, m.reasons), m


@dataclass(frozen=True)
class SegGate:
    """INT8 vs fp32 of a segmentation model on the gate frames: passed when mean Dice(int8, fp32) >=
    ``min_dice``, the measured / not-measured and ok / rescan decisions agree on >= ``min_agreement`` of frames,
    and the mean |mm difference| (frames both measured) <= ``max_mean_mm``."""

    passed: bool
    reasons: tuple[str, ...]
    n: int
    mean_dice: float
    status_agreement: float
    mean_abs_mm: float
    max_abs_mm: float

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["reasons"] = list(self.reasons)
        return d


def seg_gate(fp32: list[tuple[np.ndarray, Measurement]], int8: list[tuple[np.ndarray, Measurement]],
             min_dice: float = 0.97, min_agreement: float = 0.97, max_mean_mm: float = 1.0) -> SegGate:
    """Gate INT8 grid probabilities + measurements against fp32 ones (same frames, same order).

    Example:
        >>> p = np.zeros((40, 40)); p[5:35, 8:30] = 1.0
        >>> m = measure_mask(p, FrameMap.identity(), 1.0)
        >>> seg_gate([(p, m)], [(p, m)]).passed
        True
    """
    if len(fp32) != len(int8) or not fp32:
        raise FetaledgeError(f"seg gate needs the same non-empty frames: {len(fp32)} fp32 vs {len(int8)} int8")
    dices = [dice(a >= 0.5, b >= 0.5) for (a, _), (b, _) in zip(fp32, int8, strict=True)]
    agree = [ma.status == mb.status for (_, ma), (_, mb) in zip(fp32, int8, strict=True)]
    diffs = [abs(ma.circumference_mm - mb.circumference_mm) for (_, ma), (_, mb) in zip(fp32, int8, strict=True)
             if ma.circumference_mm is not None and mb.circumference_mm is not None]
    mean_dice = float(np.mean(dices))
    agreement = float(np.mean(agree))
    mean_mm = float(np.mean(diffs)) if diffs else 0.0
    reasons = []
    if mean_dice < min_dice:
        reasons.append(f"mean Dice(int8, fp32) {mean_dice:.4f} < {min_dice}")
    if agreement < min_agreement:
        reasons.append(f"measurement decisions agree on {agreement:.4f} < {min_agreement} of frames")
    if mean_mm > max_mean_mm:
        reasons.append(f"mean |mm difference| {mean_mm:.3f} > {max_mean_mm} mm")
    return SegGate(not reasons, tuple(reasons), len(fp32), mean_dice, agreement, mean_mm,
                   float(np.max(diffs)) if diffs else 0.0)
