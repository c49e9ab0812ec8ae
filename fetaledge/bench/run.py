"""``fetaledge bench``: every artifact of a build, per runtime, at 1 thread and all cores, into one report.

Three entry points:

* :func:`bench_work` benchmarks a build's work folder (what ``fetaledge build`` leaves): the teacher with its
  LoRA adapters and the merged teacher in PyTorch, every distilled student in PyTorch / onnxruntime / LiteRT
  (fp32), every INT8 artifact of ``work/quant/<target>/quantize.json`` (shipped or not), and the
  MobileFetalCLIP-architecture reference student ``fastvit_mci0``; it scores them all on the test split, adds
  the side-by-side comparison (:mod:`fetaledge.bench.side_by_side`), the peak memory of the runtime over a full
  840-frame case (with ``bundle``), and with ``emulate`` the arm64 (qemu) parity report.
* :func:`bench_device` times a bundle's models with the torch-free runtime only: what runs ON a device
  (``pip install fetaledge ai-edge-litert``; ``fetaledge bench --bundle DIR --device-only``).
* :func:`write_reports` writes ``<label>.json`` (schema: ``benchmarks/README.md``), ``<label>.md`` and the PNGs.

Every latency is the median of ``repeats`` runs of ``iters`` frames in a fresh process per (artifact, threads)
(:mod:`fetaledge.bench.latency`); the report shows the spread (min..max of the repeat medians).

Example:
    >>> results = bench_work(Path("work"), Path("benchmarks/results"), target="arm64",
    ...                      bundle=Path("bundle"), label="phantom")  # doctest: +SKIP
    >>> results["comparison"]["ratios"]["teacher_over_shipped_latency_1thread"]  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fetaledge.bench.artifacts import BenchArtifact
from fetaledge.bench.latency import rank_ms
from fetaledge.errors import FetaledgeError
from fetaledge.fsio import ensure_writable_dir, read_json, sha256_file, write_json
from fetaledge.versions import RUNTIME, package_versions

SCHEMA_VERSION = 1
ARM_TARGETS = ("arm64", "android-arm64")
BACKEND_RUNTIME = {"nncf": "onnxruntime", "onnxruntime": "onnxruntime", "litert": "litert"}
N_BENCH_FRAMES = 16
#: The issue's bound on the runtime's peak resident memory over a whole case (fp32 and INT8).
CASE_RSS_LIMIT_MB = 150.0
Log = Callable[[str], None]


@dataclass
class Entry:
    """One artifact to benchmark, with the decision threshold it is scored at and report-only facts."""

    artifact: BenchArtifact
    threshold: float
    extra: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------- host facts
def host_info(emulated: bool = False) -> dict[str, Any]:
    """CPU model, vendor, ISA flags that matter for inference, cores, load average, runtime versions."""
    cpu, vendor, family, flags = platform.processor() or "unknown", "", None, set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, val = line.partition(":")
            key, val = key.strip(), val.strip()
            if key == "model name" and cpu in ("unknown", "", platform.machine()):
                cpu = val
            elif key == "vendor_id" and not vendor:
                vendor = val
            elif key == "cpu family" and family is None and val.isdigit():
                family = int(val)
            elif key in ("flags", "Features") and not flags:
                flags = set(val.split())
    except OSError:
        pass
    interesting = ("avx", "avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8", "amx_bf16",
                   "asimd", "asimddp", "i8mm", "sve")
    versions = package_versions((*RUNTIME, "torch"), missing=None)
    return {
        "machine": platform.machine(), "cpu": cpu, "vendor": vendor, "family": family, "cores": os.cpu_count() or 1,
        "isa": sorted(f for f in interesting if f in flags), "python": platform.python_version(),
        "os": platform.platform(), "loadavg_start": _loadavg(), "emulated": emulated, "versions": versions,
    }


def _loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


# --------------------------------------------------------------------------------------------- discovery
def _student_dirs(work) -> list[Path]:
    """Per-student model folders of the distill stage (not the default_student copy)."""
    root = work.distill
    if not root.is_dir():
        return []
    out = []
    for d in sorted(root.iterdir()):
        if (d.name != "default_student" and (d / "config.json").is_file() and (d / "model.pt").is_file()
                and json.loads((d / "config.json").read_text()).get("kind") == "student"):
            out.append(d)
    return out


def _export_student(model_dir: Path, dest: Path, raw_hw: tuple[int, int], source: Path | None, log: Log
                    ) -> dict[str, Path]:
    """fp32 ONNX (+ TFLite where the litert extra is installed) of a student that the build did not export,
    cached in ``dest`` until its model.pt changes."""
    from fetaledge.export.pipeline import export_model

    name = model_dir.name
    stamp = dest / "source.json"
    sig = {"model": str((model_dir / "model.pt").resolve()), "mtime": (model_dir / "model.pt").stat().st_mtime}
    files = {"onnx": dest / f"{name}.onnx", "tflite": dest / f"{name}.tflite"}
    if stamp.is_file() and json.loads(stamp.read_text()) == sig and files["onnx"].is_file():
        return {k: v for k, v in files.items() if v.is_file()}
    log(f"[bench] exporting {name} (not exported by the build) -> {dest}")
    try:
        res = export_model(model_dir, dest, raw_hw=raw_hw, name=name, source=source)
    except FetaledgeError as exc:
        log(f"[bench] {name}: ONNX+TFLite export failed ({exc}); trying ONNX alone")
        res = export_model(model_dir, dest, raw_hw=raw_hw, name=name, source=source, formats=("onnx",))
    write_json(stamp, sig)
    return dict(res.files)


def discover(work_dir: Path, target: str, *, bundle: Path | None = None, log: Log = print) -> list[Entry]:
    """Every artifact of a build's work folder (see the module docstring), with thresholds and parents.

    Example:
        >>> [e.artifact.name for e in discover(Path("work"), "arm64")][:2]  # doctest: +SKIP
        ['teacher-lora-fp32-torch', 'teacher-fp32-torch']
    """
    from fetaledge.data.cache import FrameCache
    from fetaledge.models.checkpoint import read_config
    from fetaledge.work import Work

    work = Work(work_dir)
    for what, p in (("teacher run", work.teacher_run / "run.json"), ("merged teacher", work.teacher_merged),
                    ("default student", work.student), ("fp32 export", work.export / "student.onnx")):
        if not p.exists():
            raise FetaledgeError(f"{work.root} is not a complete build: its {what} ({p}) is missing",
                                 hint=f"run `fetaledge build --target {target} --work {work.root} --out BUNDLE` first")
    cache = FrameCache(work.cache)
    raw_hw = (int(cache.manifest["raw_height"]), int(cache.manifest["raw_width"]))
    source = Path(cache.manifest["source"])
    shipped = _bundle_shas(bundle)
    entries: list[Entry] = []

    run = read_json(work.teacher_run / "run.json", "teacher run summary")
    lora = Path(run["selected"]["model"])
    if not lora.is_absolute() and not lora.exists():
        lora = work.teacher_run / lora
    merged_cfg = read_config(work.teacher_merged)
    t_thr = float(merged_cfg["threshold"])
    entries.append(Entry(BenchArtifact("teacher-lora-fp32-torch", "teacher-lora", "torch", "fp32", str(lora)),
                         float(read_config(lora)["threshold"]), {"arch": merged_cfg.get("arch"), "kind": "lora"}))
    entries.append(Entry(BenchArtifact("teacher-fp32-torch", "teacher", "torch", "fp32", str(work.teacher_merged),
                                       parent="teacher-lora-fp32-torch"), t_thr, {"arch": merged_cfg.get("arch")}))

    default_cfg = read_config(work.student)
    default_arch = default_cfg["arch"]
    dirs = {d.name: d for d in _student_dirs(work)}
    dirs.setdefault(default_arch, work.student)
    ref = work.root / "reference" / "fastvit_mci0"
    if "fastvit_mci0" not in dirs and (ref / "config.json").is_file():
        dirs["fastvit_mci0"] = ref
    for arch, d in dirs.items():
        cfg = read_config(d)
        untrained = bool(cfg.get("untrained"))
        stem = f"{arch}-UNTRAINED" if untrained else arch
        role = "reference" if arch == "fastvit_mci0" else "student"
        extra = {"arch": arch, "default_student": arch == default_arch, "untrained": untrained,
                 "input_size": cfg.get("input_size")}
        thr = float(cfg["threshold"])
        torch_name = f"{stem}-fp32-torch"
        entries.append(Entry(BenchArtifact(torch_name, role, "torch", "fp32", str(d), parent="teacher-fp32-torch"),
                             thr, dict(extra)))
        if arch == default_arch:
            files = {"onnx": work.export / "student.onnx", "tflite": work.export / "student.tflite"}
        else:
            files = _export_student(d, work.root / "bench" / "export" / arch, raw_hw, source, log)
        for fmt, runtime in (("onnx", "onnxruntime"), ("tflite", "litert")):
            if Path(files.get(fmt, "")).is_file():
                entries.append(Entry(BenchArtifact(f"{stem}-fp32-{runtime}", role, runtime, "fp32", str(files[fmt]),
                                                   parent=torch_name), thr, dict(extra)))

    qfile = work.quant(target) / "quantize.json"
    if qfile.is_file():
        quant = read_json(qfile, "quantize summary")
        for backend, e in quant.get("backends", {}).items():
            path = e.get("artifact") or e.get("candidate")
            if not path or not Path(path).is_file():
                continue
            runtime = BACKEND_RUNTIME.get(backend, "onnxruntime")
            gate = {k: e.get(k) for k in ("passed", "f1_fp32", "f1_int8", "agreement", "reasons")}
            entries.append(Entry(BenchArtifact(f"{default_arch}-int8-{backend}", "student", runtime, "int8", path,
                                               parent=f"{default_arch}-fp32-{runtime}", backend=backend),
                                 float(default_cfg["threshold"]),
                                 {"arch": default_arch, "default_student": True, "gate": gate}))
    else:
        log(f"[bench] no {qfile}: no INT8 artifacts for target {target}")
    for e in entries:
        p = Path(e.artifact.path)
        e.extra["shipped"] = p.is_file() and sha256_file(p) in shipped
    return entries


def _bundle_shas(bundle: Path | None) -> dict[str, str]:
    if bundle is None:
        return {}
    spec = read_json(Path(bundle) / "iqa_spec.json", "bundle spec")
    return {m["sha256"]: m["name"] for m in spec.get("models", [])}


# --------------------------------------------------------------------------------------------- frames
def bench_frames(cache, split: str, n: int = N_BENCH_FRAMES) -> tuple[np.ndarray, list[str]]:
    """``n`` raw frames of ``split`` for timing: spread over the split's kept sweeps, positives included."""
    from fetaledge.data.raw import iter_raw_sweeps

    sweeps = list(iter_raw_sweeps(cache, split))
    if not sweeps:
        raise FetaledgeError(f"cache {cache.root}: split {split!r} holds no frames", hint="use --split test|val")
    frames, sources = [], []
    per = max(1, -(-n // len(sweeps)))
    for sw in sweeps:
        pos = np.flatnonzero(sw.labels > 0)
        picks = list(np.linspace(0, len(sw.labels) - 1, per).astype(int))
        if pos.size:
            picks[len(picks) // 2] = int(pos[len(pos) // 2])
        for i in dict.fromkeys(picks):
            frames.append(sw.frames[i])
            sources.append(f"{sw.case} sweep {sw.sweep + 1} frame {i} label {int(sw.labels[i])}")
    idx = np.linspace(0, len(frames) - 1, min(n, len(frames))).astype(int)
    return np.stack([frames[i] for i in idx]), [sources[i] for i in idx]


# --------------------------------------------------------------------------------------------- measuring
def _latencies(entries: Sequence[Entry], frames_npy: Path, threads: Sequence[int], decision: dict[str, Any],
               raw_hw: tuple[int, int], warmup: int, iters: int, repeats: int, notes: list[str],
               log: Log) -> dict[str, dict[str, Any]]:
    from fetaledge.bench.latency import measure_latency

    out: dict[str, dict[str, Any]] = {}
    for e in entries:
        out[e.artifact.name] = {}
        for t in threads:
            try:
                lat = measure_latency(e.artifact, frames_npy, t, decision, raw_hw=raw_hw, warmup=warmup,
                                      iters=iters, repeats=repeats)
            except (FetaledgeError, OSError, ValueError) as exc:
                notes.append(f"{e.artifact.name} at {t} thread(s): not measured ({exc})")
                log(f"[bench] {e.artifact.name} x{t}: FAILED {exc}")
                continue
            out[e.artifact.name][str(t)] = lat
            log(f"[bench] {e.artifact.name:38s} {t} thr: {lat['latency_ms']:8.2f} ms "
                f"(spread {lat['spread_ms'][0]:.2f}..{lat['spread_ms'][1]:.2f}), peak RSS {lat['peak_rss_mb']:.0f} MB")
    return out


def _qualities(entries: Sequence[Entry], cache, split: str, raw_hw: tuple[int, int], log: Log
               ) -> tuple[dict[str, dict[str, Any]], int]:
    from fetaledge.bench.quality import quality, score_split
    from fetaledge.runtime.decision import decision_params

    log(f"[bench] scoring {len(entries)} artifacts on the {split} split (whole cases)")
    scores = score_split([e.artifact for e in entries], cache, split, raw_hw, threads=1)
    thr = {e.artifact.name: e.threshold for e in entries}
    out = {}
    for e in entries:
        a = e.artifact
        parent = a.parent if a.parent in thr else None
        out[a.name] = quality(scores, a.name, e.threshold, decision_params(e.threshold), parent,
                              thr.get(parent) if parent else None)
    return out, int(scores["kept"].sum())


def case_memory(bundle: Path, case: Path, threads: Sequence[int], log: Log = print) -> dict[str, Any]:
    """Peak resident memory and wall time of ``fetaledge infer`` (the torch-free runtime) over one whole case,
    per model of the bundle and thread count, each in a fresh process.

    Example:
        >>> case_memory(Path("bundle"), Path("case840.mha"), [1])["runs"][0]["peak_rss_mb"]  # doctest: +SKIP
    """
    from fetaledge.bench.latency import run_worker

    spec = read_json(Path(bundle) / "iqa_spec.json", "bundle spec")
    runs = []
    for m in spec["models"]:
        for t in threads:
            r = run_worker({"mode": "case", "bundle": str(bundle), "case": str(case), "model": m["name"],
                            "threads": t})
            runs.append({"model": m["name"], "runtime": m["runtime"], "precision": m["precision"], "threads": t,
                         "frames": r["frames"], "seconds": r["seconds"], "fps": r["frames"] / r["seconds"],
                         "peak_rss_mb": r["peak_rss_mb"], "chosen_frame": r["chosen_frame"]})
            log(f"[bench] case of {r['frames']} frames, {m['name']} x{t}: peak RSS {r['peak_rss_mb']:.0f} MB, "
                f"{r['seconds']:.1f} s")
    stack_mb = case.stat().st_size / 2**20
    return {"case": case.name, "case_file_mb": round(stack_mb, 1), "runs": runs,
            "limit_mb": CASE_RSS_LIMIT_MB,
            "within_limit": all(r["peak_rss_mb"] <= CASE_RSS_LIMIT_MB for r in runs),
            "note": f"fetaledge infer reads the {stack_mb:.0f} MB stack one frame at a time (os.pread of one "
                    "frame, no map of the payload): its peak RSS is the runtime's, whatever the case's length"}


def full_case(work_dir: Path, frames_per_sweep: int = 140, log: Log = print) -> Path:
    """A phantom case of 6 sweeps x ``frames_per_sweep`` (140: the 840 frames of an ACOUSLIC-AI case), rendered
    once into ``work/bench/case<N>`` and reused."""
    from fetaledge.data import layout as L
    from fetaledge.data.phantom import PhantomConfig, write_phantom

    root = Path(work_dir) / "bench" / f"case{6 * frames_per_sweep}"
    found = sorted((root / L.IMAGES_DIR).glob("*.mha")) if root.is_dir() else []
    if not found:
        log(f"[bench] rendering one {6 * frames_per_sweep}-frame phantom case -> {root}")
        write_phantom(root, PhantomConfig(cases=1, seed=7, frames_per_sweep=frames_per_sweep))
        found = sorted((root / L.IMAGES_DIR).glob("*.mha"))
    return found[0]


def _test_case_files(cache, split: str, n: int) -> list[Path]:
    from fetaledge.data import layout as L

    src = Path(cache.manifest["source"])
    return [src / L.IMAGES_DIR / f"{u}.mha" for u in cache.split.cases[split][:n]]


def fastest(artifacts: list[dict[str, Any]], threads: str = "1") -> dict[str, Any] | None:
    """The student artifact ranked fastest at ``threads`` by :func:`rank_ms` (teachers excluded)."""
    cands = [a for a in artifacts if threads in a.get("latency", {}) and a["role"] not in ("teacher", "teacher-lora")]
    if not cands:
        return None
    a = min(cands, key=lambda a: rank_ms(a["latency"], threads))
    lat = a["latency"][threads]
    return {"name": a["name"], "runtime": a["runtime"], "precision": a["precision"], "threads": int(threads),
            "latency_ms": lat["latency_ms"], "cpu_latency_ms": lat.get("cpu_latency_ms"),
            "ranked_by": "CPU time per frame" if threads == "1" else "wall-clock median",
            "f1": a.get("quality", {}).get("f1")}


# --------------------------------------------------------------------------------------------- entry points
def bench_work(work: Path, out_dir: Path, *, target: str, threads: Sequence[int] = (1, os.cpu_count() or 1),
               split: str = "test", warmup: int = 5, iters: int = 20, repeats: int = 5, emulate: bool = False,
               bundle: Path | None = None, label: str = "bench", reference: str = "distill",
               fetalclip_frames: int = 3, case_frames: int = 140, emulate_cases: int = 0,
               emulate_case_frames: int = 10, arm_count: bool = False, log: Log = print) -> dict[str, Any]:
    """Benchmark every artifact of the build in ``work`` and write ``<label>.json/.md/*.png`` into ``out_dir``.

    ``reference``: "distill" (distil fastvit_mci0 into ``work/reference`` when the build's sweep lacks it),
    "untrained" (export an untrained one, labelled UNTRAINED), or "skip". ``fetalclip_frames``: frames timed
    on the full-size FetalCLIP ViT-L/14 with random weights (0 skips). ``case_frames``: frames per sweep of the
    full case for peak memory (140 = 840 frames; 0 skips; needs ``bundle``). ``emulate`` (arm targets, needs
    ``bundle``): the qemu arm64 parity run on the goldens, on ``emulate_cases`` test-split cases and on one
    rendered phantom case of 6 x ``emulate_case_frames`` frames (0 skips it; qemu runs a 160 px student at
    seconds per frame on a busy host, so a full 288- or 840-frame case takes an hour), written as
    ``<label>_arm64_emulated.{json,md,png}``. ``arm_count``: aarch64 instructions per frame of the default
    student's fp32 and INT8 device artifacts under qemu with the insn plugin, on cortex-a53 and cortex-a76
    (:mod:`fetaledge.bench.arm_count`; instruction counts, not time), written as ``<label>_arm_count.{json,md}``.

    Example:
        >>> bench_work(Path("work"), Path("out"), target="arm64", bundle=Path("bundle"), emulate=True)  # doctest: +SKIP
    """
    from fetaledge.data.cache import FrameCache
    from fetaledge.models.checkpoint import read_config
    from fetaledge.runtime.decision import decision_params
    from fetaledge.targets import get_target
    from fetaledge.work import Work

    get_target(target)
    work, out_dir = Path(work), Path(out_dir)
    if not work.is_dir():
        raise FetaledgeError(f"work folder not found: {work}", hint="pass the --work folder of `fetaledge build`")
    if emulate and target not in ARM_TARGETS:
        raise FetaledgeError(f"--emulate runs the arm64 runtime; target {target!r} is not an arm target",
                             hint=f"use --target {' or --target '.join(ARM_TARGETS)}")
    if (emulate or case_frames) and bundle is not None and not (Path(bundle) / "iqa_spec.json").is_file():
        raise FetaledgeError(f"{bundle} is not a bundle (no iqa_spec.json)", hint="pass the --out of fetaledge build")
    if emulate and bundle is None:
        raise FetaledgeError("--emulate needs the bundle it runs", hint="add --bundle BUNDLE_DIR")
    if arm_count:
        from fetaledge.bench.arm_count import count_missing

        if count_missing():
            raise FetaledgeError("--arm-count: instruction counting is not set up: " + "; ".join(count_missing()),
                                 hint="run `bash benchmarks/arm64/setup_arm64.sh`")
    if reference not in ("distill", "untrained", "skip"):
        raise FetaledgeError(f"unknown reference mode {reference!r}", hint="use distill, untrained or skip")
    ensure_writable_dir(out_dir)
    threads = tuple(dict.fromkeys(int(t) for t in threads))
    t0 = time.perf_counter()
    host = host_info()
    notes: list[str] = []
    w = Work(work)
    discover(work, target, bundle=bundle, log=log)  # fail early, before the reference student is trained
    if reference != "skip":
        from fetaledge.bench.side_by_side import ensure_reference

        notes += ensure_reference(w, untrained=reference == "untrained", log=log)
    entries = discover(work, target, bundle=bundle, log=log)
    cache = FrameCache(w.cache)
    raw_hw = (int(cache.manifest["raw_height"]), int(cache.manifest["raw_width"]))
    frames, frame_sources = bench_frames(cache, split)
    frames_npy = ensure_writable_dir(w.root / "bench") / f"frames_{split}.npy"
    np.save(frames_npy, frames)
    decision = decision_params(float(read_config(w.student)["threshold"])).to_dict()

    latency = _latencies(entries, frames_npy, threads, decision, raw_hw, warmup, iters, repeats, notes, log)
    qualities, n_frames = _qualities(entries, cache, split, raw_hw, log)
    artifacts = []
    for e in entries:
        a = e.artifact
        artifacts.append({**a.to_json(), "size_bytes": a.size_bytes, **e.extra, "latency": latency[a.name],
                          "quality": qualities[a.name]})
    results: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION, "kind": "fetaledge-bench", "host": host,
        "config": {"label": label, "target": target, "split": split, "threads": list(threads), "warmup": warmup,
                   "iters": iters, "repeats": repeats, "work": str(work), "bundle": str(bundle) if bundle else None,
                   "frames": n_frames, "cases": len(cache.split.cases[split]), "bench_frames": len(frames),
                   "bench_frame_sources": frame_sources, "phantom": (w.phantom / "circumferences").is_dir(),
                   "raw_hw": list(raw_hw)},
        "artifacts": artifacts,
        "fastest": {str(t): fastest(artifacts, str(t)) for t in threads},
        "notes": notes,
    }
    from fetaledge.bench.side_by_side import fetalclip_full, side_by_side

    if fetalclip_frames > 0:
        results["fetalclip_full"] = fetalclip_full(frames_npy, fetalclip_frames, log=log)
    results["comparison"] = side_by_side(results, w, bundle, log=log)
    if case_frames > 0 and bundle is not None:
        results["case_memory"] = case_memory(Path(bundle), full_case(work, case_frames, log), threads, log)
    elif case_frames > 0:
        notes.append("peak memory over a full case not measured: it runs a bundle (pass --bundle)")
    if emulate:
        cases = _test_case_files(cache, split, emulate_cases)
        if emulate_case_frames > 0:
            cases.append(full_case(work, emulate_case_frames, log))
        results["arm64"] = emulate_report(Path(bundle), cases, out_dir, label, log)
    if arm_count:
        from fetaledge.bench.arm_count import bench_arm_counts

        results["arm_count"] = bench_arm_counts(artifacts, frames_npy, out_dir, label, log)
    if results["config"]["phantom"]:
        notes.append("data: the synthetic phantom; teacher: the tiny UNTRAINED stand-in unless --weights was given "
                     "to the build. F1 values describe the phantom, not ACOUSLIC-AI.")
    host["loadavg_end"] = _loadavg()
    host["seconds"] = round(time.perf_counter() - t0, 1)
    write_reports(results, out_dir, label)
    return results


def emulate_report(bundle: Path, cases: list[Path], out_dir: Path, label: str, log: Log = print) -> dict[str, Any]:
    """Run the arm64 (qemu) parity probe, write ``<label>_arm64_emulated.{json,md,png}``; return a summary."""
    from fetaledge.bench.emulated import compare_arm64
    from fetaledge.bench.report import arm64_markdown, arm64_plot
    from fetaledge.emulate import SETUP_COMMAND, arm64_available
    from fetaledge.fsio import atomic_path

    if not arm64_available():
        raise FetaledgeError("arm64 emulation is not set up here", hint=SETUP_COMMAND)
    log(f"[arm64] probing {bundle} natively and under qemu arm64 on the goldens and {len(cases)} case(s) "
        "(EMULATED: slow)")
    t = time.perf_counter()
    cmp_ = compare_arm64(bundle, cases)
    rows = cmp_["comparisons"]
    golden = {k: v for k, v in rows.items() if k.endswith("/ recorded_sweep")}
    report = {
        "schema_version": SCHEMA_VERSION, "kind": "fetaledge-bench-arm64-emulated",
        "EMULATED": "EMULATED: the arm64 timings below were taken under qemu-user emulation on an x86_64 host; "
                    "they are NOT device timings (benchmarks/README.md: run `fetaledge bench --device-only` on the "
                    "device for those)",
        "host": {**host_info(emulated=True), "machine": f"{cmp_['arm64_machine']} (EMULATED on "
                 f"{platform.machine()})"},
        "config": {"label": f"{label}_arm64_emulated", "bundle": str(bundle), "cases": [c.name for c in cases]},
        "golden_decision_agreement": min((v["frame_decision_agreement"] for v in golden.values()), default=None),
        "golden_verdicts_identical": all(v["verdicts_identical"] for v in golden.values()),
        "max_abs_prob_diff": max((v["max_abs_prob_diff"] for v in rows.values()), default=None),
        "min_frame_decision_agreement": min((v["frame_decision_agreement"] for v in rows.values()), default=None),
        **cmp_, "seconds": round(time.perf_counter() - t, 1),
    }
    stem = f"{label}_arm64_emulated"
    write_json(out_dir / f"{stem}.json", report)
    with atomic_path(out_dir / f"{stem}.md") as tmp:
        tmp.write_text(arm64_markdown(report))
    written = [out_dir / f"{stem}.json", out_dir / f"{stem}.md"]
    with contextlib.suppress(ImportError):  # no matplotlib: JSON and Markdown only
        written.append(arm64_plot(report, out_dir, stem))
    log(f"[arm64] all decisions agree: {report['all_decisions_agree']}; max |p diff| {report['max_abs_prob_diff']}"
        f" -> {', '.join(str(p) for p in written)}")
    return {"report": f"{stem}.json", "label": "EMULATED (qemu-user): timings are not device timings",
            **{k: report[k] for k in ("all_decisions_agree", "goldens_verified_on_arm64", "golden_decision_agreement",
                                      "golden_verdicts_identical", "max_abs_prob_diff",
                                      "min_frame_decision_agreement", "arm64_machine")}}


def bench_device(bundle: Path, out_dir: Path, *, threads: Sequence[int] = (1, os.cpu_count() or 1),
                 warmup: int = 5, iters: int = 20, repeats: int = 5, label: str = "device",
                 case: Path | None = None, log: Log = print) -> dict[str, Any]:
    """Time a bundle's models with the torch-free runtime only (run this ON the device): verify the bundle
    (sha256 + goldens reproduce here), then per model and thread count load time, latency distribution, e2e,
    peak RSS; with ``case`` (.mha) also the peak memory over that whole case.

    Example:
        >>> bench_device(Path("bundle"), Path("out"), label="rpi5")  # doctest: +SKIP
    """
    from fetaledge.runtime.bundle import load_bundle
    from fetaledge.runtime.verify import verify_bundle

    bundle, out_dir = Path(bundle), Path(out_dir)
    if not (bundle / "iqa_spec.json").is_file():
        raise FetaledgeError(f"{bundle} is not a bundle (no iqa_spec.json)", hint="pass the --out of fetaledge build")
    ensure_writable_dir(out_dir)
    t0 = time.perf_counter()
    host = host_info()
    spec = load_bundle(bundle)
    verify = verify_bundle(bundle)
    frames_npy = bundle / "goldens" / "sweep_frames.npy"
    threads = tuple(dict.fromkeys(int(t) for t in threads))
    notes: list[str] = [f"bundle verified on this device: {len(verify['models'])} model(s) reproduce the goldens"]
    entries = [Entry(BenchArtifact(m.name, "student", m.runtime, m.precision, str(bundle / m.file)),
                     spec.decision.threshold, {"shipped": True}) for m in spec.models]
    raw_hw = (spec.input.height, spec.input.width)
    latency = _latencies(entries, frames_npy, threads, spec.decision.to_dict(), raw_hw, warmup, iters, repeats,
                         notes, log)
    artifacts = [{**e.artifact.to_json(), "size_bytes": e.artifact.size_bytes, **e.extra,
                  "latency": latency[e.artifact.name], "quality": {}} for e in entries]
    results: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION, "kind": "fetaledge-bench-device", "host": host,
        "config": {"label": label, "mode": "device-only", "bundle": str(bundle), "split": "bundle goldens",
                   "threads": list(threads), "warmup": warmup, "iters": iters, "repeats": repeats,
                   "bench_frames": int(np.load(frames_npy, mmap_mode="r").shape[0])},
        "artifacts": artifacts, "fastest": {str(t): fastest(artifacts, str(t)) for t in threads},
        "verify": verify, "notes": notes,
    }
    if case is not None:
        results["case_memory"] = case_memory(bundle, Path(case), threads, log)
    host["loadavg_end"] = _loadavg()
    host["seconds"] = round(time.perf_counter() - t0, 1)
    write_reports(results, out_dir, label)
    return results


def write_reports(results: dict[str, Any], out_dir: Path, label: str) -> list[Path]:
    """``<label>.json`` (atomic), ``<label>.md`` and the PNG plots (skipped, with a note, without matplotlib)."""
    from fetaledge.bench.report import markdown, plots
    from fetaledge.fsio import atomic_path

    out_dir = ensure_writable_dir(Path(out_dir))
    written = []
    try:
        written += plots(results, out_dir, label)
    except ImportError:
        results.setdefault("notes", []).append("no PNG plots: matplotlib is not installed (pip install matplotlib)")
    results["files"] = [p.name for p in written] + [f"{label}.md", f"{label}.json"]
    with atomic_path(out_dir / f"{label}.md") as tmp:
        tmp.write_text(markdown(results))
    write_json(out_dir / f"{label}.json", results)
    return [*written, out_dir / f"{label}.md", out_dir / f"{label}.json"]
