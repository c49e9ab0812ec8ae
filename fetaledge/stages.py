"""Stage bookkeeping for ``fetaledge build``: a stage re-runs only when its inputs or its code changed.

Each stage folder gets a ``.stage.json`` with the hash of its inputs (options, upstream stage keys, the fetaledge
version) and of its code (the fingerprint of its import closure, :mod:`fetaledge.codegraph`). Upstream keys are
part of a stage's inputs, so a change anywhere re-runs everything after it. The stages themselves are declared
in :mod:`fetaledge.build_stages`.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fetaledge import __version__
from fetaledge.errors import FetaledgeError
from fetaledge.fsio import read_json, write_json

#: Files up to this size are fingerprinted by content, so a dataset copied again (new modification times, same
#: bytes) keeps its finished stages; bigger ones (weights, .mha stacks) by size and modification time.
CONTENT_HASH_MAX_BYTES = 8 << 20


def _fingerprint(f: Path) -> str:
    st = f.stat()
    if st.st_size <= CONTENT_HASH_MAX_BYTES:
        return f"{st.st_size}:sha256:{hashlib.sha256(f.read_bytes()).hexdigest()}"
    return f"{st.st_size}:mtime:{int(st.st_mtime)}"


def input_sig(path: Path | None) -> Any:
    """A stage input's signature: resolved path + fingerprint (of every file, for a folder).

    Example:
        >>> input_sig(Path("weights.pt"))  # doctest: +SKIP
        ['/abs/weights.pt', '1234:sha256:...']
    """
    if path is None:
        return None
    p = Path(path)
    if not p.exists():
        raise FetaledgeError(f"not found: {p}")
    if p.is_file():
        return [str(p.resolve()), _fingerprint(p)]
    files = sorted(f for f in p.rglob("*") if f.is_file() and not f.name.startswith("."))
    h = hashlib.sha256()
    for f in files:
        h.update(f"{f.relative_to(p)}:{_fingerprint(f)}\n".encode())
    return [str(p.resolve()), h.hexdigest()[:16]]


def stage_key(inputs: dict[str, Any], code: str = "") -> str:
    """A stable hash of a stage's inputs (JSON with sorted keys), its code fingerprint and the fetaledge version."""
    blob = json.dumps({"inputs": inputs, "code": code, "fetaledge": __version__}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def run_stage(name: str, folder: Path, inputs: dict[str, Any], fn: Callable[[Path], Any],
              log: Callable[[str], None] = print, outputs: tuple[str, ...] = (), code: str = "") -> str:
    """Run ``fn(folder)`` unless ``folder`` holds a finished stage with the same inputs and code; returns the key.

    ``outputs`` are paths (relative to ``folder``) that must exist for a finished stage to count; ``code`` is the
    fingerprint of the stage's code (:func:`fetaledge.codegraph.stage_code_fingerprint`).

    Example:
        >>> key = run_stage("cache", Path("work/cache"), {"src": "work/phantom"}, prepare)  # doctest: +SKIP
    """
    folder = Path(folder)
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
