"""Raw frames (as the probe delivers them) for the frames of a prepared cache, read from its source folder.

Exported artifacts take the raw uint8 frame, so their calibration, accuracy gate and benchmarks run on raw
frames, streamed sweep by sweep from the ACOUSLIC-layout folder the cache was prepared from.

A cache of a plane dataset (``manifest["source_kind"] == "planes"``, :mod:`fetaledge.data.planes`) holds one
frame per image. Its raw frame is the image file read again, made grey and letterboxed to the cache's raw
size (``raw_height`` x ``raw_width``): what a bundle built from it (``input.other_sizes: "letterbox"``) does to
the image on the device. :func:`iter_raw_images` gives the images at their own size instead.
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


@dataclass
class RawImage:
    """One image of a plane-dataset cache at its own size: grey (H, W) uint8, label 0/1, and where it came from."""

    case: str
    image: np.ndarray
    label: int
    entry: dict


def _planes_root(cache: FrameCache) -> Path:
    src = Path(cache.manifest["source"])
    if not src.is_dir():
        raise FetaledgeError(
            f"the source folder of cache {cache.root} is gone: {src}",
            hint="restore it, or re-run `fetaledge data prepare` from where the data now lives",
        )
    return src


def _planes_file(cache: FrameCache, root: Path, uuid: str) -> Path:
    entry = cache.entries[uuid]
    path = root / entry["file"]
    if not path.is_file():
        raise FetaledgeError(f"image {entry['file']} of cache {cache.root} is missing in its source {root}")
    return path


def iter_raw_images(cache: FrameCache, split: str) -> Iterator[RawImage]:
    """Plane-dataset caches only: the images of ``split`` in cache order, grey at their own size.

    Example:
        >>> for im in iter_raw_images(FrameCache("cache_af"), "test"): ...  # doctest: +SKIP
    """
    from fetaledge.data.planes import is_planes_cache, load_grey

    if not is_planes_cache(cache.manifest):
        raise FetaledgeError(f"cache {cache.root} is not from a plane dataset: it has no images of their own size")
    root = _planes_root(cache)
    for uuid in cache.split.cases[split]:
        labels = np.load(cache.root / "cases" / uuid / "labels.npy")
        yield RawImage(uuid, load_grey(_planes_file(cache, root, uuid)), int(labels[0]), cache.entries[uuid])


def _iter_planes_sweeps(cache: FrameCache, split: str) -> Iterator[RawSweep]:
    from fetaledge.runtime.geometry import letterbox

    h, w = int(cache.manifest["raw_height"]), int(cache.manifest["raw_width"])
    for im in iter_raw_images(cache, split):
        yield RawSweep(im.case, 0, letterbox(im.image, h, w)[None], np.array([im.label], np.uint8))


def iter_raw_sweeps(cache: FrameCache, split: str) -> Iterator[RawSweep]:
    """Yield the kept sweeps of ``split`` in cache order (the order of ``FrameCache.load(split)``).

    For a plane-dataset cache every image is a one-frame sweep 0, letterboxed to the cache's raw size.

    Example:
        >>> for sw in iter_raw_sweeps(FrameCache("cache"), "val"): ...  # doctest: +SKIP
    """
    if cache.manifest.get("source_kind") == "planes":
        yield from _iter_planes_sweeps(cache, split)
        return
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
