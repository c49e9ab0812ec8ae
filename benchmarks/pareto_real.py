"""The Pareto student sweep on the real African fetal planes -> ``benchmarks/results/pareto_real.{json,md,png}``.

    nice -n 10 .venv/bin/python benchmarks/pareto_real.py

Students x starting point x input resolution x width, each distilled from the SAME teacher with the SAME recipe
and seed as the real-data build (``benchmarks/real_african.json``: 20 epochs, batch 16, 1 thread), then exported
(fp32 ONNX, raw 224x224 uint8 frame in) and quantized (ONNX Runtime INT8 with the arm64 target's recipe and
gate). Each point: validation F1, test F1 with a patient-group bootstrap interval (fp32 and INT8), 1-thread CPU ms
per raw frame (fp32 and INT8, a fresh process each), MACs of the whole graph, file sizes. The default is chosen
by :func:`fetaledge.bench.pareto.choose_default` on VALIDATION only. In the same run: the full-size FetalCLIP
ViT-L/14 architecture and the FastViT-MCi0 architecture (MobileFetalCLIP's student) timed on the same frames,
for the two speed ratios.

Inputs (read, never written): ``--real-work`` a finished ``benchmarks/real_data.py`` build (teacher, frame
cache; its ImageNet and phantom-start EfficientNet-Lite0 students at 128 px are reused: same recipe and seed),
``--phantom-work`` a finished default phantom build (teacher and frame cache, for the phantom pretraining of
architectures that have no phantom student yet). Everything new goes to ``--work``; every step is skipped
when its output is already there, so a rerun only redoes what is missing.
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results"


@dataclass(frozen=True)
class Point:
    arch: str
    start: str  # "imagenet" | "phantom"
    resolution: int

    @property
    def name(self) -> str:
        return f"{self.arch}-{self.start}-{self.resolution}"


#: Small on purpose: 2 shared CPU cores. Width: MobileNetV2 1.0 vs 0.5; resolution: 96 / 112 / 128 / 160.
GRID = (
    Point("efficientnet_lite0", "imagenet", 128),  # today's default student
    Point("efficientnet_lite0", "phantom", 128),
    Point("efficientnet_lite0", "phantom", 96),
    Point("efficientnet_lite0", "phantom", 112),
    Point("efficientnet_lite0", "imagenet", 112),
    Point("mobilenetv2_050", "phantom", 96),
    Point("efficientnet_lite0", "imagenet", 96),
    Point("mobilenetv2_050", "phantom", 128),
    Point("mobilenetv2_100", "phantom", 128),
    Point("efficientnet_lite0", "phantom", 160),
)
TODAY = "efficientnet_lite0-imagenet-128"


def log(msg: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {msg}", flush=True)


def copy_once(src: Path, dst: Path) -> Path:
    if not dst.exists():
        if not src.exists():
            from fetaledge.errors import FetaledgeError

            raise FetaledgeError(f"{src} is missing", hint="run benchmarks/real_data.py (and the phantom build) first")
        tmp = dst.with_name(dst.name + ".partial")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(src, tmp, symlinks=True)
        tmp.rename(dst)
    return dst


def phantom_start(arch: str, phantom_work: Path, work: Path) -> Path:
    """A phantom-distilled student of ``arch``: the phantom build's own (EfficientNet-Lite0, ImageNet ->
    phantom), else distilled here from random init with the phantom build's default recipe."""
    from fetaledge.config import load_config
    from fetaledge.models.checkpoint import read_config
    from fetaledge.train.distill import DistillConfig, distill

    own = phantom_work / "student" / "default_student"
    if read_config(own)["arch"] == arch:
        return own
    out = work / "phantom_pre" / arch
    if not (out / arch / "config.json").is_file():
        d = load_config(None).distill
        teacher = copy_once(phantom_work / "teacher" / "merged", work / "phantom_teacher")
        cache = copy_once(phantom_work / "cache", work / "phantom_cache")
        log(f"[pareto] phantom pretraining of {arch} (random init, {d.settings().epochs} epochs at 128 px)")
        distill(DistillConfig(teacher=teacher, data=cache, out=out, students=(arch,), resolution=128, init="random",
                              settings=d.settings(), threads=1, latency_runs=5), log=log)
    return out / arch


