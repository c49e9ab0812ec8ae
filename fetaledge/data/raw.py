"""Raw frames (as the probe delivers them) for the frames of a prepared cache, read from its source folder.

Exported artifacts take the raw uint8 frame, so their calibration, accuracy gate and benchmarks run on raw
frames, streamed sweep by sweep from the ACOUSLIC-layout folder the cache was prepared from.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fetaledge.data.acouslic import AcouslicCase, AcouslicDataset
from fetaledge.data.cache import FrameCache
from fetaledge.errors import FetaledgeError


@dataclass
class RawSweep:
    """One kept sweep of a split: raw frames (n, H, W) uint8 with their labels (0/1/2) and positions."""

    case: str
    sweep: int
    frames: np.ndarray
    labels: np.ndarray


def _source(cache: FrameCache) -> AcouslicDataset:
    src = Path(cache.manifest["source"])
    if not src.is_dir():
        raise FetaledgeError(
            f"the source folder of cache {cache.root} is gone: {src}",
            hint="restore it, or re-run `fetaledge data prepare` from where the data now lives",
        )
    return AcouslicDataset(src)


def iter_raw_sweeps(cache: FrameCache, split: str) -> Iterator[RawSweep]:
    """Yield the kept sweeps of ``split`` in cache order (the order of ``FrameCache.load(split)``).

    Example:
        >>> for sw in iter_raw_sweeps(FrameCache("cache"), "val"): ...  # doctest: +SKIP
    """
    ds = _source(cache)
    records = {r.uuid: r for r in ds.records}
    for uuid in cache.split.cases[split]:
        if uuid not in records:
            raise FetaledgeError(f"case {uuid} of cache {cache.root} is not in its source {ds.root}")
        case = AcouslicCase(ds.root, records[uuid])
        for k in cache.entries[uuid]["sweeps"]:
            data = case.read_sweep(k)
            yield RawSweep(uuid, k, data.frames, data.labels)


def raw_frames_at(cache: FrameCache, split: str, indices: np.ndarray) -> np.ndarray:
    """Raw frames for positions ``indices`` into ``FrameCache.load(split)`` (e.g. calibration frames)."""
    wanted = np.sort(np.asarray(indices, np.int64))
    out, pos = [], 0
    order = np.argsort(np.argsort(np.asarray(indices, np.int64)))
    for sw in iter_raw_sweeps(cache, split):
        n = len(sw.labels)
        sel = wanted[(wanted >= pos) & (wanted < pos + n)] - pos
        if sel.size:
            out.append(sw.frames[sel])
        pos += n
        if pos > wanted[-1]:
            break
    frames = np.concatenate(out) if out else np.zeros((0,), np.uint8)
    if len(frames) != len(wanted):
        raise FetaledgeError(f"cache {cache.root}: {len(wanted)} frames asked for, {len(frames)} found in the source")
    return frames[order]
