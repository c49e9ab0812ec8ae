"""Run code under an emulated arm64 CPython (qemu-user-static) set up by ``benchmarks/arm64/setup_arm64.sh``.

The setup script unpacks Debian's arm64 ``python3.11`` into a sysroot and installs aarch64 wheels of numpy,
onnxruntime 1.22.1 and ai-edge-litert 1.4.0 (the versions that run under qemu 7.2) into a site dir, both under
:func:`arm64_home`. This module only finds them and starts ``qemu-aarch64-static SYSROOT/usr/bin/python3.11``
with the right environment, so the torch-free ``fetaledge.runtime`` can be checked on an arm64 Python from the
source tree.

Timings taken under emulation are NOT device timings (qemu translates every instruction): label them so.

Example:
    >>> from fetaledge.emulate import arm64_available, run_arm64_python, project_root
    >>> if arm64_available():  # doctest: +SKIP
    ...     r = run_arm64_python(["-c", "import platform; print(platform.machine())"])
    ...     r.stdout
    'aarch64\\n'
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from fetaledge.errors import FetaledgeError

__all__ = [
    "QEMU_BINARY",
    "SETUP_COMMAND",
    "arm64_available",
    "arm64_home",
    "arm64_python",
    "arm64_site",
    "arm64_sysroot",
    "project_root",
    "run_arm64_python",
]

QEMU_BINARY = "qemu-aarch64-static"
SETUP_COMMAND = "bash benchmarks/arm64/setup_arm64.sh"

# Host variables that would mislead the emulated python or its dynamic loader (x86 libraries, host stdlib).
_HOST_ONLY_VARS = (
    "LD_LIBRARY_PATH",
    "LD_PRELOAD",
    "PYTHONHOME",
    "PYTHONPATH",
    "PYTHONSTARTUP",
    "PYTHONUSERBASE",
)


def arm64_home() -> Path:
    """The cache dir of the arm64 environment: ``$FETALEDGE_ARM64_HOME`` or ``~/.cache/fetaledge/arm64``."""
    env = os.environ.get("FETALEDGE_ARM64_HOME")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "fetaledge" / "arm64"


def arm64_sysroot() -> Path:
    """The unpacked Debian arm64 root (used as ``QEMU_LD_PREFIX``)."""
    return arm64_home() / "sysroot"


def arm64_site() -> Path:
    """The dir holding the installed aarch64 wheels (put on the emulated ``PYTHONPATH``)."""
    return arm64_home() / "site"


def arm64_python() -> Path:
    """The arm64 interpreter binary inside the sysroot."""
    return arm64_sysroot() / "usr" / "bin" / "python3.11"


def project_root() -> Path:
    """The source tree root (the folder holding the ``fetaledge`` package), for ``extra_paths``."""
    return Path(__file__).resolve().parent.parent


def _qemu() -> str | None:
    return shutil.which(QEMU_BINARY)


def _missing() -> list[str]:
    missing = []
    if _qemu() is None:
        missing.append(f"{QEMU_BINARY} not on PATH")
    if not arm64_python().is_file():
        missing.append(f"no arm64 python at {arm64_python()}")
    if not arm64_site().is_dir():
        missing.append(f"no arm64 site dir at {arm64_site()}")
    if not (arm64_home() / "READY").is_file():
        missing.append(f"setup did not finish (no {arm64_home() / 'READY'})")
    return missing


def arm64_available() -> bool:
    """True when qemu, the arm64 sysroot and site dir are present and the setup's smoke check passed."""
    return not _missing()


def run_arm64_python(
    args: Sequence[str | os.PathLike[str]],
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    timeout: float | None = None,
    extra_paths: Sequence[str | os.PathLike[str]] = (),
    check: bool = False,
) -> subprocess.CompletedProcess[str]:
    """Run ``python3.11 *args`` under qemu arm64; return the finished process (text stdout/stderr captured).

    ``extra_paths`` go on ``PYTHONPATH`` after the arm64 site dir, e.g. ``[project_root()]`` so the emulated
    python imports ``fetaledge.runtime`` from the source tree. ``env`` is added to the host environment (minus
    host-only variables such as ``LD_LIBRARY_PATH``); a ``PYTHONPATH`` in it is appended last. With ``check``,
    a non-zero exit raises :class:`FetaledgeError` carrying the tail of stderr.

    Raises:
        FetaledgeError: the arm64 environment is not set up, the run timed out, or (``check``) it failed.
    """
    missing = _missing()
    if missing:
        raise FetaledgeError(
            "arm64 python environment not set up: " + "; ".join(missing),
            hint=f"run `{SETUP_COMMAND}` (downloads about 120 MB once, then cached under {arm64_home()})",
        )
    qemu = _qemu()
    assert qemu is not None  # checked by _missing()

    run_env = {k: v for k, v in os.environ.items() if k not in _HOST_ONLY_VARS}
    user_env = dict(env or {})
    user_pythonpath = user_env.pop("PYTHONPATH", "")
    run_env.update(user_env)
    paths = [str(arm64_site()), *(str(Path(p).resolve()) for p in extra_paths)]
    if user_pythonpath:
        paths.append(user_pythonpath)
    run_env.update(
        {
            "QEMU_LD_PREFIX": str(arm64_sysroot()),
            "PYTHONPATH": os.pathsep.join(paths),
            "PYTHONNOUSERSITE": "1",
        }
    )
    cmd = [qemu, str(arm64_python()), *(os.fspath(a) for a in args)]
    try:
        proc = subprocess.run(
            cmd, env=run_env, cwd=cwd, timeout=timeout, capture_output=True, text=True, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise FetaledgeError(
            f"arm64 python timed out after {timeout:g} s: {' '.join(cmd[2:])[:200]}",
            hint="emulation is slow (often 10-50x): raise the timeout or use a smaller model",
        ) from exc
    if check and proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
        signal_note = f" (signal {-proc.returncode})" if proc.returncode < 0 else ""
        raise FetaledgeError(
            f"arm64 python exited with {proc.returncode}{signal_note}:\n{tail}",
            hint="a SIGSEGV under qemu 7.2 usually means an unsupported wheel version; rerun "
            f"`{SETUP_COMMAND} --force`",
        )
    return proc
