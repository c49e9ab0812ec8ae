"""The bundle stage of ``fetaledge build``: pick what ships, measure it here, write the bundle and its report.

The first INT8 candidate of the target that passed its gate (and, where the target says this host is
representative, is not slower than fp32) ships with the fp32 fallback; both are timed on this host and scored
on the test split against the teacher; the resolved build config is saved in the bundle as ``build_config.json``.

Example:
    >>> make_bundle(ctx, Path("bundle"))  # doctest: +SKIP
"""

from __future__ import annotations

import os
import platform
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from fetaledge.config import config_to_json
from fetaledge.errors import FetaledgeError
from fetaledge.fsio import atomic_path, read_json
from fetaledge.pipeline import BuildContext
from fetaledge.runtime.decision import decision_params
from fetaledge.targets import Target
from fetaledge.versions import TOOLCHAIN, package_versions
from fetaledge.work import Work


def _select(target: Target, quant: dict[str, Any], work: Work, threads: int, decision: dict[str, Any],
            raw_hw: tuple[int, int], frames: Path, log) -> tuple[list, list, dict]:
    """(shipped models, skipped notes, latency checks): the first INT8 candidate that passed its gate (and is
    not slower here, where the target says this host is representative), plus the fp32 fallback."""
    from fetaledge.bench.artifacts import BenchArtifact
    from fetaledge.bench.latency import measure_latency
    from fetaledge.bundle import ShippedModel

    fp32_files = {"onnxruntime": work.export / "student.onnx", "litert": work.export / "student.tflite"}
    fallback = ShippedModel(f"student-fp32-{target.fallback.runtime}", fp32_files[target.fallback.runtime],
                            target.fallback.runtime, "fp32")
    skipped, checks, primary = [], {}, None
    for choice in target.preference:
        entry = quant["backends"].get(choice.backend, {})
        if not entry.get("passed"):
            why = entry.get("skipped") or "; ".join(entry.get("reasons", [])) or "not quantized"
            skipped.append({"artifact": choice.key, "reason": f"gate failed or not built: {why}"})
            continue
        cand = ShippedModel(f"student-int8-{choice.backend}", Path(entry["artifact"]), choice.runtime, "int8")
        if target.int8_must_be_faster_here:
            lat = {}
            for name, path, runtime, prec in ((cand.name, cand.source, cand.runtime, "int8"),
                                              ("fp32", fp32_files[choice.runtime], choice.runtime, "fp32")):
                art = BenchArtifact(name, "student", runtime, prec, str(path))
                lat[name] = measure_latency(art, frames, threads, decision, raw_hw=raw_hw, warmup=3, iters=15,
                                            repeats=3)["latency_ms"]
            checks[choice.key] = {"int8_ms": lat[cand.name], "fp32_ms": lat["fp32"], "threads": threads}
            if lat[cand.name] > lat["fp32"]:
                skipped.append({"artifact": choice.key, "reason": f"INT8 {lat[cand.name]:.2f} ms is slower than fp32 "
                                f"{lat['fp32']:.2f} ms at {threads} threads on this host: fp32 ships"})
                log(f"[select] {choice.key} passed the gate but is slower than fp32 here: skipped")
                continue
        primary = cand
        break
    shipped = [primary, fallback] if primary else [fallback]
    return shipped, skipped, checks


def _planes_golden_inputs(cache, n: int = 8, window: int = 24) -> tuple[np.ndarray, list[str], np.ndarray, str]:
    """Plane datasets: n test images (positives and negatives, centres in turn), letterboxed to the raw size as
    on the device, and the first ``window`` test images as a stand-in 'sweep' (not a real sweep)."""
    from fetaledge.data.raw import iter_raw_sweeps

    rows = [(sw.frames[0], int(sw.labels[0]), cache.entries[sw.case]) for sw in iter_raw_sweeps(cache, "test")]
    if not rows:
        raise FetaledgeError(f"cache {cache.root}: the test split holds no image for the goldens")
    picked: list[int] = []
    for want in (1, 0):
        centres: dict[str, list[int]] = {}
        for i, (_, lab, e) in enumerate(rows):
            if (lab > 0) == bool(want):
                centres.setdefault(e.get("centre", ""), []).append(i)
        queues = list(centres.values())
        while len(picked) < (n + 1) // 2 * (2 - want) and any(queues):
            for q in queues:
                if q and len(picked) < (n + 1) // 2 * (2 - want):
                    picked.append(q.pop(0))
    picked = picked[:n]
    frames = np.stack([rows[i][0] for i in picked])
    sources = [f"image {rows[i][2]['image_name']} ({rows[i][2]['centre']}, {rows[i][2]['plane']}, "
               f"{rows[i][2]['raw_width']}x{rows[i][2]['raw_height']} WxH, label {rows[i][1]}), letterboxed"
               for i in picked]
    sweep = np.stack([r[0] for r in rows[:window]])
    return frames, sources, sweep, f"the first {len(sweep)} test images in cache order (plane dataset: not a sweep)"


