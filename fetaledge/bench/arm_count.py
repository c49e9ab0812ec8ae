"""ARM cost without a device: aarch64 instructions per raw frame under qemu-user with the TCG insn plugin.

``benchmarks/arm64/setup_arm64.sh`` installs Debian's dynamically linked ``qemu-aarch64`` (the static build
cannot load plugins) and compiles ``libinsn.so`` from Debian's own qemu source (``tests/plugin/insn.c``).
Each count runs :mod:`fetaledge.bench.count_probe` (the torch-free runtime, 1 thread) on the emulated arm64
CPython twice, with N1 and N2 frames; ``(count(N2) - count(N1)) / (N2 - N1)`` is the steady-state cost of one
frame, start-up and the first inference cancelling out. ``-cpu cortex-a53`` (Armv8.0, no dot product) and
``cortex-a76`` (Armv8.2 with SDOT/UDOT) make XNNPACK and MLAS pick different kernels.

These are INSTRUCTION COUNTS, NOT TIME: an SDOT does 16 int8 MACs and an FMLA 4 fp32 MACs in one instruction,
and caches, pipelines and clocks are not modelled. They are exact and repeatable whatever the host's load
(fixed environment, ``PYTHONHASHSEED=0``, address-space randomisation off with ``setarch -R``), so ratios
between artifacts can be pinned by a test.

Example:
    >>> from fetaledge.bench.arm_count import count_available, per_frame_instructions
    >>> if count_available():  # doctest: +SKIP
    ...     per_frame_instructions(Path("student.tflite"), "litert", Path("frames.npy"), "cortex-a76")["per_frame"]
"""

from __future__ import annotations

import platform
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fetaledge.emulate import SETUP_COMMAND, arm64_home, arm64_python, arm64_site, arm64_sysroot, project_root
from fetaledge.errors import FetaledgeError

#: Emulated CPU models: no dot product vs dot product.
CPUS = ("cortex-a53", "cortex-a76")
CPU_NOTES = {"cortex-a53": "Armv8.0-A, NEON, no dot product (budget tablets)",
             "cortex-a76": "Armv8.2-A, NEON + SDOT/UDOT dot product"}
QEMU_COUNT_BINARY = "qemu-aarch64"
#: Frames of the two runs whose difference is counted.
FRAME_PAIR = (1, 3)
UNIT = "aarch64 instructions per raw frame (instruction counts under qemu-user, NOT time)"
Log = Callable[[str], None]
_INSNS = re.compile(r"insns:\s*(\d+)")


def plugin_path() -> Path:
    """The compiled instruction-count plugin of the setup script."""
    return arm64_home() / "plugin" / "libinsn.so"


def count_missing() -> list[str]:
    """What the instruction counting lacks here (empty when it is ready)."""
    missing = []
    if shutil.which(QEMU_COUNT_BINARY) is None:
        missing.append(f"{QEMU_COUNT_BINARY} (Debian qemu-user) not on PATH")
    if not plugin_path().is_file():
        missing.append(f"no plugin at {plugin_path()}")
    if not arm64_python().is_file():
        missing.append(f"no arm64 python at {arm64_python()}")
    if not (arm64_home() / "COUNT_READY").is_file():
        missing.append(f"setup did not finish (no {arm64_home() / 'COUNT_READY'})")
    return missing


def count_available() -> bool:
    """True when qemu-user, the plugin and the arm64 python of the setup script are all there."""
    return not count_missing()


def qemu_version() -> str:
    out = subprocess.run([QEMU_COUNT_BINARY, "--version"], capture_output=True, text=True, check=False).stdout
    return out.splitlines()[0] if out else "unknown"