def distill_point(p: Point, real_work: Path, phantom_work: Path, work: Path, config) -> Path:
    """The model folder of point ``p`` (reused from the real build where it is the same recipe and seed)."""
    from fetaledge.train.distill import DistillConfig, distill

    reuse = {TODAY: real_work / "student" / "efficientnet_lite0",
             "efficientnet_lite0-phantom-128": real_work / "init" / "phantom_seed0" / "efficientnet_lite0"}
    if p.name in reuse and (reuse[p.name] / "config.json").is_file():
        md = copy_once(reuse[p.name], work / "points" / p.name / p.arch)
        if not (md.parent / "sweep.json").is_file():
            shutil.copy(reuse[p.name].parent / "sweep.json", md.parent / "sweep.json")
        return md
    folder = work / "points" / p.name
    if (folder / p.arch / "config.json").is_file():
        return folder / p.arch
    d = config.distill
    options = {k: v for k, v in d.options().items() if k not in ("students", "init", "student_weights", "resolution")}
    weights = phantom_start(p.arch, phantom_work, work) if p.start == "phantom" else None
    log(f"[pareto] distilling {p.name} ({d.settings().epochs} epochs, seed {d.settings().seed})")
    distill(DistillConfig(teacher=work / "teacher", data=work / "cache", out=folder, students=(p.arch,),
                          resolution=p.resolution, init="imagenet" if p.start == "imagenet" else "auto",
                          student_weights=weights, settings=d.settings(), **{**options, "latency_runs": 5}), log=log)
    return folder / p.arch


def export_and_quantize(p: Point, model_dir: Path, work: Path, config,
                        targets: tuple[str, ...] = ("arm64",)) -> dict[str, Any]:
    """fp32 ONNX of point ``p`` and, per target, its ONNX Runtime INT8 with that target's recipe and gate."""
    from fetaledge.data.cache import FrameCache
    from fetaledge.export.pipeline import export_model
    from fetaledge.quantization import quantize_student
    from fetaledge.targets import get_target

    cache = FrameCache(work / "cache")
    raw_hw = (int(cache.manifest["raw_height"]), int(cache.manifest["raw_width"]))
    exp = work / "points" / p.name / "export"
    onnx = exp / "student.onnx"
    if not onnx.is_file():
        log(f"[pareto] exporting {p.name}")
        export_model(model_dir, exp, raw_hw=raw_hw, name="student", source=Path(cache.manifest["source"]),
                     formats=("onnx",))
    out: dict[str, Any] = {"onnx": onnx}
    for name in targets:
        qdir = work / "points" / p.name / ("quant" if name == "arm64" else f"quant_{name}")
        if not (qdir / "quantize.json").is_file():
            q, target = config.quantize, get_target(name)
            log(f"[pareto] INT8 (onnxruntime, {name} recipe) of {p.name}")
            quantize_student(model_dir=model_dir, fp32_onnx=onnx, cache=cache, out_dir=qdir,
                             backends=("onnxruntime",), recipes=target.recipes, n_calibration=q.calibration_frames,
                             max_drop=q.max_drop, min_agreement=q.min_agreement, raw_hw=raw_hw, max_fallbacks=1,
                             kernels=target.int8_kernels, min_gate_frames=q.min_gate_frames,
                             agreement_copies=q.agreement_copies, agreement_cap=q.agreement_cap, diagnose=False,
                             log=log)
        e = json.loads((qdir / "quantize.json").read_text())["backends"]["onnxruntime"]
        out[name] = {"int8": Path(e.get("artifact") or e.get("candidate") or ""), "gate": e}
    return out


def host_target() -> str:
    """The fetaledge target of this machine: its INT8 recipe is the one this host's timings are fair to."""
    import platform

    return "arm64" if platform.machine().lower() in ("aarch64", "arm64") else "x86_64"


def reference_fastvit(work: Path, resolution: int = 128) -> Path:
    """An UNTRAINED FastViT-MCi0 (reparameterised) exported for the same raw frames: its latency only."""
    import torch

    from fetaledge.data.cache import FrameCache
    from fetaledge.export.pipeline import export_model
    from fetaledge.models.checkpoint import save_model
    from fetaledge.models.students import STUDENT_NORM, create_student

    folder = work / "reference" / f"fastvit_mci0-{resolution}"
    onnx = folder / "export" / "fastvit.onnx"
    if onnx.is_file():
        return onnx
    cache = FrameCache(work / "cache")
    torch.manual_seed(0)
    net = create_student("fastvit_mci0", init="random").eval().reparameterized().eval()
    save_model(folder / "model", net.state_dict(), {"kind": "student", "arch": "fastvit_mci0",
                                                    "input_size": resolution, "cache_size": 224, "norm": STUDENT_NORM,
                                                    "threshold": 0.5, "reparameterized": True, "init": "random",
                                                    "untrained": True})
    export_model(folder / "model", folder / "export", raw_hw=(int(cache.manifest["raw_height"]),
                                                              int(cache.manifest["raw_width"])),
                 name="fastvit", source=Path(cache.manifest["source"]), formats=("onnx",))
    return onnx


