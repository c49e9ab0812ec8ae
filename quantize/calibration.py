"""Calibration sample selection: stratified by class and by group, deterministic, shared by every backend."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Literal

import numpy as np

from quantize.errors import QuantizeError


def _allocate(sizes: Sequence[int], n: int) -> list[int]:
    """Split ``n`` over cells as evenly as their sizes allow (water-filling); leftovers go to the larger
    cells."""
    take = [0] * len(sizes)
    remaining = min(n, sum(sizes))
    open_cells = [i for i, s in enumerate(sizes) if s > 0]
    while remaining > 0 and open_cells:
        share = max(remaining // len(open_cells), 1)
        for i in sorted(open_cells, key=lambda c: (-(sizes[c] - take[c]), c)):
            if remaining == 0:
                break
            add = min(share, sizes[i] - take[i], remaining)
            take[i] += add
            remaining -= add
        open_cells = [i for i in open_cells if take[i] < sizes[i]]
    return take


def _proportional(sizes: Sequence[int], n: int) -> list[int]:
    """Largest-remainder proportional allocation (every non-empty cell gets at least one when n allows)."""
    total = sum(sizes)
    n = min(n, total)
    exact = [s * n / total for s in sizes]
    take = [min(int(np.floor(e)), s) for e, s in zip(exact, sizes, strict=True)]
    for i, s in enumerate(sizes):
        if s > 0 and take[i] == 0 and sum(take) < n:
            take[i] = 1
    order = sorted(range(len(sizes)), key=lambda i: (-(exact[i] - np.floor(exact[i])), i))
    k = 0
    while sum(take) < n:
        i = order[k % len(order)]
        if take[i] < sizes[i]:
            take[i] += 1
        k += 1
    while sum(take) > n:  # the "at least one" rule overshot: trim the largest cells
        i = max(range(len(sizes)), key=lambda c: (take[c], -c))
        take[i] -= 1
    return take


def select_calibration(
    labels: Sequence[Hashable] | np.ndarray,
    groups: Sequence[Hashable] | np.ndarray | None = None,
    n: int = 300,
    seed: int = 0,
    *,
    balance: Literal["equal", "proportional"] = "equal",
) -> np.ndarray:
    """Pick ``n`` sample indices stratified by class, then by group within each class.

    ``balance="equal"`` (default) gives every class the same share and, within a class, every group (e.g. a
    sweep or a subject) the same share, as far as the cells allow; a rare class (8 % positives) is then well
    represented in the activation ranges. ``"proportional"`` keeps the data's own mix. Which samples of a cell
    are taken is a seeded shuffle: the same inputs give the same indices on every machine. The result is
    sorted.

    Example:
        >>> labels = [0] * 90 + [1] * 10
        >>> groups = [i % 5 for i in range(100)]
        >>> idx = select_calibration(labels, groups, n=20, seed=0)
        >>> len(idx), int(sum(labels[i] for i in idx))
        (20, 10)
    """
    y = np.asarray(labels)
    if y.ndim != 1 or y.size == 0:
        raise QuantizeError(f"labels must be a non-empty 1-D sequence, got shape {y.shape}")
    g = np.zeros(y.size, dtype=np.int64) if groups is None else np.asarray(groups)
    if g.shape != y.shape:
        raise QuantizeError(f"groups has shape {g.shape} but labels has {y.shape}")
    if n <= 0:
        raise QuantizeError(f"n must be positive, got {n}")
    if balance not in ("equal", "proportional"):
        raise QuantizeError(f"balance must be 'equal' or 'proportional', got {balance!r}")
    allocate = _allocate if balance == "equal" else _proportional
    rng = np.random.default_rng(seed)

    def key(v: Hashable) -> tuple[str, str]:
        return (type(v).__name__, repr(v))

    classes = sorted({v.item() if hasattr(v, "item") else v for v in y}, key=key)
    class_members = [np.flatnonzero(y == c) for c in classes]
    per_class = allocate([len(m) for m in class_members], n)
    chosen: list[np.ndarray] = []
    for members, k in zip(class_members, per_class, strict=True):
        if k == 0:
            continue
        cell_groups = sorted({v.item() if hasattr(v, "item") else v for v in g[members]}, key=key)
        cells = [members[g[members] == grp] for grp in cell_groups]
        per_group = allocate([len(c) for c in cells], k)
        for cell, kk in zip(cells, per_group, strict=True):
            if kk:
                chosen.append(rng.permutation(cell)[:kk])
    return np.sort(np.concatenate(chosen)).astype(np.int64)