def count_instructions(args: Sequence[str], cpu: str, timeout: float = 900.0) -> int:
    """Instructions executed by one run of ``python3.11 *args`` under ``qemu-aarch64 -cpu CPU`` (whole process).

    The environment is fixed (nothing inherited from the host but nothing needed), so two identical calls give
    the same number.
    """
    missing = count_missing()
    if missing:
        raise FetaledgeError("arm64 instruction counting is not set up: " + "; ".join(missing),
                             hint=f"run `{SETUP_COMMAND}`")
    if cpu not in CPUS:
        raise FetaledgeError(f"unknown emulated cpu {cpu!r}", hint=f"use one of {', '.join(CPUS)}")
    env = {"QEMU_LD_PREFIX": str(arm64_sysroot()), "PYTHONPATH": f"{arm64_site()}:{project_root()}",
           "PYTHONNOUSERSITE": "1", "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1", "PATH": "/usr/bin:/bin",
           "LANG": "C.UTF-8", "OMP_NUM_THREADS": "1", "HOME": "/nonexistent"}
    with tempfile.TemporaryDirectory() as d:
        log = Path(d) / "insn.log"
        cmd = [QEMU_COUNT_BINARY, "-cpu", cpu, "-plugin", f"{plugin_path()},inline=on", "-d", "plugin",
               "-D", str(log), str(arm64_python()), *args]
        setarch = shutil.which("setarch")
        if setarch:  # address-space randomisation changes allocator paths by a few hundred instructions
            cmd = [setarch, platform.machine(), "-R", *cmd]
        try:
            proc = subprocess.run(cmd, env=env, cwd="/", capture_output=True, text=True, timeout=timeout,
                                  check=False)
        except subprocess.TimeoutExpired as exc:
            raise FetaledgeError(f"instruction count on {cpu} timed out after {timeout:g} s",
                                 hint="emulation is slow: use fewer frames or a smaller model") from exc
        text = log.read_text() if log.is_file() else ""
    if proc.returncode != 0:
        tail = " | ".join((proc.stderr or proc.stdout).strip().splitlines()[-3:])
        raise FetaledgeError(f"arm64 run under {QEMU_COUNT_BINARY} -cpu {cpu} failed ({proc.returncode}): {tail}")
    found = _INSNS.findall(text + proc.stderr)
    if not found:
        raise FetaledgeError(f"the insn plugin printed no count ({(text + proc.stderr)[-200:]!r})",
                             hint=f"rerun `{SETUP_COMMAND} --force`")
    return int(found[-1])


def per_frame_instructions(model: Path, runtime: str, frames_npy: Path, cpu: str,
                           frames: tuple[int, int] = FRAME_PAIR) -> dict[str, Any]:
    """``per_frame`` instructions of one raw frame through the runtime (1 thread), from two runs of
    ``frames[0]`` and ``frames[1]`` frames; ``runs`` holds both totals, ``startup`` the rest of the first."""
    n1, n2 = frames
    if not 0 < n1 < n2:
        raise FetaledgeError(f"frame pair {frames}: need 0 < N1 < N2")
    if runtime not in ("onnxruntime", "litert"):
        raise FetaledgeError(f"runtime {runtime!r} does not run on the device", hint="use onnxruntime or litert")
    t = time.perf_counter()
    totals = {n: count_instructions(["-m", "fetaledge.bench.count_probe", str(Path(model).resolve()), runtime,
                                     str(Path(frames_npy).resolve()), str(n)], cpu) for n in (n1, n2)}
    per = (totals[n2] - totals[n1]) / (n2 - n1)
    return {"per_frame": round(per), "runs": {str(n): c for n, c in totals.items()},
            "startup": totals[n1] - round(per) * n1, "seconds": round(time.perf_counter() - t, 1)}


@dataclass(frozen=True)
class CountTarget:
    """One artifact to count: a name for the report, its file, runtime and precision."""

    name: str
    path: Path
    runtime: str
    precision: str
    shipped: bool = False


def arm_count_report(targets: Sequence[CountTarget], frames_npy: Path, cpus: Sequence[str] = CPUS,
                     log: Log = print) -> dict[str, Any]:
    """Count every target on every cpu; INT8/fp32 ratios per runtime and against the best fp32 per cpu.

    Example:
        >>> rep = arm_count_report([CountTarget("s-fp32", Path("s.tflite"), "litert", "fp32")],
        ...                        Path("frames.npy"))  # doctest: +SKIP
    """
    if not targets:
        raise FetaledgeError("no artifact to count")
    t0 = time.perf_counter()
    rows = []
    for tg in targets:
        counts = {}
        for cpu in cpus:
            c = per_frame_instructions(tg.path, tg.runtime, frames_npy, cpu)
            counts[cpu] = c
            log(f"[arm-count] {tg.name:38s} {cpu}: {c['per_frame'] / 1e6:8.1f} M instructions/frame "
                f"({c['seconds']:.0f} s)")
        rows.append({"name": tg.name, "path": str(tg.path), "runtime": tg.runtime, "precision": tg.precision,
                     "shipped": tg.shipped, "size_bytes": Path(tg.path).stat().st_size, "counts": counts})
    return {"kind": "fetaledge-arm-count", "unit": UNIT, "qemu": qemu_version(), "plugin": "qemu tests/plugin/insn.c "
            "(inline counter), built by benchmarks/arm64/setup_arm64.sh", "cpus": {c: CPU_NOTES[c] for c in cpus},
            "frames": list(FRAME_PAIR), "frames_file": str(frames_npy), "threads": 1, "rows": rows,
            "ratios": count_ratios(rows, cpus), "seconds": round(time.perf_counter() - t0, 1),
            "how": "per frame = (count of a run of N2 frames - count of a run of N1 frames) / (N2 - N1), "
                   "fetaledge.bench.count_probe through fetaledge.runtime engines (input conversion included), "
                   "1 thread, PYTHONHASHSEED=0, setarch -R"}


