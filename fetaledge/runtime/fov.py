"""The probe's field of view of one raw frame, by the rule ``iqa_spec.json`` names (``task.measurement.field_of_view``).

``"frame"``: the whole frame. ``"nonzero_rows"``: in each row, from the first to the last non-zero pixel. A
sector (fan) probe writes black outside its fan and the fan is convex along every row, so the span is the fan's
row exactly, dark speckle inside included; a row without a non-zero pixel is outside. Mask edges on the border of
the field of view are "cut" (:func:`fetaledge.runtime.contour.edge_points`): a structure the fan cuts is flagged
"truncated" instead of measured short. numpy only.

Example:
    >>> import numpy as np
    >>> f = np.zeros((3, 6), np.uint8); f[1, 1] = 9; f[1, 4] = 3
    >>> field_of_view(f, "nonzero_rows").astype(int).tolist()
    [[0, 0, 0, 0, 0, 0], [0, 1, 1, 1, 1, 0], [0, 0, 0, 0, 0, 0]]
"""

from __future__ import annotations

import numpy as np

from fetaledge.errors import FetaledgeError

__all__ = ["FOV_RULES", "field_of_view"]

FOV_RULES = ("frame", "nonzero_rows")


def field_of_view(frame: np.ndarray, rule: str) -> np.ndarray | None:
    """A bool (H, W) field of view of a grey frame (H, W) by ``rule``; None for "frame" (no limit but its edges)."""
    if rule not in FOV_RULES:
        raise FetaledgeError(f"unknown field_of_view rule {rule!r}", hint=f"use one of {', '.join(FOV_RULES)}")
    f = np.asarray(frame)
    if f.ndim != 2:
        raise FetaledgeError(f"a frame must be 2-D (H, W) grey, got shape {f.shape}")
    if rule == "frame":
        return None
    nz = f > 0
    any_row = nz.any(axis=1)
    first = np.where(any_row, nz.argmax(axis=1), f.shape[1])
    last = np.where(any_row, f.shape[1] - 1 - nz[:, ::-1].argmax(axis=1), -1)
    cols = np.arange(f.shape[1])
    return (cols[None, :] >= first[:, None]) & (cols[None, :] <= last[:, None])
