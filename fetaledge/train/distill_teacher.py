"""Teacher logits, computed once per frame and cached on disk (the ViT never runs inside the epoch loop).

The cache file is keyed by the teacher (sha256 of its config.json and model.pt), the frame cache (its manifest,
split and per-case completion markers) and the code that computes logits, so a new teacher, re-prepared data or
edited code can never be served stale logits, while every later run (another student, another seed, the whole
sweep) reuses them.

Layout of the store (default ``<data cache>/teacher_logits``)::

    <key>.npz    float32 logits per split: train, val, test (frame order of FrameCache.load)
    <key>.json   what the key stands for: teacher path and hash, cache fingerprint, frame counts, seconds

Example:
    >>> t = teacher_info(Path("runs/teacher/merged"))                          # doctest: +SKIP
    >>> store = Path("cache/teacher_logits")                                   # doctest: +SKIP
    >>> logits, computed = cached_teacher_logits(t, FrameCache("cache"), store, ctx)  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from fetaledge.codegraph import code_fingerprint
from fetaledge.data.cache import FrameCache
from fetaledge.data.splits import SPLITS
from fetaledge.errors import FetaledgeError
from fetaledge.fsio import atomic_path, ensure_writable_dir, write_json
from fetaledge.models.checkpoint import load_model, read_config
from fetaledge.train.dist import DistContext

#: Model-folder kinds accepted as a teacher: the merged FetalCLIP (the real one) and, for experiments and
#: tests, a baseline or an earlier student.
TEACHER_KINDS = ("fetalclip-merged", "baseline", "student")
LOGITS_FORMAT = 1


@dataclass(frozen=True)
class TeacherInfo:
    """A teacher model folder, checked and fingerprinted (no weights loaded yet)."""

    path: str
    kind: str
    sha256: str
    threshold: float
    input_size: int
    norm: str


def _hash_files(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(p.name.encode())
        with open(p, "rb") as f:
            for chunk in iter(lambda f=f: f.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def teacher_info(path: Path, kinds: tuple[str, ...] = TEACHER_KINDS) -> TeacherInfo:
    """Check a teacher folder (exists, valid config of an accepted kind, weights present) and hash it."""
    path = Path(path)
    if not path.exists():
        raise FetaledgeError(f"teacher folder not found: {path}",
                             hint="pass the folder written by `fetaledge merge` as --teacher")
    if not (path / "config.json").is_file() and (path / "run.json").is_file():
        merged = path / "merged"
        raise FetaledgeError(
            f"{path} is a finetune run folder, not a model folder",
            hint=f"pass --teacher {merged}" if (merged / "config.json").is_file()
            else f"merge it first: fetaledge merge {path} --out {merged}",
        )
    cfg = read_config(path)
    if cfg["kind"] not in kinds:
        raise FetaledgeError(
            f"{path} holds a {cfg['kind']!r} model, a teacher must be {' or '.join(kinds)}",
            hint="pass the merged teacher (`fetaledge merge --out DIR`), not the LoRA adapter folder"
            if cfg["kind"] == "fetalclip-lora" else "pass the folder written by `fetaledge merge`",
        )
    weights = path / "model.pt"
    if not weights.is_file():
        raise FetaledgeError(f"teacher folder {path} lacks model.pt", hint="re-run `fetaledge merge`")
    try:
        threshold = float(cfg["threshold"])
        input_size, norm = int(cfg["input_size"]), str(cfg["norm"])
    except (TypeError, ValueError) as exc:
        raise FetaledgeError(f"{path}/config.json has a malformed threshold or input_size: {exc}") from exc
    if not 0.0 <= threshold <= 1.0:
        raise FetaledgeError(f"{path}/config.json: threshold {threshold} is not a probability in [0, 1]")
    return TeacherInfo(str(path.resolve()), cfg["kind"], _hash_files([path / "config.json", weights]),
                       threshold, input_size, norm)


def frames_fingerprint(cache: FrameCache) -> str:
    """sha256 of the cache manifest, split and every case's completion marker (changes when frames do)."""
    root = cache.root
    files = [root / "manifest.json", root / "splits.json"]
    files += [root / "cases" / u / "done.json" for u in sorted(cache.entries)]
    return _hash_files([f for f in files if f.is_file()])