#: The issue's goals for the shipped INT8 against the best fp32 artifact, per emulated cpu.
GOALS = {"cortex-a76": 1 / 3, "cortex-a53": 0.6}


def count_ratios(rows: list[dict[str, Any]], cpus: Sequence[str]) -> list[dict[str, Any]]:
    """Per INT8 row and cpu: INT8 / fp32 of the same runtime, and INT8 / the best fp32 row (any runtime)."""
    out = []
    for cpu in cpus:
        fp32 = [r for r in rows if r["precision"] == "fp32"]
        best = min(fp32, key=lambda r: r["counts"][cpu]["per_frame"], default=None)
        for r in rows:
            if r["precision"] != "int8":
                continue
            same = [f for f in fp32 if f["runtime"] == r["runtime"]]
            n = r["counts"][cpu]["per_frame"]
            row = {"cpu": cpu, "int8": r["name"], "runtime": r["runtime"], "shipped": r["shipped"],
                   "fp32_same_runtime": same[0]["name"] if same else None,
                   "int8_over_fp32_same_runtime": n / same[0]["counts"][cpu]["per_frame"] if same else None,
                   "best_fp32": best["name"] if best else None,
                   "int8_over_best_fp32": n / best["counts"][cpu]["per_frame"] if best else None}
            if cpu in GOALS and row["int8_over_best_fp32"] is not None:
                row["goal"] = GOALS[cpu]
                row["goal_met"] = row["int8_over_best_fp32"] <= GOALS[cpu]
            out.append(row)
    return out


def _m(n: float | None) -> str:
    return "-" if n is None else f"{n / 1e6:.1f} M"


def _x(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}x"


def arm_count_markdown(rep: dict[str, Any], title: str = "ARM instruction counts (qemu-user, NOT time)") -> list[str]:
    """The counts table and the ratio table as Markdown lines."""
    cpus = list(rep["cpus"])
    lines = ["", f"## {title}", "", f"Unit: **{rep['unit']}**. {rep['qemu']}; {rep['plugin']}. How: {rep['how']}.",
             "CPU models: " + "; ".join(f"`{c}` {n}" for c, n in rep["cpus"].items()) + ".", "",
             "| artifact | runtime | precision | MB | " + " | ".join(f"{c} instr/frame" for c in cpus)
             + " | shipped |", "|---|---|---|---|" + "---|" * len(cpus) + "---|"]
    for r in rep["rows"]:
        lines.append(f"| {r['name']} | {r['runtime']} | {r['precision']} | {r['size_bytes'] / 1e6:.2f} | "
                     + " | ".join(_m(r["counts"][c]["per_frame"]) for c in cpus)
                     + f" | {'yes' if r['shipped'] else ''} |")
    if rep["ratios"]:
        lines += ["", "| cpu | INT8 artifact | INT8 / fp32 same runtime | INT8 / best fp32 (which) | goal | met |",
                  "|---|---|---|---|---|---|"]
        for q in rep["ratios"]:
            goal = f"<= {q['goal']:.2f}x" if "goal" in q else "-"
            met = ("yes" if q["goal_met"] else "NO") if "goal_met" in q else "-"
            lines.append(f"| {q['cpu']} | {q['int8']}{' (shipped)' if q['shipped'] else ''} | "
                         f"{_x(q['int8_over_fp32_same_runtime'])} | {_x(q['int8_over_best_fp32'])} "
                         f"({q['best_fp32']}) | {goal} | {met} |")
    return lines


def bench_arm_counts(artifacts: Sequence[dict[str, Any]], frames_npy: Path, out_dir: Path, label: str,
                     log: Log = print) -> dict[str, Any]:
    """``fetaledge bench --arm-count``: count the default student's device artifacts (fp32 ONNX / TFLite and
    every INT8 one) on both cpu models, write ``<label>_arm_count.{json,md}``; return the report for the
    main report."""
    from fetaledge.fsio import atomic_path, write_json

    targets = [CountTarget(a["name"], Path(a["path"]), a["runtime"], a["precision"], bool(a.get("shipped")))
               for a in artifacts if a.get("default_student") and a["runtime"] in ("onnxruntime", "litert")]
    log(f"[arm-count] {len(targets)} artifacts x {len(CPUS)} cpu models under {QEMU_COUNT_BINARY} "
        "(instruction counts, not time)")
    rep = arm_count_report(targets, frames_npy, CPUS, log)
    stem = f"{label}_arm_count"
    write_json(Path(out_dir) / f"{stem}.json", rep)
    with atomic_path(Path(out_dir) / f"{stem}.md") as tmp:
        tmp.write_text("\n".join([f"# fetaledge ARM instruction counts: {label}", *arm_count_markdown(rep)[2:]])
                       + "\n")
    return {**rep, "report": f"{stem}.json"}
