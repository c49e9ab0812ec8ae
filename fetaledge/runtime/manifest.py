"""The golden manifest: ``manifest.json`` at a golden root lists every golden file below it (recursively) with
its sha256 and size, so that a deleted, changed or unlisted golden is caught by pytest, by ``fetaledge verify``
and by the Kotlin suites (which read the same file). Written by ``python -m fetaledge.golden_cases --regenerate``
for ``tests/goldens`` and by every bundle build for ``bundle/goldens``.

Example:
    >>> doc = manifest_document(Path("tests/goldens"))          # doctest: +SKIP
    >>> check_golden_manifest(Path("tests/goldens"), strict=True)  # doctest: +SKIP
    []
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fetaledge.fsio import sha256_file

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = 1
REGENERATE = "python -m fetaledge.golden_cases --regenerate"


def golden_file_paths(root: Path) -> list[str]:
    """Every file under ``root`` (recursively, POSIX paths relative to it, sorted), the manifest excluded."""
    root = Path(root)
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*")
                  if p.is_file() and p.relative_to(root).as_posix() != MANIFEST_NAME)


def manifest_document(root: Path) -> dict[str, Any]:
    """The manifest of the files under ``root`` as they are now."""
    root = Path(root)
    files = [{"path": rel, "sha256": sha256_file(root / rel), "bytes": (root / rel).stat().st_size}
             for rel in golden_file_paths(root)]
    return {"format": MANIFEST_FORMAT,
            "description": "every golden file below this folder with its sha256; a test suite that reads the goldens "
                           "checks them all against this list (a deleted or changed golden fails it)",
            "regenerate": REGENERATE, "files": files}


def check_golden_manifest(root: Path, strict: bool = False) -> list[str]:
    """Problems of the files under ``root`` against its ``manifest.json``: a listed file missing or changed, and
    with ``strict`` a file that the manifest does not list. No manifest: no problem unless ``strict`` (bundles
    built before manifests existed carry none).

    Example:
        >>> check_golden_manifest(Path("bundle/goldens"))  # doctest: +SKIP
        []
    """
    root = Path(root)
    path = root / MANIFEST_NAME
    if not path.is_file():
        return [f"{MANIFEST_NAME}: missing (write it: {REGENERATE})"] if strict else []
    try:
        doc = json.loads(path.read_text())
        listed = {f["path"]: f["sha256"] for f in doc["files"]}
    except (KeyError, TypeError, ValueError) as exc:
        return [f"{MANIFEST_NAME}: unreadable ({type(exc).__name__}: {exc})"]
    if doc.get("format") != MANIFEST_FORMAT:
        return [f"{MANIFEST_NAME}: format {doc.get('format')!r}, this runtime reads {MANIFEST_FORMAT}"]
    problems = []
    for rel, digest in listed.items():
        f = root / rel
        if not f.is_file():
            problems.append(f"{rel}: listed in {MANIFEST_NAME} but missing")
        elif sha256_file(f) != digest:
            problems.append(f"{rel}: sha256 differs from {MANIFEST_NAME}")
    if strict:
        problems.extend(f"{rel}: not listed in {MANIFEST_NAME} (if it is a new golden: {REGENERATE})"
                        for rel in golden_file_paths(root) if rel not in listed)
    return problems
