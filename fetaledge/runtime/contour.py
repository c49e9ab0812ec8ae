"""From a segmentation output to boundary points: largest component, sub-pixel edge points, cut edges.

numpy only (no torch); ``android_demo/iqa-core`` (``MaskContour.kt``) repeats it step by step:

* **Foreground** is ``p >= threshold`` (``p`` a probability map, or a 0/1 mask).
* **Largest component**: 8-connected foreground components, labelled row by row over runs (union-find on
  runs); the largest by pixel count, ties to the one whose first pixel comes first in row-major order.
* **Edge points**: every 4-neighbour pair (inside pixel of the component, outside pixel with ``p < threshold``)
  gives one point on the segment between the two pixel centres, where ``p`` crosses the threshold by linear
  interpolation: ``t = (p_in - thr) / (p_in - p_out)`` of the way from the inside centre. For a 0/1 mask that is
  the midpoint (the pixel edge). Pixel (row i, column j) has its centre at (x, y) = (j + 0.5, i + 0.5).
* **Cut edges**: where the outside neighbour lies outside the field of view (``fov`` False) or beyond the frame
  border, the structure's true edge is not seen: the point (at the pixel edge, t = 0.5) is "cut", kept apart
  from the fit and counted for the truncation flag.

Order of the points (it fixes the floating-point sums): horizontal pairs row by row, left to right, then
vertical pairs row by row, left to right; border edges after them in the same order.

Example:
    >>> import numpy as np
    >>> m = np.zeros((5, 5)); m[1:4, 1:4] = 1.0
    >>> e = edge_points(m, 0.5)
    >>> e.points.shape, e.cut.shape, e.area
    ((12, 2), (0, 2), 9)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fetaledge.errors import FetaledgeError

__all__ = ["Edges", "edge_points", "label_components", "largest_component"]


def _runs(row: np.ndarray) -> list[tuple[int, int]]:
    padded = np.concatenate([[False], row, [False]])
    change = np.flatnonzero(padded[1:] != padded[:-1])
    return [(int(change[k]), int(change[k + 1])) for k in range(0, len(change), 2)]


def label_components(fg: np.ndarray, diagonal: bool = True) -> tuple[np.ndarray, list[int]]:
    """(labels int32 (H, W), sizes): connected components of a bool image, 0 = background, 1.. in the order
    of their first pixel (row-major). ``diagonal``: 8-connectivity (True) or 4-connectivity (False).

    Example:
        >>> lab, sizes = label_components(np.array([[1, 0, 1], [0, 1, 0]], bool), diagonal=False)
        >>> lab.tolist(), sizes
        ([[1, 0, 2], [0, 3, 0]], [1, 1, 1])
    """
    fg = np.asarray(fg, bool)
    if fg.ndim != 2:
        raise FetaledgeError(f"a mask must be 2-D (H, W), got shape {fg.shape}")
    reach = 1 if diagonal else 0
    parent: list[int] = []

    def find(k: int) -> int:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    rows: list[list[tuple[int, int, int]]] = []  # per row: (start, end exclusive, run id)
    prev: list[tuple[int, int, int]] = []
    for i in range(fg.shape[0]):
        cur = []
        for s, e in _runs(fg[i]):
            rid = len(parent)
            parent.append(rid)
            for ps, pe, pid in prev:
                if ps < e + reach and pe + reach > s:  # overlapping (or, 8-connected, diagonally touching)
                    ra, rb = find(rid), find(pid)
                    if ra != rb:
                        parent[max(ra, rb)] = min(ra, rb)  # the root is always the earliest run
            cur.append((s, e, rid))
        rows.append(cur)
        prev = cur
    labels = np.zeros(fg.shape, np.int32)
    number: dict[int, int] = {}
    sizes: list[int] = []
    for i, cur in enumerate(rows):
        for s, e, rid in cur:
            r = find(rid)
            if r not in number:  # roots are earliest runs, so labels follow the first pixel's raster order
                number[r] = len(number) + 1
                sizes.append(0)
            k = number[r]
            labels[i, s:e] = k
            sizes[k - 1] += e - s
    return labels, sizes


def largest_component(fg: np.ndarray) -> tuple[np.ndarray, int, int]:
    """(mask of the largest 8-connected component, its pixel count, all foreground pixels) of a bool image;
    ties go to the component whose first pixel comes first (row-major).

    Example:
        >>> fg = np.array([[1, 1, 0, 0], [0, 0, 0, 1], [1, 0, 0, 1]], bool)
        >>> comp, n, total = largest_component(fg)
        >>> comp.astype(int).tolist(), n, total
        ([[1, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]], 2, 5)
    """
    labels, sizes = label_components(fg, diagonal=True)
    if not sizes:
        return np.zeros(labels.shape, bool), 0, 0
    best = max(range(len(sizes)), key=lambda k: (sizes[k], -k))
    return labels == best + 1, sizes[best], int(sum(sizes))


@dataclass(frozen=True)
class Edges:
    """Edge points of the largest component, in output-pixel coordinates (x, y)."""

    points: np.ndarray  # (n, 2) seen edge points (the fit's input)
    cut: np.ndarray  # (k, 2) edge points on the field-of-view edge or the frame border
    area: int  # pixels in the largest component
    foreground: int  # foreground pixels in all components


def _pairs(comp: np.ndarray, fg: np.ndarray, p: np.ndarray, view: np.ndarray, thr: float,
           axis: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Seen and cut points of the pairs along ``axis`` (1: horizontal, 0: vertical), both directions."""
    a = (slice(None), slice(None, -1)) if axis == 1 else (slice(None, -1), slice(None))
    b = (slice(None), slice(1, None)) if axis == 1 else (slice(1, None), slice(None))
    step = np.array([1.0, 0.0]) if axis == 1 else np.array([0.0, 1.0])
    seen_list, cut_list = [], []
    # inside first (a), outside second (b): the point moves +t along the axis; and the reverse.
    in_a = comp[a] & ~fg[b]
    in_b = comp[b] & ~fg[a]
    sel = in_a | in_b
    ii, jj = np.nonzero(sel)
    forward = in_a[ii, jj]
    p_a, p_b = p[a][ii, jj], p[b][ii, jj]
    p_in = np.where(forward, p_a, p_b)
    p_out = np.where(forward, p_b, p_a)
    out_seen = np.where(forward, view[b][ii, jj], view[a][ii, jj])
    t = (p_in - thr) / (p_in - p_out)
    t = np.where(out_seen, t, 0.5)
    t = np.where(forward, t, 1.0 - t)  # measured from the first pixel of the pair
    x = jj + 0.5 + t * step[0]
    y = ii + 0.5 + t * step[1]
    pts = np.stack([x, y], axis=1)
    seen_list.append(pts[out_seen])
    cut_list.append(pts[~out_seen])
    return seen_list, cut_list


