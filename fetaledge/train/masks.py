"""Segmentation masks beside a frame cache, made the way FetalCLIP-IQA's ``preprocess.py`` makes them.

For each cached frame the ACOUSLIC mask (0 / 1 optimal / 2 suboptimal) is zero-padded to a square like the
image, its holes are filled (the paper fills the external contours), and it is resized to the cache size by
nearest neighbour (OpenCV INTER_NEAREST's index rule, ``floor(i * in / out)``). The frame's label value (1 or 2)
is kept on its pixels, so WFSS can still tell optimal from suboptimal.

Stored as ``<cache>/masks/<uuid>.npy`` ((n, S, S) uint8, in the cache's frame order) with a ``.json`` signature
of the source mask file; written atomically, reused while the source is unchanged. The source is the ACOUSLIC
folder the cache was prepared from (``manifest.json`` ``source``); a plane dataset has no masks.

Example:
    >>> masks = load_split_masks(Path("runs/teacher/cache"), "train")  # doctest: +SKIP
    >>> masks.shape                                                    # doctest: +SKIP
    (1920, 224, 224)
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from fetaledge.data.cache import FrameCache
from fetaledge.errors import FetaledgeError
from fetaledge.fsio import atomic_path, read_json, write_json

#: The paper's classification rule for a segmentation model: positive when >= 1 % of the image is foreground.
AREA_FRACTION = 0.01


def min_area_pixels(size: int) -> int:
    """Smallest predicted-mask area (pixels) the area rule calls positive: ``area >= size * size * 0.01``.

    Example:
        >>> min_area_pixels(224), min_area_pixels(112)
        (502, 126)
    """
    return int(np.ceil(size * size * AREA_FRACTION - 1e-9))


def nearest_index(in_len: int, out_len: int) -> np.ndarray:
    """Source index of each output sample for a nearest resize (OpenCV INTER_NEAREST: floor(i * in / out))."""
    return np.minimum(np.floor(np.arange(out_len) * (in_len / out_len)).astype(np.int64), in_len - 1)


def resize_masks_nearest(masks: np.ndarray, size: int) -> np.ndarray:
    """(n, H, W) label masks -> (n, size, size): centred zero padding to a square, holes filled, nearest resize."""
    from scipy.ndimage import binary_fill_holes

    n, h, w = masks.shape
    side = max(h, w)
    top, left = (side - h) // 2, (side - w) // 2
    rows, cols = nearest_index(side, size), nearest_index(side, size)
    out = np.zeros((n, size, size), np.uint8)
    for i, m in enumerate(masks):
        if not m.any():
            continue
        label = 1 if (m == 1).any() else 2
        padded = np.zeros((side, side), bool)
        padded[top : top + h, left : left + w] = m > 0
        filled = binary_fill_holes(padded)
        out[i] = filled[np.ix_(rows, cols)] * np.uint8(label)
    return out


def _signature(path: Path, size: int) -> dict:
    st = path.stat()
    return {"mask": str(path.resolve()), "bytes": st.st_size, "mtime": int(st.st_mtime), "size": size, "v": 1}


def _source(fc: FrameCache) -> Path:
    src = fc.manifest.get("source")
    if fc.manifest.get("planes") or not src:
        raise FetaledgeError(f"{fc.root} was prepared from a plane dataset: it has no segmentation masks",
                             hint="segmentation and the paper's label rule need an ACOUSLIC-layout folder "
                                  "(real or `fetaledge data phantom`)")
    if not Path(src).is_dir():
        raise FetaledgeError(f"the masks come from the ACOUSLIC folder {fc.root} was prepared from, {src}, "
                             "which no longer exists", hint="restore that folder or prepare the cache again")
    return Path(src)


def ensure_masks(cache: Path | FrameCache, progress: Callable[[int], None] | None = None) -> Path:
    """Write (or reuse) the mask of every cached frame; returns ``<cache>/masks``."""
    from fetaledge.data.acouslic import AcouslicDataset

    fc = cache if isinstance(cache, FrameCache) else FrameCache(cache)
    root = _source(fc)
    out = fc.root / "masks"
    out.mkdir(exist_ok=True)
    cases = {c.uuid: c for c in AcouslicDataset(root).cases() if c.uuid in fc.entries}
    for uuid, entry in fc.entries.items():
        if uuid not in cases:
            raise FetaledgeError(f"case {uuid} of {fc.root} is not in {root} any more",
                                 hint="prepare the cache again from the current folder")
        case = cases[uuid]
        sig = _signature(case.mask_path, fc.size)
        done = out / f"{uuid}.json"
        if done.is_file() and (out / f"{uuid}.npy").is_file() and read_json(done, "mask marker") == sig:
            continue
        parts = [resize_masks_nearest(case.read_sweep_mask(k), fc.size) for k in entry["sweeps"]]
        masks = np.concatenate(parts) if parts else np.zeros((0, fc.size, fc.size), np.uint8)
        labels = fc.case_arrays(uuid)["labels"]
        if len(masks) != len(labels):
            raise FetaledgeError(f"{fc.root} case {uuid}: {len(labels)} cached frames but {len(masks)} masks",
                                 hint="prepare the cache again")
        with atomic_path(out / f"{uuid}.npy", suffix=".npy") as tmp, open(tmp, "wb") as f:
            np.save(f, masks)
        write_json(done, sig)
        if progress:
            progress(len(masks))
    return out


def load_split_masks(cache: Path | FrameCache, split: str, cases: list[str] | None = None) -> np.ndarray:
    """Masks (n, S, S) uint8 of ``split`` (or of ``cases``, in that order), made first if needed."""
    fc = cache if isinstance(cache, FrameCache) else FrameCache(cache)
    ensure_masks(fc)
    uuids = fc.split.cases[split] if cases is None else cases
    parts = [np.load(fc.root / "masks" / f"{u}.npy") for u in uuids]
    if not parts:
        return np.zeros((0, fc.size, fc.size), np.uint8)
    return np.concatenate(parts)