def logits_key(teacher: TeacherInfo, cache: FrameCache) -> str:
    """The store key: logits format, teacher weights, frames, and the code that computes logits (the import
    closure of this module), so logits computed by other code are never reused."""
    blob = f"v{LOGITS_FORMAT}|{teacher.sha256}|{frames_fingerprint(cache)}|{code_fingerprint(__name__)}"
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


@torch.no_grad()
def compute_teacher_logits(model: torch.nn.Module, teacher: TeacherInfo, images: np.ndarray, cache_size: int,
                           ctx: DistContext, batch_size: int = 32) -> np.ndarray:
    """Teacher logits for uint8 frames (n, C, C): resampled to the teacher's input size and normalised with
    its norm (the graph it was trained with). Each rank does its share; all ranks get every logit."""
    from fetaledge.train.distill_train import StudentInput

    pipe = StudentInput(cache_size, teacher.input_size, teacher.norm).eval().to(ctx.device)
    model = model.eval().to(ctx.device)
    idx = ctx.shard(len(images))
    part = np.zeros(len(idx), np.float32)
    for s in range(0, len(idx), batch_size):
        sel = idx[s : s + batch_size]
        x = pipe(torch.from_numpy(np.ascontiguousarray(images[sel])).to(ctx.device))
        part[s : s + len(sel)] = model(x).float().reshape(-1).cpu().numpy()
    full = np.zeros(len(images), np.float32)
    for i, p in ctx.gather_objects((idx, part)):  # type: ignore[misc]
        full[i] = p
    return full


def cached_teacher_logits(teacher: TeacherInfo, cache: FrameCache, store: Path, ctx: DistContext,
                          batch_size: int = 32, log=print) -> tuple[dict[str, np.ndarray], bool]:
    """``({split: logits}, computed)``: read the store when it holds this teacher x cache, else run the
    teacher once over all splits and write it (rank 0, atomically). ``computed`` is False on reuse."""
    key = logits_key(teacher, cache)
    npz, meta = Path(store) / f"{key}.npz", Path(store) / f"{key}.json"
    sizes = {s: int(cache.stats()[s]["frames"]) for s in SPLITS}
    if npz.is_file() and meta.is_file():
        with np.load(npz) as z:
            found = {s: np.asarray(z[s], np.float32) for s in SPLITS if s in z.files}
        if all(s in found and found[s].shape == (sizes[s],) for s in SPLITS):
            if ctx.is_main:
                log(f"teacher logits reused: {npz}")
            return found, False
    ensure_writable_dir(Path(store))  # every rank: fail before the expensive part, all together
    if ctx.is_main:
        log(f"teacher logits: running the {teacher.kind} teacher once over {sum(sizes.values())} frames")
    t0 = time.perf_counter()
    model, _ = load_model(Path(teacher.path), expect=TEACHER_KINDS)
    logits = {}
    for split in SPLITS:
        images = cache.load(split).images
        logits[split] = compute_teacher_logits(model, teacher, images, cache.size, ctx, batch_size)
    del model
    if ctx.is_main:
        with atomic_path(npz, suffix=".npz") as tmp:
            np.savez(tmp, **logits)
        write_json(meta, {
            "format": LOGITS_FORMAT,
            "teacher": asdict(teacher),
            "cache": str(cache.root.resolve()),
            "cache_fingerprint": frames_fingerprint(cache),
            "frames": sizes,
            "seconds": round(time.perf_counter() - t0, 2),
        })
    ctx.barrier()
    return logits, True