def edge_points(prob: np.ndarray, threshold: float = 0.5, fov: np.ndarray | None = None) -> Edges:
    """The edge points of the largest foreground component of ``prob`` (module docstring).

    ``fov``: optional bool field of view of the same shape (True inside the probe's fan).

    Example:
        >>> m = np.zeros((4, 6)); m[:, 2:4] = 1.0
        >>> e = edge_points(m)
        >>> len(e.points), len(e.cut)
        (8, 4)
    """
    p = np.asarray(prob)
    if p.ndim != 2:
        raise FetaledgeError(f"a mask must be 2-D (H, W), got shape {p.shape}",
                             hint="pass one frame's mask or probability map")
    if p.dtype == bool:
        p = p.astype(np.float64)
    p = p.astype(np.float64, copy=False)
    if not np.isfinite(p).all():
        raise FetaledgeError("the mask holds NaN or infinite values", hint="pass probabilities in [0, 1]")
    if p.size and (p.min() < 0.0 or p.max() > 1.0):
        raise FetaledgeError(f"mask values span {p.min():g}..{p.max():g}, expected probabilities in [0, 1]",
                             hint="pass a 0/1 mask or sigmoid probabilities (divide 0/255 masks by 255)")
    if not 0.0 < threshold < 1.0:
        raise FetaledgeError(f"threshold must be in (0, 1), got {threshold}")
    if fov is None:
        view = np.ones(p.shape, bool)
    else:
        view = np.asarray(fov, bool)
        if view.shape != p.shape:
            raise FetaledgeError(f"field-of-view mask is {view.shape}, the mask is {p.shape}",
                                 hint="map the field of view to the model's output grid")
    fg = p >= threshold
    comp, area, total = largest_component(fg)
    if area == 0:
        return Edges(np.zeros((0, 2)), np.zeros((0, 2)), 0, 0)
    seen, cut = [], []
    for axis in (1, 0):
        s, c = _pairs(comp, fg, p, view, threshold, axis)
        seen += s
        cut += c
    h, w = p.shape
    # Border edges: the frame ends, the structure may not.
    ii, jj = np.nonzero(comp[:, :1])
    cut.append(np.stack([np.zeros(len(ii)), ii + 0.5], axis=1))
    ii, jj = np.nonzero(comp[:, -1:])
    cut.append(np.stack([np.full(len(ii), float(w)), ii + 0.5], axis=1))
    ii, jj = np.nonzero(comp[:1, :])
    cut.append(np.stack([jj + 0.5, np.zeros(len(jj))], axis=1))
    ii, jj = np.nonzero(comp[-1:, :])
    cut.append(np.stack([jj + 0.5, np.full(len(jj), float(h))], axis=1))
    return Edges(np.concatenate(seen).reshape(-1, 2), np.concatenate(cut).reshape(-1, 2), area, total)
