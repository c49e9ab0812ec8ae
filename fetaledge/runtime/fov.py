"""The probe's field of view of one raw frame, by the rule ``iqa_spec.json`` names (``task.measurement.field_of_view``).

``"frame"``: the whole frame. ``"nonzero_span"``: the pixels that lie, in their row AND in their column, between the
first and the last non-zero pixel. A sector (fan) probe writes black outside its fan; its fan is an annulus sector,
convex along every column and along every row except above the inner arc, where the column spans cut the gap out:
on the phantom's fan nothing outside the fan is taken and only black speckle ON its border is lost (< 0.1 % of its
267,322 pixels), where a ``frame > 0`` mask would also lose every black pixel inside. Mask edges on the border of
the field of view are "cut" (:func:`fetaledge.runtime.contour.edge_points`): a structure the fan cuts is flagged
"truncated" instead of measured short. numpy only.

Example:
    >>> import numpy as np
    >>> f = np.zeros((5, 5), np.uint8); f[1:4, 1:4] = 9; f[2, 2] = 0   # a black pixel inside
    >>> field_of_view(f, "nonzero_span").astype(int).tolist()
    [[0, 0, 0, 0, 0], [0, 1, 1, 1, 0], [0, 1, 1, 1, 0], [0, 1, 1, 1, 0], [0, 0, 0, 0, 0]]
"""

from __future__ import annotations

import numpy as np

from fetaledge.errors import FetaledgeError

__all__ = ["FOV_RULES", "field_of_view"]

FOV_RULES = ("frame", "nonzero_span")


def _row_spans(nz: np.ndarray) -> np.ndarray:
    """Per row, True from the first to the last True of ``nz`` (all False in a row without one)."""
    w = nz.shape[1]
    any_row = nz.any(axis=1)
    first = np.where(any_row, nz.argmax(axis=1), w)
    last = np.where(any_row, w - 1 - nz[:, ::-1].argmax(axis=1), -1)
    cols = np.arange(w)
    return (cols[None, :] >= first[:, None]) & (cols[None, :] <= last[:, None])


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
    return _row_spans(nz) & _row_spans(nz.T).T
