"""The frame cache: preprocessed frames written once, streaming and resumable, read by every later stage.

Layout of a cache folder::

    manifest.json              geometry, options, one entry per case (subject, frames, positives)
    splits.json                subject-level train/val/test split (seeded)
    cases/<uuid>/images.npy    (n, S, S) uint8, padded to square and resampled (fetaledge.preprocess)
    cases/<uuid>/labels.npy    (n,) uint8 0 irrelevant / 1 optimal / 2 suboptimal
    cases/<uuid>/sweep.npy     (n,) int8 sweep index 0..5
    cases/<uuid>/frame.npy     (n,) int16 frame index in the original stack
    cases/<uuid>/done.json     the source signature; a case is skipped on re-run when it matches

Every case folder and the manifest are written to a temporary name and renamed, so an interrupted
``prepare`` leaves only complete cases and the previous manifest; running it again resumes.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fetaledge.data import layout as L
from fetaledge.data.acouslic import AcouslicCase, AcouslicDataset
from fetaledge.data.splits import SPLITS, Split, load_split, make_split, save_split
from fetaledge.errors import FetaledgeError
from fetaledge.fsio import atomic_path, ensure_writable_dir, read_json, write_json
from fetaledge.preprocess import FrameGeometry, resize_frames

CACHE_FORMAT = "fetaledge-frame-cache"
CACHE_VERSION = 1


def _signature(case: AcouslicCase, size: int, sweeps: str) -> dict:
    st_i, st_m = case.image_path.stat(), case.mask_path.stat()
    return {
        "image": [st_i.st_size, int(st_i.st_mtime)],
        "mask": [st_m.st_size, int(st_m.st_mtime)],
        "size": size,
        "sweeps": sweeps,
        "ac": [None if np.isnan(a) else a for a in case.record.sweep_ac_mm],
    }


def _write_case(case: AcouslicCase, dest: Path, size: int, sweeps: str,
                progress: Callable[[int], None] | None) -> dict:
    """Read one case sweep by sweep, resample, write its folder atomically; return its manifest entry."""
    geometry = FrameGeometry(case.image.height, case.image.width, (size,))
    keep = case.record.annotated_sweeps if sweeps == "annotated" else list(range(L.N_SWEEPS))
    n = case.frames_per_sweep
    images, labels, sweep_idx, frame_idx = [], [], [], []
    for k in keep:
        data = case.read_sweep(k)
        images.append(resize_frames(data.frames, geometry))
        labels.append(data.labels)
        sweep_idx.append(np.full(n, k, np.int8))
        frame_idx.append(np.arange(k * n, (k + 1) * n, dtype=np.int16))
        del data
        if progress:
            progress(n)
    arrays = {
        "images": np.concatenate(images) if images else np.zeros((0, size, size), np.uint8),
        "labels": np.concatenate(labels) if labels else np.zeros(0, np.uint8),
        "sweep": np.concatenate(sweep_idx) if sweep_idx else np.zeros(0, np.int8),
        "frame": np.concatenate(frame_idx) if frame_idx else np.zeros(0, np.int16),
    }
    with atomic_path(dest) as tmp:
        tmp.mkdir()
        for name, arr in arrays.items():
            np.save(tmp / f"{name}.npy", arr)
        write_json(tmp / "done.json", _signature(case, size, sweeps))
    return _entry(case, arrays["labels"], keep)


def _entry(case: AcouslicCase, labels: np.ndarray, keep: list[int]) -> dict:
    return {
        "uuid": case.uuid,
        "subject_id": case.record.subject_id,
        "frames": int(labels.size),
        "frames_per_sweep": case.frames_per_sweep,
        "sweeps": keep,
        "positives": int((labels > 0).sum()),
        "optimal": int((labels == L.LABEL_OPTIMAL).sum()),
        "sweep_ac_mm": [None if np.isnan(a) else a for a in case.record.sweep_ac_mm],
    }


def prepare_cache(src: Path, out: Path, *, size: int = 224, sweeps: str = "annotated", seed: int = 0,
                  progress: Callable[[int], None] | None = None,
                  on_total: Callable[[int], None] | None = None) -> dict:
    """Write the frame cache for an ACOUSLIC-layout folder (real or phantom) and its subject-level split.

    ``sweeps="annotated"`` keeps only sweeps with an AC value (the paper's setting); ``"all"`` keeps all six.
    All cases are validated (headers) before any pixel is written. Re-running resumes: finished cases whose
    source is unchanged are skipped.

    Example:
        >>> manifest = prepare_cache(Path("phantom"), Path("cache"))  # doctest: +SKIP
    """
    if sweeps not in ("annotated", "all"):
        raise FetaledgeError(f"unknown sweeps option {sweeps!r}", hint="use 'annotated' or 'all'")
    dataset = AcouslicDataset(src)
    cases = list(dataset.cases())  # validates every header first: bad input fails before any write
    out = ensure_writable_dir(Path(out))
    if (out / "manifest.json").exists() and read_json(out / "manifest.json", "cache manifest").get(
        "format"
    ) != CACHE_FORMAT:
        raise FetaledgeError(f"{out} holds something that is not a fetaledge frame cache", hint="pick another --out")
    ensure_writable_dir(out / "cases")
    geometry = {(c.image.height, c.image.width) for c in cases}
    if len(geometry) != 1:
        raise FetaledgeError(f"cases have different frame sizes {sorted(geometry)}; one cache holds one geometry")
    if on_total:
        on_total(sum(
            c.frames_per_sweep * (len(c.record.annotated_sweeps) if sweeps == "annotated" else L.N_SWEEPS)
            for c in cases
        ))
    entries = []
    for case in cases:
        dest = out / "cases" / case.uuid
        done = dest / "done.json"
        if done.is_file() and read_json(done, "case marker") == _signature(case, size, sweeps):
            labels = np.load(dest / "labels.npy")
            keep = sorted({int(k) for k in np.load(dest / "sweep.npy")})
            entries.append(_entry(case, labels, keep))
            if progress:
                progress(int(labels.size))
            continue
        entries.append(_write_case(case, dest, size, sweeps, progress))
    h, w = geometry.pop()
    split = make_split({e["uuid"]: e["subject_id"] for e in entries}, seed=seed)
    save_split(split, out / "splits.json")
    manifest = {
        "format": CACHE_FORMAT,
        "version": CACHE_VERSION,
        "source": str(Path(src).resolve()),
        "size": size,
        "raw_height": h,
        "raw_width": w,
        "sweeps": sweeps,
        "split_seed": seed,
        "cases": entries,
    }
    write_json(out / "manifest.json", manifest)
    return manifest


@dataclass
class SplitFrames:
    """All frames of one split: images (n, S, S) uint8 and per-frame metadata arrays."""

    images: np.ndarray
    labels: np.ndarray  # 0/1/2
    case: np.ndarray  # index into ``uuids``
    sweep: np.ndarray
    frame: np.ndarray
    uuids: list[str]

    @property
    def targets(self) -> np.ndarray:
        """Binary target: plane present (label 1 or 2)."""
        return (self.labels > 0).astype(np.float32)


class FrameCache:
    """Read a prepared cache (numpy only: usable by training, benchmarks and tools without torch).

    Example:
        >>> cache = FrameCache("cache")          # doctest: +SKIP
        >>> val = cache.load("val")              # doctest: +SKIP
        >>> val.images.shape, val.targets.mean() # doctest: +SKIP
    """

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        if not (self.root / "manifest.json").is_file():
            raise FetaledgeError(
                f"{self.root} is not a prepared frame cache (no manifest.json)",
                hint="run `fetaledge data prepare SRC --out CACHE` first",
            )
        self.manifest = read_json(self.root / "manifest.json", "cache manifest")
        if self.manifest.get("format") != CACHE_FORMAT or self.manifest.get("version") != CACHE_VERSION:
            raise FetaledgeError(
                f"{self.root}/manifest.json is not a version-{CACHE_VERSION} fetaledge cache",
                hint="re-run `fetaledge data prepare`",
            )
        self.split: Split = load_split(self.root / "splits.json")
        self.entries = {e["uuid"]: e for e in self.manifest["cases"]}

    @property
    def size(self) -> int:
        return int(self.manifest["size"])

    def case_arrays(self, uuid: str, mmap: bool = True) -> dict[str, np.ndarray]:
        d = self.root / "cases" / uuid
        if not d.is_dir():
            raise FetaledgeError(f"cache {self.root} lacks case {uuid}", hint="re-run `fetaledge data prepare`")
        mode = "r" if mmap else None
        return {k: np.load(d / f"{k}.npy", mmap_mode=mode) for k in ("images", "labels", "sweep", "frame")}

    def load(self, split: str) -> SplitFrames:
        """Load one split into memory (for the phantom and modest real subsets)."""
        if split not in SPLITS:
            raise FetaledgeError(f"unknown split {split!r}", hint=f"use one of {', '.join(SPLITS)}")
        uuids = self.split.cases[split]
        parts = [self.case_arrays(u) for u in uuids]
        size = self.size
        if not parts:
            empty = np.zeros(0, np.int64)
            return SplitFrames(np.zeros((0, size, size), np.uint8), empty.astype(np.uint8), empty, empty, empty, [])
        return SplitFrames(
            images=np.concatenate([np.asarray(p["images"]) for p in parts]),
            labels=np.concatenate([np.asarray(p["labels"]) for p in parts]),
            case=np.concatenate([np.full(len(p["labels"]), i) for i, p in enumerate(parts)]),
            sweep=np.concatenate([np.asarray(p["sweep"]) for p in parts]).astype(np.int64),
            frame=np.concatenate([np.asarray(p["frame"]) for p in parts]).astype(np.int64),
            uuids=list(uuids),
        )

    def stats(self) -> dict[str, dict[str, int]]:
        """Cases, subjects, frames and positives per split."""
        out = {}
        for name in SPLITS:
            es = [self.entries[u] for u in self.split.cases[name]]
            out[name] = {
                "cases": len(es),
                "subjects": len(self.split.subjects[name]),
                "frames": sum(e["frames"] for e in es),
                "positives": sum(e["positives"] for e in es),
                "optimal": sum(e["optimal"] for e in es),
            }
        return out


def is_cache(path: Path) -> bool:
    return (Path(path) / "manifest.json").is_file() and os.path.isfile(Path(path) / "splits.json")
