"""Atomic file and folder writes: a stage never leaves a half-written artifact where a good one was."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fetaledge.errors import FetaledgeError


def ensure_writable_dir(path: Path) -> Path:
    """Create ``path`` (and parents) or raise a clear error when it cannot be written."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FetaledgeError(
            f"cannot create output folder {path}: {exc.strerror}", hint="choose a writable --out location"
        ) from exc
    if not os.access(path, os.W_OK | os.X_OK):
        raise FetaledgeError(f"output folder {path} is not writable", hint="choose a writable --out location")
    return path


@contextlib.contextmanager
def atomic_path(final: Path, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``final``; on success rename it over ``final``, on error delete it.

    Works for files and folders (the caller creates whichever it needs at the yielded path). ``suffix``
    keeps an extension that a writer dispatches on (SimpleITK picks its IO by extension).

    Example:
        >>> with atomic_path(Path("/tmp/x.json")) as tmp:  # doctest: +SKIP
        ...     tmp.write_text("{}")
    """
    final = Path(final)
    ensure_writable_dir(final.parent)
    fd, name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=f".tmp{suffix}", dir=final.parent)
    os.close(fd)
    tmp = Path(name)
    tmp.unlink()
    try:
        yield tmp
        if final.is_dir() and not final.is_symlink():
            old = final.with_name(f".{final.name}.old")
            if old.exists():
                shutil.rmtree(old)
            final.rename(old)
            tmp.rename(final)
            shutil.rmtree(old)
        else:
            os.replace(tmp, final)
    except BaseException:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists():
            tmp.unlink()
        raise


def write_json(path: Path, obj: Any) -> None:
    """Write JSON atomically (indent 2, sorted keys off so field order stays meaningful)."""
    with atomic_path(Path(path)) as tmp:
        tmp.write_text(json.dumps(obj, indent=2) + "\n")


def read_json(path: Path, what: str = "file") -> Any:
    """Read a JSON file with a clear error for a missing or malformed file."""
    path = Path(path)
    if not path.is_file():
        raise FetaledgeError(f"{what} not found: {path}")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise FetaledgeError(f"{what} {path} is not valid JSON: {exc.msg} at line {exc.lineno}") from exc


def sha256_file(path: str | Path, chunk_size: int = 1 << 20) -> str:
    """Lowercase hex sha256 of a file, read in chunks.

    Example:
        >>> import tempfile, os
        >>> with tempfile.NamedTemporaryFile(delete=False) as f:
        ...     _ = f.write(b"abc")
        >>> sha256_file(f.name)[:16]
        'ba7816bf8f01cfea'
        >>> os.unlink(f.name)
    """
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(chunk_size):
            h.update(chunk)
    return h.hexdigest()
