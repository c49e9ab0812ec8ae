"""Side by side in one run: the FetalCLIP-architecture teacher vs the MobileFetalCLIP student architecture
(``fastvit_mci0``) vs our shipped student, on the same frames, plus the shipped student's distance from this
CPU's arithmetic limit.

* :func:`ensure_reference` makes sure a ``fastvit_mci0`` student exists: from the build's sweep, else distilled
  into ``work/reference`` with the default student's settings (or, on request, exported untrained and labelled).
* :func:`fetalclip_full` times the full-size FetalCLIP ViT-L/14 (random weights: architecture only) at 1 thread.
* :func:`cpu_peak` derives the theoretical peak MAC rate of one core from the ISA and the clock, and measures
  the achieved one with large-GEMM microbenchmarks at 1 thread (numpy/OpenBLAS, onnxruntime fp32 and INT8,
  PyTorch), each in a fresh process.
* :func:`side_by_side` assembles the ratios from a results dict of :func:`fetaledge.bench.run.bench_work`.

Heavy measurements run in a fresh process: ``python -m fetaledge.bench.side_by_side MODE SPEC.json OUT.json``.

Example:
    >>> cmp_ = side_by_side(results, Work(Path("work")), Path("bundle"))  # doctest: +SKIP
    >>> cmp_["ratios"]["shipped_f1_over_teacher_f1"]  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from fetaledge.bench.latency import rank_ms
from fetaledge.errors import FetaledgeError

REFERENCE_ARCH = "fastvit_mci0"
GEMM_N = 2048
Log = Callable[[str], None]


# --------------------------------------------------------------------------------------------- subprocesses
def _run_mode(mode: str, spec: dict[str, Any], threads: int = 1, timeout: float = 1800.0) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as d:
        sp, out = Path(d) / "spec.json", Path(d) / "out.json"
        sp.write_text(json.dumps(spec))
        env = {**os.environ, **{k: str(threads) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                                          "MKL_NUM_THREADS")}}
        proc = subprocess.run([sys.executable, "-m", "fetaledge.bench.side_by_side", mode, str(sp), str(out)],
                              capture_output=True, text=True, timeout=timeout, env=env)
        if proc.returncode != 0 or not out.is_file():
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            raise FetaledgeError(f"{mode} measurement failed: {' | '.join(tail)}")
        return json.loads(out.read_text())


def _best_rate(fn: Callable[[], Any], macs: float, runs: int = 5) -> dict[str, float]:
    """GMAC/s of the fastest of ``runs`` calls, by the wall clock and by process CPU time (steadier on a shared
    machine: time the process waited for the core is not counted)."""
    fn()
    wall, cpu = float("inf"), float("inf")
    for _ in range(runs):
        c, t = time.process_time(), time.perf_counter()
        fn()
        wall, cpu = min(wall, time.perf_counter() - t), min(cpu, time.process_time() - c)
    return {"wall": macs / wall / 1e9, "cpu": macs / max(cpu, 1e-9) / 1e9}


def _gemm_worker(spec: dict[str, Any]) -> dict[str, Any]:
    """Achieved GMAC/s of an n x n x n GEMM at 1 thread in each library (best of 5; the peak, not the mean)."""
    n = int(spec["n"])
    macs = float(n) ** 3
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((n, n), np.float32), rng.standard_normal((n, n), np.float32)
    out: dict[str, Any] = {"n": n, "numpy_fp32": _best_rate(lambda: a @ b, macs)}
    try:
        import onnxruntime as ort
        from onnx import TensorProto, helper

        def session(graph_nodes, a_type, b_type, out_type):
            g = helper.make_graph(graph_nodes, "gemm", [helper.make_tensor_value_info("a", a_type, [n, n]),
                                                       helper.make_tensor_value_info("b", b_type, [n, n])],
                                  [helper.make_tensor_value_info("y", out_type, [n, n])])
            model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
            opts = ort.SessionOptions()
            opts.intra_op_num_threads, opts.inter_op_num_threads = 1, 1
            return ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])

        s = session([helper.make_node("MatMul", ["a", "b"], ["y"])], TensorProto.FLOAT, TensorProto.FLOAT,
                    TensorProto.FLOAT)
        out["onnxruntime_fp32"] = _best_rate(lambda: s.run(None, {"a": a, "b": b}), macs)
        qa = rng.integers(0, 255, (n, n), dtype=np.uint8)
        qb = rng.integers(-127, 127, (n, n), dtype=np.int8)
        s8 = session([helper.make_node("MatMulInteger", ["a", "b"], ["y"])], TensorProto.UINT8, TensorProto.INT8,
                     TensorProto.INT32)
        out["onnxruntime_int8_u8s8"] = _best_rate(lambda: s8.run(None, {"a": qa, "b": qb}), macs)
    except ImportError:
        pass
    try:
        import torch

        torch.set_num_threads(1)
        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        out["torch_fp32"] = _best_rate(lambda: ta @ tb, macs)
    except ImportError:
        pass
    return out


def _fetalclip_worker(spec: dict[str, Any]) -> dict[str, Any]:
    """Full-size FetalCLIP ViT-L/14 (random weights) + head, raw frame -> logit in PyTorch at 1 thread."""
    import torch

    from fetaledge.bench.worker import peak_rss_mb
    from fetaledge.models.fetalclip import FETALCLIP_NAME, build_classifier
    from fetaledge.models.preprocess import RawFrameModel
    from fetaledge.preprocess import FrameGeometry

    torch.set_num_threads(1)
    frames = np.load(spec["frames"])[: int(spec["n"]) + 1]
    t = time.perf_counter()
    net = build_classifier(FETALCLIP_NAME, seed=0).eval()
    h, w = frames.shape[1:]
    model = RawFrameModel(FrameGeometry(h, w, (224,)), net, "clip").eval()
    build_s = time.perf_counter() - t
    macs = count_macs(net, 224)
    times, cpu = [], []
    with torch.inference_mode():
        for i, f in enumerate(frames):
            c, t = time.process_time(), time.perf_counter()
            model(torch.from_numpy(f[None]))
            if i:  # the first frame is the warm-up
                times.append((time.perf_counter() - t) * 1e3)
                cpu.append((time.process_time() - c) * 1e3)
    params = sum(p.numel() for p in net.parameters())
    return {"per_frame_ms": times, "cpu_ms": cpu, "build_s": build_s, "macs": macs, "params": params,
            "peak_rss_mb": peak_rss_mb()}


def count_macs(net: Any, size: int) -> int:
    """Multiply-accumulates of one (1, 3, size, size) forward (``FlopCounterMode`` FLOPs / 2).

    nn.MultiheadAttention's inference fast path (``_native_multi_head_attention``) is invisible to
    FlopCounterMode (its in/out projections would go uncounted: a ViT-L/14 would read 52 instead of 81
    GMACs), so it is switched off while counting.
    """
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    fast = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        counter = FlopCounterMode(display=False)
        with torch.no_grad(), counter:
            net.eval()(torch.zeros(1, 3, size, size))
    finally:
        torch.backends.mha.set_fastpath_enabled(fast)
    return int(counter.get_total_flops() // 2)


# --------------------------------------------------------------------------------------------- public measures
def fetalclip_full(frames_npy: Path, n: int = 3, log: Log = print) -> dict[str, Any]:
    """Per-frame latency of the full-size FetalCLIP ViT-L/14 classifier at 1 thread on ``n`` raw frames
    (after one warm-up), random weights: an ARCHITECTURE-ONLY measurement (no F1).

    Example:
        >>> fetalclip_full(Path("frames.npy"), 3)["latency_ms"]  # doctest: +SKIP
    """
    log(f"[bench] full-size FetalCLIP ViT-L/14 (random weights) at 1 thread on {n} frames (about 5 s each)")
    r = _run_mode("fetalclip", {"frames": str(frames_npy), "n": n}, threads=1)
    ms = r["per_frame_ms"]
    return {"label": "FetalCLIP ViT-L/14 architecture, RANDOM weights (architecture-only latency; no F1)",
            "runtime": "torch", "precision": "fp32", "threads": 1, "frames": len(ms),
            "latency_ms": float(np.median(ms)), "spread_ms": [float(min(ms)), float(max(ms))],
            "cpu_latency_ms": float(np.median(r["cpu_ms"])),
            "per_frame_ms": ms, "gmacs": r["macs"] / 1e9, "params_m": r["params"] / 1e6,
            "build_s": r["build_s"], "peak_rss_mb": r["peak_rss_mb"]}


def _clock_ghz() -> tuple[float | None, str]:
    try:
        mhz = [float(line.split(":")[1]) for line in Path("/proc/cpuinfo").read_text().splitlines()
               if line.startswith("cpu MHz")]
        if mhz:
            return max(mhz) / 1e3, "max 'cpu MHz' of /proc/cpuinfo (nominal/TSC clock in a VM; turbo may be higher)"
    except OSError:
        pass
    return None, "clock unknown"


def theoretical_peak(host: dict[str, Any], clock_ghz: float | None = None) -> dict[str, Any]:
    """Theoretical fp32 and INT8 MACs per cycle of one core from the ISA flags and vendor, with its derivation.

    Assumes two FMA pipes per core (true for Intel Haswell+ big cores and Xeon Gold/Platinum, AMD Zen 1-4,
    Arm Cortex-A76-class); Xeon Silver/Bronze and some client parts have one 512-bit FMA: half the figure.

    Example:
        >>> zen1 = {"isa": ["avx", "avx2", "fma"], "vendor": "AuthenticAMD", "family": 23}
        >>> p = theoretical_peak(zen1, clock_ghz=3.0)
        >>> p["fp32_macs_per_cycle"], p["fp32_gmacs"]
        (8, 24.0)
    """
    isa, vendor = set(host.get("isa", [])), host.get("vendor", "")
    ghz, clock_src = (clock_ghz, "given") if clock_ghz else _clock_ghz()
    amd_zen1 = vendor == "AuthenticAMD" and host.get("family") == 23  # Zen 1 / Zen+ (family 17h)
    if "avx512f" in isa:
        fp32, how = 2 * 16, "AVX-512: 2 FMA pipes x 16 fp32 lanes (512-bit) = 32 MAC/cycle"
    elif "fma" in isa and amd_zen1:
        fp32, how = 2 * 4, ("Zen 1 AVX2: 2 FMA pipes x 128-bit datapath (4 fp32 lanes; a 256-bit FMA is split "
                            "into two 128-bit ops) = 8 MAC/cycle")
    elif "fma" in isa:
        fp32, how = 2 * 8, "AVX2: 2 FMA pipes x 8 fp32 lanes (256-bit) = 16 MAC/cycle"
    elif "asimd" in isa or host.get("machine") == "aarch64":
        fp32, how = 2 * 4, "NEON: 2 FMA pipes x 4 fp32 lanes (128-bit) = 8 MAC/cycle (Cortex-A76 class)"
    else:
        fp32, how = 4, "no FMA flags seen: 4 MAC/cycle assumed (SSE)"
    if "amx_int8" in isa:
        i8, how8 = 1024, "AMX-INT8: TDPBUSD 16x16 tile of 64-deep dot products every 16 cycles = 1024 MAC/cycle"
    elif "avx512_vnni" in isa:
        i8, how8 = 2 * 64, "AVX-512 VNNI: VPDPBUSD, 64 u8*s8 MACs per 512-bit op x 2 pipes = 128 MAC/cycle"
    elif "i8mm" in isa:
        i8, how8 = 2 * 32, "Armv8.6 I8MM: SMMLA, 32 s8 MACs per 128-bit op x 2 pipes = 64 MAC/cycle"
    elif "asimddp" in isa:
        i8, how8 = 2 * 16, "Armv8.2 dot product: SDOT, 16 s8 MACs per 128-bit op x 2 pipes = 32 MAC/cycle"
    elif "avx2" in isa:
        lanes = 16 if amd_zen1 else 32
        i8 = round(2 * lanes / 3)
        how8 = (f"AVX2 without VNNI: VPMADDUBSW+VPMADDWD+VPADDD = 3 ops per {lanes} u8*s8 MACs "
                f"({'128' if amd_zen1 else '256'}-bit) on 2 pipes = about {i8} MAC/cycle")
    else:
        i8, how8 = 4 * fp32, "assumed 4x the fp32 rate (int8 dot-product instructions)"
    out: dict[str, Any] = {"fp32_macs_per_cycle": fp32, "fp32_derivation": how, "int8_macs_per_cycle": i8,
                           "int8_derivation": how8, "clock_ghz": ghz, "clock_source": clock_src,
                           "assumption": "2 FMA pipes per core; the clock is the nominal one (turbo may be higher)"}
    if ghz:
        out["fp32_gmacs"] = fp32 * ghz
        out["int8_gmacs"] = i8 * ghz
    return out


def cpu_peak(host: dict[str, Any], log: Log = print) -> dict[str, Any]:
    """Theoretical (derived) and measured (large GEMM at 1 thread, best of 5) peak MAC rates of one core.

    Example:
        >>> cpu_peak(host_info())["measured_gmacs"]["onnxruntime_fp32"]  # doctest: +SKIP
    """
    log(f"[bench] GEMM microbenchmarks ({GEMM_N}^3) at 1 thread")
    measured = _run_mode("gemm", {"n": GEMM_N}, threads=1)
    return {"theoretical": theoretical_peak(host), "measured_gmacs": {k: v for k, v in measured.items() if k != "n"},
            "measured_how": f"{GEMM_N}x{GEMM_N}x{GEMM_N} GEMM, 1 thread, best of 5 runs after a warm-up, "
                            "each library in a fresh process"}


# --------------------------------------------------------------------------------------------- reference student
def ensure_reference(work: Any, *, untrained: bool = False, log: Log = print) -> list[str]:
    """Make sure a ``fastvit_mci0`` student exists for the comparison; returns notes for the report.

    Order: the build's sweep (``work/student/fastvit_mci0``); an up-to-date ``work/reference/fastvit_mci0``
    (same teacher); else distil it there with the default student's resolution and settings, or with
    ``untrained`` save a randomly initialised one (threshold 0.5), named UNTRAINED in every report.
    """
    from fetaledge.models.checkpoint import read_config

    if (work.distill / REFERENCE_ARCH / "config.json").is_file():
        return [f"{REFERENCE_ARCH}: distilled by the build's student sweep ({work.distill / REFERENCE_ARCH})"]
    default = read_config(work.student)
    folder = work.root / "reference" / REFERENCE_ARCH
    teacher_sha = (default.get("teacher") or {}).get("sha256")
    if (folder / "config.json").is_file():
        cfg = read_config(folder)
        fresh = (cfg.get("teacher") or {}).get("sha256") == teacher_sha or cfg.get("untrained")
        if fresh and (untrained or not cfg.get("untrained")):
            return [_reference_note(cfg, folder)]
    if untrained:
        _save_untrained(folder, default, log)
    else:
        _distill_reference(work, default, log)
    return [_reference_note(read_config(folder), folder)]


def _reference_note(cfg: dict[str, Any], folder: Path) -> str:
    if cfg.get("untrained"):
        return (f"{REFERENCE_ARCH}: UNTRAINED (random init, threshold 0.5) in {folder}: its latency is the "
                "architecture's, its F1 means nothing")
    return (f"{REFERENCE_ARCH}: not in the build's sweep; distilled by `fetaledge bench` into {folder} with the "
            "default student's resolution and settings")


def _distill_reference(work: Any, default: dict[str, Any], log: Log) -> None:
    from fetaledge.train.distill import DistillConfig, distill
    from fetaledge.train.distill_loss import KDConfig
    from fetaledge.train.distill_train import DistillSettings

    d = dict(default.get("distill") or {})
    kd = KDConfig(**d.pop("kd", {}))
    settings = DistillSettings(**{k: v for k, v in d.items() if k in DistillSettings.__dataclass_fields__}, kd=kd)
    log(f"[bench] distilling the reference {REFERENCE_ARCH} into {work.root / 'reference'} "
        f"({settings.epochs} epochs at {default['input_size']} px, as the default student)")
    distill(DistillConfig(teacher=work.teacher_merged, data=work.cache, out=work.root / "reference",
                          students=(REFERENCE_ARCH,), resolution=int(default["input_size"]), settings=settings,
                          latency_runs=10), log=log)


def _save_untrained(folder: Path, default: dict[str, Any], log: Log) -> None:
    import torch

    from fetaledge.models.checkpoint import save_model
    from fetaledge.models.students import STUDENT_NORM, create_student

    log(f"[bench] saving an UNTRAINED {REFERENCE_ARCH} (random init) -> {folder}")
    torch.manual_seed(0)
    net = create_student(REFERENCE_ARCH, init="random")
    net.init_head(0.5)
    net = net.eval().reparameterized().eval()
    save_model(folder, net.state_dict(), {
        "kind": "student", "arch": REFERENCE_ARCH, "input_size": int(default["input_size"]),
        "cache_size": int(default.get("cache_size", 224)), "norm": STUDENT_NORM, "threshold": 0.5,
        "reparameterized": True, "init": "random", "untrained": True,
        "teacher": default.get("teacher")})


# --------------------------------------------------------------------------------------------- the comparison
def _pick(arts: list[dict[str, Any]], pred: Callable[[dict[str, Any]], bool]) -> dict[str, Any] | None:
    cands = [a for a in arts if pred(a) and "1" in a.get("latency", {})]
    return min(cands, key=lambda a: rank_ms(a["latency"], "1")) if cands else None


def _row(a: dict[str, Any] | None, **extra: Any) -> dict[str, Any] | None:
    if a is None:
        return None
    lat = a["latency"]
    out = {"name": a["name"], "runtime": a["runtime"], "precision": a["precision"],
           "latency_ms_1thread": lat["1"]["latency_ms"], "spread_ms_1thread": lat["1"]["spread_ms"],
           "cpu_ms_1thread": lat["1"].get("cpu_latency_ms"),
           "f1": a.get("quality", {}).get("f1"), "wfss": a.get("quality", {}).get("wfss"),
           "size_mb": a["size_bytes"] / 1e6}
    many = [k for k in lat if k != "1"]
    if many:
        k = max(many, key=int)
        out[f"latency_ms_{k}threads"] = lat[k]["latency_ms"]
    return {**out, **extra}


def _ratio(num: float | None, den: float | None) -> float | None:
    return None if num is None or den in (None, 0) else float(num) / float(den)


def side_by_side(results: dict[str, Any], work: Any, bundle: Path | None, log: Log = print) -> dict[str, Any]:
    """Teacher vs ``fastvit_mci0`` (fp32, onnxruntime) vs the shipped student, as speed and F1 ratios on the
    same frames, and the shipped student's MACs against the measured and theoretical peak of one core.

    The shipped student is the fastest (1 thread) of the bundle's models; without a bundle the fastest artifact
    of the default student whose F1 is within 0.01 of its fp32 PyTorch parent (what a build would ship).
    """
    from fetaledge.models.checkpoint import load_model, read_config

    arts = results["artifacts"]
    teacher = _pick(arts, lambda a: a["name"] == "teacher-fp32-torch")
    reference = _pick(arts, lambda a: a.get("arch") == REFERENCE_ARCH and a["runtime"] == "onnxruntime"
                      and a["precision"] == "fp32")
    if bundle is not None and any(a.get("shipped") for a in arts):
        shipped = _pick(arts, lambda a: bool(a.get("shipped")))
        how = f"fastest at 1 thread (CPU time per frame) of the models of {bundle}"
    else:
        fp32 = next((a for a in arts if a.get("default_student") and a["runtime"] == "torch"), None)
        floor = (fp32 or {}).get("quality", {}).get("f1", 0.0) - 0.01
        shipped = _pick(arts, lambda a: bool(a.get("default_student")) and a["runtime"] != "torch"
                        and (a.get("quality", {}).get("f1") or 0.0) >= floor)
        how = "no bundle: fastest artifact of the default student within 0.01 F1 of its fp32 parent"
    if teacher is None or shipped is None:
        return {"error": "teacher or shipped student not measured at 1 thread"}
    net, cfg = load_model(work.student)
    net_macs = count_macs(net.eval(), int(cfg["input_size"]))
    graph = work.export / "student.onnx"
    if graph.is_file():  # every MAC of the shipped graph: the folded resample too, not the network alone
        from fetaledge.bench.graph_macs import graph_macs

        macs = graph_macs(graph)["total"]
        counted = (f"every Conv/MatMul/Gemm MAC of the exported raw-frame graph {graph.name} (onnx shape inference): "
                   f"the {cfg['arch']} network at {cfg['input_size']} px ({net_macs / 1e6:.0f} M) plus the folded "
                   f"preprocessing (the resampling MatMuls, {(macs - net_macs) / 1e6:.0f} M)")
    else:
        macs = net_macs
        counted = (f"FlopCounterMode FLOPs / 2 of the {cfg['arch']} network on (1, 3, {cfg['input_size']}, "
                   f"{cfg['input_size']}); no exported graph, so the folded preprocessing is not counted")
    t_net, t_cfg = load_model(work.teacher_merged)
    t_macs = count_macs(t_net.eval(), int(t_cfg["input_size"]))
    ref_cfg = None
    if reference is not None:
        ref_dir = Path(next(a["path"] for a in arts if a.get("arch") == REFERENCE_ARCH and a["runtime"] == "torch"))
        r_net, ref_cfg = load_model(ref_dir)
        ref_macs = count_macs(r_net.eval(), int(ref_cfg["input_size"]))
    full = results.get("fetalclip_full")
    peak = cpu_peak(results["host"], log=log)
    s_ms, t_ms = shipped["latency"]["1"]["latency_ms"], teacher["latency"]["1"]["latency_ms"]
    r_ms = reference["latency"]["1"]["latency_ms"] if reference else None
    f1 = {k: (a or {}).get("quality", {}).get("f1") for k, a in
          (("teacher", teacher), ("reference", reference), ("shipped", shipped))}
    ratios = {
        "teacher_over_shipped_latency_1thread": _ratio(t_ms, s_ms),
        "teacher_over_reference_latency_1thread": _ratio(t_ms, r_ms),
        "reference_over_shipped_latency_1thread": _ratio(r_ms, s_ms),
        "shipped_f1_over_teacher_f1": _ratio(f1["shipped"], f1["teacher"]),
        "reference_f1_over_teacher_f1": _ratio(f1["reference"], f1["teacher"]),
        "shipped_f1_over_reference_f1": _ratio(f1["shipped"], f1["reference"]),
    }
    if full:
        ratios["fetalclip_full_over_shipped_latency_1thread"] = _ratio(full["latency_ms"], s_ms)
        ratios["fetalclip_full_over_reference_latency_1thread"] = _ratio(full["latency_ms"], r_ms)
        ratios["fetalclip_full_over_shipped_cpu_time_1thread"] = _ratio(
            full.get("cpu_latency_ms"), shipped["latency"]["1"].get("cpu_latency_ms"))
    prec = shipped["precision"]
    th = peak["theoretical"]
    meas = peak["measured_gmacs"]
    kind = "int8" if prec == "int8" else "fp32"
    libs = {k: v for k, v in meas.items() if kind in k}
    best_lib = max(libs, key=lambda k: libs[k]["cpu"]) if libs else None
    best_meas = libs[best_lib]["cpu"] if best_lib else None
    s_cpu = shipped["latency"]["1"].get("cpu_latency_ms")
    achieved = macs / (s_ms / 1e3) / 1e9
    achieved_cpu = macs / (s_cpu / 1e3) / 1e9 if s_cpu else None
    theo = th.get(f"{kind}_gmacs")
    limit = {
        "shipped": shipped["name"], "precision": prec, "student_macs": macs, "student_gmacs": macs / 1e9,
        "network_macs": net_macs, "macs_counted": counted,
        "achieved_gmacs_wall": achieved, "achieved_gmacs_cpu": achieved_cpu,
        "theoretical_peak_gmacs_1core": theo,
        "measured_peak_gmacs_1core": best_meas, "measured_peak_library": best_lib,
        "fraction_of_theoretical": _ratio(achieved_cpu or achieved, theo),
        "fraction_of_measured": _ratio(achieved_cpu or achieved, best_meas),
        "floor_ms_theoretical": _ratio(macs / 1e6, theo), "floor_ms_measured": _ratio(macs / 1e6, best_meas),
        "how": "achieved = student MACs / its 1-thread latency (CPU time per frame, the wall clock beside it); "
               f"peaks for {kind}; the floor is the time the MACs alone would take at that peak",
        "cpu_peak": peak,
    }
    cpu = {k: (a or {}).get("latency", {}).get("1", {}).get("cpu_latency_ms") for k, a in
           (("teacher", teacher), ("reference", reference), ("shipped", shipped))}
    ratios["teacher_over_shipped_cpu_time_1thread"] = _ratio(cpu["teacher"], cpu["shipped"])
    ratios["reference_over_shipped_cpu_time_1thread"] = _ratio(cpu["reference"], cpu["shipped"])
    return {
        "frames": f"latency on the same {results['config'].get('bench_frames')} raw {results['config']['split']} "
                  "frames (raw uint8 -> logit, preprocessing included), F1 on the same split's frames",
        "shipped_chosen_by": how,
        "teacher": _row(teacher, gmacs=t_macs / 1e9, arch=t_cfg.get("arch"),
                        note="the build's teacher (the tiny stand-in unless the build had --weights)"),
        "fetalclip_full": None if not full else {k: full[k] for k in ("label", "latency_ms", "spread_ms",
                                                                      "cpu_latency_ms", "gmacs", "params_m",
                                                                      "peak_rss_mb")},
        "reference": _row(reference, gmacs=ref_macs / 1e9 if reference else None,
                          untrained=bool((ref_cfg or {}).get("untrained"))),
        "shipped": _row(shipped, gmacs=macs / 1e9, arch=read_config(work.student).get("arch")),
        "ratios": ratios,
        "arithmetic_limit": limit,
    }


def main(argv: list[str]) -> int:
    mode, spec = argv[0], json.loads(Path(argv[1]).read_text())
    fn = {"gemm": _gemm_worker, "fetalclip": _fetalclip_worker}[mode]
    Path(argv[2]).write_text(json.dumps(fn(spec)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
