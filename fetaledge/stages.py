"""Stage bookkeeping for ``fetaledge build``: a stage re-runs only when its inputs or its code changed.

Each stage folder gets a ``.stage.json`` with the hash of its inputs (options, upstream stage keys, the fetaledge
version, and a fingerprint of the source files that decide the stage's output: ``STAGE_CODE``). Upstream keys
are part of a stage's inputs, so a change anywhere re-runs everything after it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import time
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from fetaledge import __version__
from fetaledge.errors import FetaledgeError
from fetaledge.fsio import read_json, write_json

# The source (package folders or files, as "package/sub/path") whose code decides each stage's output, by stage
# name before any ":" ("quantize:arm64" -> "quantize"). Without it an edit of, say, the folded preprocessing
# would leave the old export and INT8 models in place, silently. Listed generously: a needless re-run costs
# minutes, a stale artifact a wrong bundle.
STAGE_CODE: dict[str, tuple[str, ...]] = {
    "phantom": ("fetaledge/data",),
    "cache": ("fetaledge/data", "fetaledge/preprocess.py"),
    "teacher": ("fetaledge/data", "fetaledge/models", "fetaledge/train", "fetaledge/metrics.py",
                "fetaledge/preprocess.py"),
    "merge": ("fetaledge/models", "fetaledge/train"),
    "distill": ("fetaledge/data", "fetaledge/models", "fetaledge/train", "fetaledge/metrics.py",
                "fetaledge/preprocess.py"),
    "export": ("fetaledge/data", "fetaledge/models", "fetaledge/export", "fetaledge/preprocess.py"),
    "quantize": ("quantize", "fetaledge/quantization.py", "fetaledge/gate_frames.py", "fetaledge/targets.py",
                 "fetaledge/data",
                 "fetaledge/models", "fetaledge/export", "fetaledge/metrics.py", "fetaledge/preprocess.py"),
}


def source_files(paths: tuple[str, ...]) -> dict[str, Path]:
    """The ``.py`` files under ``paths`` ("package/sub/path", found where Python imports the package from),
    keyed by their path relative to the package's parent."""
    out: dict[str, Path] = {}
    for p in paths:
        top, _, rest = p.partition("/")
        spec = importlib.util.find_spec(top)
        if spec is None or spec.origin is None:
            raise FetaledgeError(f"stage code path {p!r}: package {top!r} is not importable")
        root = Path(spec.origin).parent
        target = root / rest if rest else root
        if target.is_dir():
            files = sorted(target.rglob("*.py"))
        elif target.is_file():
            files = [target]
        else:
            raise FetaledgeError(f"stage code path {p!r} not found under {root}",
                                 hint="fix fetaledge.stages.STAGE_CODE after moving a module")
        for f in files:
            out[f"{top}/{f.relative_to(root).as_posix()}"] = f
    return out


def fingerprint_files(files: dict[str, Path]) -> str:
    """sha256 over the files' names and bytes, in name order."""
    h = hashlib.sha256()
    for name in sorted(files):
        h.update(name.encode() + b"\0" + files[name].read_bytes() + b"\0")
    return h.hexdigest()[:16]


@cache
def code_fingerprint(stage: str) -> str:
    """Fingerprint of the source that decides ``stage``'s output ("" for a stage not in ``STAGE_CODE``)."""
    paths = STAGE_CODE.get(stage.split(":")[0], ())
    return fingerprint_files(source_files(paths)) if paths else ""


def stage_key(inputs: dict[str, Any], code: str = "") -> str:
    """A stable hash of a stage's inputs (JSON with sorted keys), its code fingerprint and the fetaledge version."""
    blob = json.dumps({"inputs": inputs, "code": code, "fetaledge": __version__}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def run_stage(name: str, folder: Path, inputs: dict[str, Any], fn: Callable[[Path], Any],
              log: Callable[[str], None] = print, outputs: tuple[str, ...] = ()) -> str:
    """Run ``fn(folder)`` unless ``folder`` holds a finished stage with the same inputs and code; returns the key.

    ``outputs`` are paths (relative to ``folder``) that must exist for a finished stage to count.

    Example:
        >>> key = run_stage("cache", Path("work/cache"), {"src": "work/phantom"}, prepare)  # doctest: +SKIP
    """
    folder = Path(folder)
    code = code_fingerprint(name)
    key = stage_key(inputs, code)
    marker = folder / ".stage.json"
    why = ""
    if marker.is_file():
        done = read_json(marker, "stage marker")
        if done.get("key") == key and all((folder / o).exists() for o in outputs):
            log(f"[{name}] up to date ({folder}), skipped")
            return key
        if done.get("code") != code and stage_key(done.get("inputs"), code) == key:
            why = " (same inputs, its code changed)"
    log(f"[{name}] running -> {folder}{why}")
    t0 = time.perf_counter()
    fn(folder)
    seconds = time.perf_counter() - t0
    folder.mkdir(parents=True, exist_ok=True)
    write_json(marker, {"stage": name, "key": key, "inputs": inputs, "code": code, "seconds": round(seconds, 2)})
    log(f"[{name}] done in {seconds:.1f} s")
    return key
