"""Stage bookkeeping for ``fetaledge build``: a stage re-runs only when its inputs changed.

Each stage folder gets a ``.stage.json`` with the hash of its inputs (options, upstream stage keys, code
version). Upstream keys are part of a stage's inputs, so a change anywhere re-runs everything after it.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fetaledge import __version__
from fetaledge.fsio import read_json, write_json


def stage_key(inputs: dict[str, Any]) -> str:
    """A stable hash of a stage's inputs (JSON with sorted keys, plus the fetaledge version)."""
    blob = json.dumps({"inputs": inputs, "fetaledge": __version__}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def run_stage(name: str, folder: Path, inputs: dict[str, Any], fn: Callable[[Path], Any],
              log: Callable[[str], None] = print, outputs: tuple[str, ...] = ()) -> str:
    """Run ``fn(folder)`` unless ``folder`` holds a finished stage with the same inputs; returns the key.

    ``outputs`` are paths (relative to ``folder``) that must exist for a finished stage to count.

    Example:
        >>> key = run_stage("cache", Path("work/cache"), {"src": "work/phantom"}, prepare)  # doctest: +SKIP
    """
    folder = Path(folder)
    key = stage_key(inputs)
    marker = folder / ".stage.json"
    if marker.is_file():
        done = read_json(marker, "stage marker")
        if done.get("key") == key and all((folder / o).exists() for o in outputs):
            log(f"[{name}] up to date ({folder}), skipped")
            return key
    log(f"[{name}] running -> {folder}")
    t0 = time.perf_counter()
    fn(folder)
    seconds = time.perf_counter() - t0
    folder.mkdir(parents=True, exist_ok=True)
    write_json(marker, {"stage": name, "key": key, "inputs": inputs, "seconds": round(seconds, 2)})
    log(f"[{name}] done in {seconds:.1f} s")
    return key