def cpu_ms(name: str, path: Path, frames_npy: Path, raw_hw: tuple[int, int], precision: str) -> dict[str, Any]:
    from fetaledge.bench.artifacts import BenchArtifact
    from fetaledge.bench.latency import measure_latency
    from fetaledge.runtime.decision import decision_params

    lat = measure_latency(BenchArtifact(name, "student", "onnxruntime", precision, str(path)), frames_npy, 1,
                          decision_params(0.5).to_dict(), raw_hw=raw_hw, warmup=5, iters=20, repeats=3)
    log(f"[pareto] {name:44s} {lat['cpu_latency_ms']:7.2f} ms CPU/frame (wall {lat['latency_ms']:.2f})")
    return {"cpu_ms": lat["cpu_latency_ms"], "wall_ms": lat["latency_ms"], "spread_ms": lat["spread_ms"]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--real-work", type=Path, default=Path("/tmp/fetaledge-real/work"))
    ap.add_argument("--phantom-work", type=Path, default=Path("/tmp/fetaledge-bench/work"))
    ap.add_argument("--work", type=Path, default=Path("/tmp/fetaledge-pareto/work"))
    ap.add_argument("--config", type=Path, default=ROOT / "benchmarks" / "real_african.json")
    ap.add_argument("--points", default="all", help="comma-separated point names, or all (default)")
    ap.add_argument("--bootstrap", type=int, default=1000)
    ap.add_argument("--fetalclip-frames", type=int, default=3)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--reexport", action="store_true",
                    help="export and quantize every point again (after a change of the graph code); training is kept")
    args = ap.parse_args(argv)

    import numpy as np

    from fetaledge.bench.artifacts import BenchArtifact
    from fetaledge.bench.graph_macs import graph_macs
    from fetaledge.bench.pareto import (
        DEFAULT_TOLERANCE,
        MS_TOLERANCE,
        RULE,
        choose_default,
        pareto_front,
        pareto_markdown,
        pareto_plot,
    )
    from fetaledge.bench.real import RealEntry, artifact_metrics, score_test_split
    from fetaledge.bench.run import _loadavg, bench_frames, host_info
    from fetaledge.bench.side_by_side import fetalclip_full
    from fetaledge.config import load_config
    from fetaledge.data.cache import FrameCache
    from fetaledge.errors import FetaledgeError
    from fetaledge.fsio import ensure_writable_dir, write_json
    from fetaledge.models.checkpoint import read_config
    from fetaledge.runtime.numeric import sigmoid_array

    t0 = time.perf_counter()
    host = host_info()
    try:
        config = load_config(args.config)
        work = ensure_writable_dir(args.work)
        copy_once(args.real_work / "teacher" / "merged", work / "teacher")
        copy_once(args.real_work / "cache", work / "cache")
        cache = FrameCache(work / "cache")
        raw_hw = (int(cache.manifest["raw_height"]), int(cache.manifest["raw_width"]))
        points = [p for p in GRID if args.points == "all" or p.name in args.points.split(",")]
        if not points:
            raise FetaledgeError(f"no grid point matches {args.points!r}", hint=f"known: {[p.name for p in GRID]}")
        frames, _ = bench_frames(cache, "test")
        frames_npy = work / "frames_test.npy"
        np.save(frames_npy, frames)
        rows, entries = [], []
        for p in points:
            md = distill_point(p, args.real_work, args.phantom_work, work, config)
            if args.reexport:
                for sub in ("export", "quant"):
                    shutil.rmtree(work / "points" / p.name / sub, ignore_errors=True)
            htarget = host_target()
            art = export_and_quantize(p, md, work, config, targets=tuple(dict.fromkeys(("arm64", htarget))))
            arm, hq = art["arm64"], art[htarget]
            cfg = read_config(md)
            metrics = json.loads((md / "metrics.json").read_text())
            sweep_row = next(r for r in json.loads((md.parent / "sweep.json").read_text())["rows"]
                             if r["student"] == p.arch)
            row = {"name": p.name, "arch": p.arch, "start": p.start, "resolution": p.resolution,
                   "model_dir": str(md), "threshold": float(cfg["threshold"]), "init": cfg.get("init"),
                   "val_f1": metrics["validation"]["f1"], "train_seconds": sweep_row.get("train_seconds"),
                   "best_epoch": cfg.get("best_epoch"), "int8_gate_passed": bool(arm["gate"].get("passed")),
                   "int8_gate": {k: arm["gate"].get(k) for k in ("passed", "f1_fp32", "f1_int8", "agreement",
                                                                 "n_gate", "reasons")},
                   "host_target": htarget, "host_int8_gate_passed": bool(hq["gate"].get("passed")),
                   "macs": graph_macs(art["onnx"])["total"], "fp32_bytes": art["onnx"].stat().st_size,
                   "int8_bytes": arm["int8"].stat().st_size if arm["int8"].is_file() else None}
            row["fp32"] = cpu_ms(f"{p.name}-fp32", art["onnx"], frames_npy, raw_hw, "fp32")
            row["fp32_cpu_ms"] = row["fp32"]["cpu_ms"]
            if arm["int8"].is_file():
                row["int8_arm64_recipe"] = cpu_ms(f"{p.name}-int8-arm64", arm["int8"], frames_npy, raw_hw, "int8")
                entries.append(RealEntry(BenchArtifact(f"{p.name}-int8", "student", "onnxruntime", "int8",
                                                       str(arm["int8"])), row["threshold"], f"{p.name}-fp32"))
            if hq["int8"].is_file():
                # the speed the rule and the ratios read: this host's own INT8 recipe (an x86 CPU fuses U8S8, not
                # the arm64 recipe's S8S8, so timing the tablet's artifact here would understate INT8)
                row["int8"] = cpu_ms(f"{p.name}-int8-{htarget}", hq["int8"], frames_npy, raw_hw, "int8")
                row["int8_cpu_ms"] = row["int8"]["cpu_ms"]
                if htarget != "arm64":
                    entries.append(RealEntry(BenchArtifact(f"{p.name}-int8host", "student", "onnxruntime", "int8",
                                                           str(hq["int8"])), row["threshold"], f"{p.name}-fp32"))
            entries.append(RealEntry(BenchArtifact(f"{p.name}-fp32", "student", "onnxruntime", "fp32",
                                                   str(art["onnx"])), row["threshold"]))
            rows.append(row)
        scores = score_test_split(entries, cache, "test", log=log)
        y, groups = scores["labels"], scores["groups"]
        for r in rows:
            for prec in ("fp32", "int8"):
                key = f"{r['name']}-{prec}"
                if key in scores["logits"]:
                    r[f"test_{prec}"] = artifact_metrics(sigmoid_array(scores["logits"][key]), y, groups,
                                                         r["threshold"], args.bootstrap)
        for r in rows:
            key = f"{r['name']}-int8host"
            if key in scores["logits"]:
                r["test_int8_host"] = artifact_metrics(sigmoid_array(scores["logits"][key]), y, groups,
                                                       r["threshold"], args.bootstrap).get("f1")
        for r in rows:  # the plot and the front read the F1 value directly
            r["test_f1_int8"] = (r.get("test_int8") or {}).get("f1", {}).get("value")
            r["test_int8"] = r.get("test_int8", {}).get("f1") if r.get("test_int8") else None
            r["test_fp32"] = r.get("test_fp32", {}).get("f1") if r.get("test_fp32") else None
        choice = choose_default(rows, DEFAULT_TOLERANCE)
        best_val = max(r["val_f1"] for r in rows if r.get("val_f1") is not None)
        refs: dict[str, Any] = {}
        if args.fetalclip_frames > 0:
            f = fetalclip_full(frames_npy, args.fetalclip_frames, log=log)
            refs["FetalCLIP ViT-L/14 architecture (random weights)"] = {
                "how": f"torch fp32, {f['gmacs']:.1f} GMACs, {f['frames']} frames", "cpu_ms": f["cpu_latency_ms"],
                "wall_ms": f["latency_ms"]}
        if args.reexport:
            shutil.rmtree(work / "reference", ignore_errors=True)
        fv = reference_fastvit(work)
        fvr = cpu_ms("fastvit_mci0-UNTRAINED-128-fp32", fv, frames_npy, raw_hw, "fp32")
        refs["FastViT-MCi0 architecture (MobileFetalCLIP's student; untrained, 128 px)"] = {
            "how": f"onnxruntime fp32, {graph_macs(fv)['total'] / 1e6:.0f} MMACs", **fvr}
        refs[f"chosen: {choice['name']} INT8"] = {"how": f"onnxruntime INT8 ({choice['host_target']} recipe, this "
                                                        "host's)", "cpu_ms": choice["int8_cpu_ms"]}
        today = next((r for r in rows if r["name"] == TODAY), None)
        conditions = []
        fc = refs.get("FetalCLIP ViT-L/14 architecture (random weights)")
        if fc:
            conditions.append({"what": "FetalCLIP ViT-L/14 ms / chosen INT8 ms", "value": fc["cpu_ms"] /
                               choice["int8_cpu_ms"], "goal": ">= 1000x", "met": fc["cpu_ms"] / choice["int8_cpu_ms"]
                               >= 1000, "fmt": ".0f"})
        conditions.append({"what": "FastViT-MCi0 ms / chosen INT8 ms", "value": fvr["cpu_ms"] / choice["int8_cpu_ms"],
                           "goal": ">= 25x", "met": fvr["cpu_ms"] / choice["int8_cpu_ms"] >= 25, "fmt": ".1f"})
        if today and today.get("test_f1_int8") is not None and choice.get("test_f1_int8") is not None:
            conditions.append({"what": f"chosen INT8 test F1 - today's default ({TODAY}) INT8 test F1",
                               "value": choice["test_f1_int8"] - today["test_f1_int8"], "goal": ">= -0.01",
                               "met": choice["test_f1_int8"] - today["test_f1_int8"] >= -0.01, "fmt": "+.3f"})
        host["loadavg_end"] = _loadavg()
        command = "python benchmarks/pareto_real.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
        rep = {"kind": "fetaledge-pareto", "schema_version": 1, "host": host, "command": command.strip(),
               "seconds": time.perf_counter() - t0, "n_boot": args.bootstrap,
               "data": {"name": "African fetal planes (real)", "n_test": int(len(y)),
                        "description": "312 real 2D images from five African countries (Sendra-Balcells et al. 2023, "
                                       "CC BY 4.0), published split kept by patient group; is this the abdominal "
                                       "plane?"},
               "recipe": f"distilled from the build's teacher with benchmarks/real_african.json "
                         f"({config.distill.settings().epochs} epochs, batch {config.distill.settings().batch_size}, "
                         f"seed {config.distill.settings().seed}, ONE seed); INT8 = onnxruntime with the arm64 "
                         f"target recipe and gate (what the tablet runs: its test F1 and gate), and with this "
                         f"host's target recipe ({host_target()}: its ms, which the rule and the ratios read), at "
                         f"most 1 fallback each; phantom start = the phantom build's student "
                         f"(EfficientNet-Lite0: ImageNet -> phantom) or, for MobileNetV2, random init -> phantom "
                         f"with the default phantom recipe",
               "rows": rows, "rule": RULE.format(tol=DEFAULT_TOLERANCE, ms_tol=MS_TOLERANCE), "today_default": TODAY,
               "choice": {"name": choice["name"], "why": f"best validation F1 {best_val:.3f}; eligible within "
                          f"{DEFAULT_TOLERANCE}: " + ", ".join(r["name"] for r in rows if r.get("val_f1") is not None
                                                            and r["val_f1"] >= best_val - DEFAULT_TOLERANCE - 1e-12)},
               "front_test": pareto_front(rows, "int8_cpu_ms", "test_f1_int8"),
               "front_val": pareto_front(rows, "int8_cpu_ms", "val_f1"),
               "references": refs, "conditions": conditions,
               "notes": ["CPU is scarce here (2 cores shared by five engineers): one seed, a grid of "
                         f"{len(rows)} points, 20 epochs; differences of one or two test images are noise "
                         "(see the intervals).",
                         "The teacher is fetaledge's tiny stand-in ViT, not FetalCLIP (no FetalCLIP weights here).",
                         "ms are process CPU time at 1 thread (steady on a loaded host); compare ratios within this "
                         "report only.",
                         "Every graph takes the raw frame and resamples it with the banded form of the linear map "
                         "(fetaledge.preprocess.band_matrix: Gather + batched MatMul, the same map as the dense "
                         "product to float rounding)" + (", re-exported and re-quantized in this run (--reexport; "
                                                          "training kept)" if args.reexport else "") + "."]}
        out = ensure_writable_dir(args.out)
        write_json(out / "pareto_real.json", rep)
        from fetaledge.fsio import atomic_path

        with atomic_path(out / "pareto_real.md") as tmp:
            tmp.write_text(pareto_markdown(rep))
        pareto_plot(rep, out / "pareto_real.png")
    except FetaledgeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    log(f"[pareto] chosen {choice['name']}; wrote {out}/pareto_real.json, .md, .png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