def _golden_inputs(cache, n: int = 8, window: int = 24) -> tuple[np.ndarray, list[str], np.ndarray, str]:
    """Raw test frames for the frame goldens (positives and negatives) and one recorded sweep window."""
    from fetaledge.data.raw import iter_raw_sweeps

    if cache.manifest.get("source_kind") == "planes":
        return _planes_golden_inputs(cache, n, window)

    frames, sources, sweep, sweep_src = [], [], None, ""
    for sw in iter_raw_sweeps(cache, "test"):
        pos = np.flatnonzero(sw.labels > 0)
        centre = int(pos[len(pos) // 2]) if pos.size else len(sw.labels) // 2
        for i in sorted({centre, max(0, centre - 8), min(len(sw.labels) - 1, centre + 8), 0}):
            if len(frames) < n:
                frames.append(sw.frames[i])
                sources.append(f"case {sw.case} sweep {sw.sweep + 1} frame {i} label {int(sw.labels[i])}")
        if sweep is None and pos.size:
            lo = max(0, min(centre - window // 2, len(sw.labels) - window))
            sweep = sw.frames[lo : lo + window]
            sweep_src = f"case {sw.case} sweep {sw.sweep + 1} frames {lo}..{lo + len(sweep) - 1}"
        if len(frames) >= n and sweep is not None:
            break
    if not frames:
        raise FetaledgeError(f"cache {cache.root}: the test split holds no frames for the goldens")
    if sweep is None:
        sweep = np.stack(frames)
        sweep_src = "test frames (no positive sweep in the test split)"
    return np.stack(frames), sources, sweep, sweep_src


def _seg_shipment(ctx: BuildContext, log) -> tuple[Any, dict[str, Any] | None]:
    """(what the bundle ships to measure, the report's measurement section); (None, None) when the segment stage
    did not run in this build (disabled, or a target without it) and (None, section) when it found no masks."""
    from fetaledge.bundle import SegShipment, ShippedModel
    from fetaledge.seg_build import read_seg_summary

    if "segment" not in ctx.keys:
        return None, None
    folder = ctx.work.root / "segment"
    seg = read_seg_summary(folder)
    if "skipped" in seg:
        return None, {"skipped": seg["skipped"]}
    fp32 = ShippedModel("seg-fp32-onnxruntime", folder / seg["fp32"], "onnxruntime", "fp32")
    int8 = ShippedModel("seg-int8-onnxruntime", folder / seg["int8"], "onnxruntime", "int8")
    models = (int8, fp32) if seg["int8_passed"] else (fp32,)
    if not seg["int8_passed"]:
        log(f"[select] segmentation INT8 failed its gate ({'; '.join(seg['gate']['reasons'])}): fp32 measures")
    log(f"[select] measurement ships: {', '.join(m.name for m in models)}")
    section = {k: seg[k] for k in ("student", "grid", "frame", "spacing_mm", "field_of_view", "train_frames",
                                   "train_with_mask", "val_frames", "val_with_mask", "epochs", "best_epoch",
                                   "train_seconds", "parity", "gate", "val_ac", "seconds")}
    section["shipped"] = [m.name for m in models]
    ship = SegShipment(models=models, structure="ac", spacing_mm=tuple(seg["spacing_mm"]), grid=tuple(seg["grid"]),
                       field_of_view=seg["field_of_view"], golden_frames=np.load(folder / "golden_frames.npy"),
                       golden_sources=seg["golden_sources"])
    return ship, section


def make_bundle(ctx: BuildContext, out: Path) -> Path:
    """Write the bundle for ``ctx.target`` to ``out`` (folder + ``.zip``) from the finished stages of ``ctx.work``."""
    from fetaledge.bench.artifacts import BenchArtifact
    from fetaledge.bench.latency import measure_latency
    from fetaledge.bench.quality import quality, score_split
    from fetaledge.bundle import write_bundle
    from fetaledge.data.cache import FrameCache
    from fetaledge.models.checkpoint import read_config

    opts, target, work, log, src = ctx.opts, ctx.target, ctx.work, ctx.log, ctx.source
    cache = FrameCache(ctx.cache_dir)
    raw_hw = (int(cache.manifest["raw_height"]), int(cache.manifest["raw_width"]))
    quant = read_json(work.quant(target.name) / "quantize.json", "quantize summary")
    keys, seconds = ctx.keys, ctx.seconds
    t_bundle = time.perf_counter()
    student_cfg = read_config(work.student)
    decision = decision_params(float(student_cfg["threshold"]))
    frames, sources, sweep, sweep_src = _golden_inputs(cache)
    bench_frames = work.bench_frames
    np.save(bench_frames, frames)
    cores = os.cpu_count() or 1
    shipped, skipped, speed_checks = _select(target, quant, work, cores, decision.to_dict(), raw_hw, bench_frames, log)
    log(f"[select] {target.name} ships: {', '.join(m.name for m in shipped)}")

    # Measured here: latency of what ships (1 thread and all cores), and test-split quality vs teacher.
    latency = {}
    for m in shipped:
        art = BenchArtifact(m.name, "student", m.runtime, m.precision, str(m.source))
        latency[m.name] = {str(t): {k: v for k, v in measure_latency(
            art, bench_frames, t, decision.to_dict(), raw_hw=raw_hw, warmup=3, iters=15, repeats=3).items()
            if k != "distribution_ms"} for t in sorted({1, cores})}
    teacher_cfg = read_config(work.teacher_merged)
    arts = [BenchArtifact("teacher-fp32-torch", "teacher", "torch", "fp32", str(work.teacher_merged)),
            BenchArtifact("student-fp32-onnxruntime", "student", "onnxruntime", "fp32",
                          str(work.export / "student.onnx"))]
    arts += [BenchArtifact(m.name, "student", m.runtime, m.precision, str(m.source)) for m in shipped
             if m.precision != "fp32"]
    log(f"[bundle] scoring {len(arts)} artifacts on the test split (whole cases, for WFSS)")
    scores = score_split(arts, cache, "test", raw_hw)
    test_quality = {"teacher-fp32-torch": quality(scores, "teacher-fp32-torch", float(teacher_cfg["threshold"]),
                                                  decision_params(float(teacher_cfg["threshold"])))}
    for a in arts[1:]:
        parent = "student-fp32-onnxruntime" if a.name != "student-fp32-onnxruntime" else "teacher-fp32-torch"
        pt = decision.threshold if parent != "teacher-fp32-torch" else float(teacher_cfg["threshold"])
        test_quality[a.name] = quality(scores, a.name, decision.threshold, decision, parent, pt)
    notes = _notes(target, shipped, skipped, test_quality, quant)
    seg_ship, seg_report = _seg_shipment(ctx, log)
    if seg_report is not None and "gate" in seg_report and not seg_report["gate"]["passed"]:
        notes.append("segmentation INT8 not shipped: its measurement gate failed: "
                     + "; ".join(seg_report["gate"]["reasons"]))
    planes = cache.manifest.get("planes") if cache.manifest.get("source_kind") == "planes" else None
    if planes is not None:
        notes.append("plane dataset: every test image is a one-frame case, so WFSS and the sweep decisions are not "
                     "meaningful here; read F1 / precision / recall (frame level, at the calibrated threshold)")
    other_sizes = "letterbox" if planes is not None else opts.config.bundle.other_sizes
    provenance = {
        "target": target.name,
        "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "host": {"machine": platform.machine(), "cores": cores},
        "toolchain": package_versions(TOOLCHAIN, missing=None),
        "data": {"source": str(src), "cache": str(cache.root), "split_seed": cache.manifest["split_seed"],
                 "phantom": opts.data is None, "source_kind": cache.manifest.get("source_kind", "acouslic"),
                 **({"planes": {k: planes[k] for k in ("layout", "positive_planes", "split", "left_out")}}
                    if planes is not None else {})},
        "other_sizes": other_sizes,
        "teacher": {k: teacher_cfg.get(k) for k in ("kind", "arch", "name", "input_size", "threshold")},
        "student": {k: student_cfg.get(k) for k in ("arch", "input_size", "norm", "init", "threshold",
                                                      "chosen_by")},
        "stage_keys": keys,
        "recipes": {b: e.get("recipe") for b, e in quant["backends"].items()},
    }
    report = {
        "target": {"name": target.name, "description": target.description},
        "shipped": [{"name": m.name, "runtime": m.runtime, "precision": m.precision,
                     "bytes": Path(m.source).stat().st_size} for m in shipped],
        "skipped": skipped,
        "int8_vs_fp32_speed_on_this_host": speed_checks,
        "gate": {b: {k: e.get(k) for k in ("passed", "f1_fp32", "f1_int8", "f1_drop", "agreement", "agreement_ci",
                                           "n_gate", "n_flips", "mean_abs_p_diff", "max_abs_p_diff", "kernels",
                                           "reasons", "float_ops", "n_float_ops", "size_bytes", "skipped",
                                           "diagnose")}
                 for b, e in quant["backends"].items()},
        "gate_frames": {"n_val": quant.get("n_val"), **(quant.get("gate_frames") or {})},
        "test_quality": test_quality,
        "latency_this_host": latency,
        "decision": decision.to_dict(),
        "measurement": seg_report,
        "stage_seconds": seconds,
        "notes": notes,
        "provenance": provenance,
    }
    report_md = _report_md(report)
    write_bundle(Path(out), shipped=shipped, raw_hw=raw_hw, decision=decision, threads=target.threads,
                 provenance=provenance, report=report, report_md=report_md, golden_frames=frames,
                 golden_sources=sources, golden_sweep=sweep, golden_sweep_source=sweep_src,
                 other_sizes=other_sizes,
                 labels=(f"not {' / '.join(planes['positive_planes'])}", " / ".join(planes["positive_planes"]))
                 if planes is not None else None, build_config=config_to_json(opts.config), measurement=seg_ship)
    log(f"[bundle] wrote {out} and {Path(out).with_suffix('.zip')} in {time.perf_counter() - t_bundle:.1f} s")
    if opts.android_assets is not None:
        dest = Path(opts.android_assets) / "bundle"
        with atomic_path(dest) as tmp:
            shutil.copytree(out, tmp)
        log(f"[bundle] copied to {dest} for the Android demo")
    return Path(out)


def _notes(target: Target, shipped, skipped, tq: dict[str, Any], quant: dict[str, Any]) -> list[str]:
    """What a reader must not miss: INT8 less accurate or not measured for speed on the target, skips."""
    notes = [f"{s['artifact']} not shipped: {s['reason']}" for s in skipped]
    fp32 = tq.get("student-fp32-onnxruntime", {})
    for m in shipped:
        if m.precision == "int8" and m.name in tq and fp32:
            d = tq[m.name]["f1"] - fp32["f1"]
            if d < 0:
                notes.append(f"{m.name} is less accurate than fp32 on the test split: F1 {tq[m.name]['f1']:.4f} vs "
                             f"{fp32['f1']:.4f} ({d:+.4f}); it passed the validation gate (drop <= budget)")
            if not target.int8_must_be_faster_here:
                notes.append(f"{m.name}: INT8 speed on {target.name} was not measured on this host (x86); "
                             "see `fetaledge bench` run on the device")
    if target.name != "x86_64":
        notes.append("latencies in this report were measured on the build host, not on the target device")
    return notes


def _report_md(r: dict[str, Any]) -> str:
    t = r["target"]
    lines = [f"# fetaledge bundle: {t['name']}", "", t["description"], "", "## Shipped", ""]
    for m in r["shipped"]:
        lines.append(f"- `{m['name']}` ({m['runtime']}, {m['precision']}, {m['bytes'] / 1e6:.2f} MB)")
    lines += ["", "## Test split (whole cases; F1 on frames of annotated sweeps)", "",
              "| artifact | F1 | precision | recall | threshold | agreement with parent | every test frame [95 % CI] "
              "| WFSS |", "|---|---|---|---|---|---|---|---|"]
    for name, q in r["test_quality"].items():
        agree = q.get("agreement_with_parent")
        ci = q.get("agreement_all_frames_ci")
        every = "-" if ci is None else (f"{q['agreement_all_frames']:.4f} [{ci[0]:.3f}, {ci[1]:.3f}] of "
                                        f"{q['n_all_frames']}, mean abs dp {q['mean_abs_prob_diff_vs_parent']:.4f}")
        lines.append(f"| {name} | {q['f1']:.4f} | {q['precision']:.4f} | {q['recall']:.4f} | {q['threshold']:.4f} | "
                     f"{'-' if agree is None else f'{agree:.4f}'} | {every} | {q['wfss']:.3f} |")
    gf = r.get("gate_frames") or {}
    lines += ["", "## INT8 gate (F1 on the validation split; agreement on every gate frame)", "",
              f"Gate frames: {gf.get('n_val')} validation + {gf.get('used', 0)} unlabelled (train frames calibration "
              f"did not use: {gf.get('train_not_calibration', 0)}; augmented copies of calibration frames: "
              f"{gf.get('augmented_copies', 0)}; borderline first when sampled).", "",
              "| backend | passed | F1 fp32 | F1 int8 | agreement [95 % CI] | frames | mean abs dp | kernels | MB |",
              "|---|---|---|---|---|---|---|---|---|"]
    for b, g in r["gate"].items():
        def f(k: str, g: dict = g) -> str:
            return "-" if g.get(k) is None else f"{g[k]:.4f}"
        mb = "-" if not g.get("size_bytes") else f"{g['size_bytes'] / 1e6:.2f}"
        ci = g.get("agreement_ci")
        agree = f('agreement') + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")
        lines.append(f"| {b} | {g.get('passed')} | {f('f1_fp32')} | {f('f1_int8')} | {agree} | {g.get('n_gate', '-')} "
                     f"| {f('mean_abs_p_diff')} | {g.get('kernels', '-')} | {mb} |")
    lines += ["", "## Latency on the build host (median of repeats; e2e = raw frame -> decision)", "",
              "| model | threads | p50 ms | p90 ms | e2e p50 ms | fps | peak RSS MB |", "|---|---|---|---|---|---|---|"]
    for name, per in r["latency_this_host"].items():
        for th, lat in per.items():
            lines.append(f"| {name} | {th} | {lat['per_frame_ms']['p50']:.2f} | {lat['per_frame_ms']['p90']:.2f} | "
                         f"{lat['e2e_ms']['p50']:.2f} | {lat['fps']:.1f} | {lat['peak_rss_mb']:.0f} |")
    lines += _measurement_md(r.get("measurement"))
    d = r["decision"]
    lines += ["", "## Decision parameters", "", ", ".join(f"{k} {v}" for k, v in d.items()), "", "## Notes", ""]
    lines += [f"- {n}" for n in r["notes"]] or ["- none"]
    stage_times = ", ".join(f"{k} {v}" for k, v in r["stage_seconds"].items())
    lines += ["", "## Stage times (s; about 0 = up to date)", "", stage_times]
    return "\n".join(lines) + "\n"


def _measurement_md(m: dict[str, Any] | None) -> list[str]:
    """The report's measurement section (the segment stage), or the line saying the bundle does not measure."""
    if m is None:
        return ["", "## Measurement", "", "This bundle does not measure (the segment stage did not run)."]
    if "skipped" in m:
        return ["", "## Measurement", "", f"Not measured: {m['skipped']}."]
    g = m["gate"]

    def ac(k: str) -> str:
        v = m["val_ac"][k]
        mae = "n/a" if v["ac_mae_mm"] is None else f"{v['ac_mae_mm']:.2f}"
        return (f"| {k} | {v['measured']}/{v['masked_frames']} | {v['ok']} | {mae} | "
                f"{v['unmasked_with_a_number']}/{v['unmasked_frames']} |")

    return ["", "## Measurement (abdominal circumference of the chosen frame)", "",
            f"Student {m['student']} on a {m['grid'][0]}x{m['grid'][1]} grid ({m['frame'][0]}x{m['frame'][1]} frame "
            f"in the graph), {m['train_frames']} train frames ({m['train_with_mask']} with a mask), {m['epochs']} "
            f"epochs ({m['train_seconds']:.0f} s), kept epoch {m['best_epoch'] + 1}; ships {', '.join(m['shipped'])}.",
            "", f"INT8 gate on {g['n']} validation frames: {'passed' if g['passed'] else 'FAILED'}; mean Dice vs "
            f"fp32 {g['mean_dice']:.4f}, ok/rescan/none agree {g['status_agreement']:.3f}, mean |mm| "
            f"{g['mean_abs_mm']:.3f}.",
            "", "Validation frames vs the AC of their ground-truth mask:", "",
            "| model | masked frames measured | ok | AC MAE mm | unmasked frames that got a number |",
            "|---|---|---|---|---|", ac("fp32"), ac("int8")]
