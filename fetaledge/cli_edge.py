"""CLI commands of the edge half of the pipeline: export, build, verify, infer (thin wrappers)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from fetaledge.config import QuantizeSection

_Q = QuantizeSection()  # the quantize options' defaults are the build config's


def _raw_size(text: str) -> tuple[int, int]:
    try:
        h, w = (int(x) for x in text.lower().split("x"))
    except ValueError:
        raise click.BadParameter(f"{text!r} is not HEIGHTxWIDTH (e.g. 562x744)") from None
    return h, w


@click.command("export")
@click.argument("model_dir", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Folder for the exported files.")
@click.option("--format", "formats", default="onnx,tflite", show_default=True, help="Comma-separated: onnx,tflite.")
@click.option("--raw-size", default="562x744", show_default=True, help="Raw frame HEIGHTxWIDTH the graph takes.")
@click.option("--dynamic-batch", is_flag=True, help="ONNX with a dynamic batch dimension (default: batch 1).")
@click.option("--data", type=click.Path(path_type=Path), default=None,
              help="ACOUSLIC-layout folder whose frames are used for the parity check (default: phantom frames).")
def export_cmd(model_dir: Path, out: Path, formats: str, raw_size: str, dynamic_batch: bool, data: Path | None):
    """Export a model folder to ONNX / TFLite fp32 taking the raw uint8 frame, checked against PyTorch.

    Example: fetaledge export work/student --out work/export
    """
    from fetaledge.export.pipeline import export_model

    res = export_model(model_dir, out, raw_hw=_raw_size(raw_size), formats=tuple(formats.split(",")),
                       dynamic_batch=dynamic_batch, source=data)
    for fmt, r in res.reports.items():
        click.echo(f"{fmt:7s} {res.files[fmt]}  {r['bytes'] / 1e6:.2f} MB  max |logit diff| vs torch "
                   f"{r['max_abs_diff']:.2e} on {r['n_inputs']} frames: {'ok' if r['passed'] else 'FAILED'}")


@click.command("verify")
@click.argument("bundle", type=click.Path(path_type=Path))
@click.option("--target", default=None, help="Fail unless the bundle was built for this target.")
@click.option("--json", "as_json", is_flag=True, help="Print the verification report as JSON.")
def verify_cmd(bundle: Path, target: str | None, as_json: bool) -> None:
    """Check a bundle: sha256 of every file, the spec schema, and that its goldens reproduce here.

    Example: fetaledge verify bundle
    """
    from fetaledge.runtime.verify import verify_bundle

    report = verify_bundle(bundle, target=target)
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    for name, r in report["models"].items():
        click.echo(f"{name}: {r['frames']} golden frames, max |p diff| {r['max_abs_diff']:.2e}, "
                   f"decision flips {r['decision_flips']}")
    for sk in report["skipped"]:
        click.echo(f"{sk['model']}: NOT CHECKED here: {sk['reason']} (to check it: {sk['install']})")
    s = report["sweep"]
    if s.get("checked", True):
        click.echo(f"recorded sweep ({s['model']}): {s['frames']} frames, decisions match: {s['decisions_match']}")
    else:
        click.echo(f"recorded sweep: NOT CHECKED here: {s['reason']}")
    meas = report.get("measurement") or {}
    if meas.get("checked"):
        for name, r in meas["models"].items():
            click.echo(f"{name}: {meas['frames']} measurement goldens, max |mm diff| {r['max_abs_mm']:.3f}, "
                       f"status flips {r['status_flips']}")
        for sk in meas["skipped"]:
            click.echo(f"{sk['model']}: NOT CHECKED here: {sk['reason']}")
    checked = ", ".join([*report["models"], *meas.get("models", {})])
    click.echo(f"bundle OK ({bundle}): every file's sha256; goldens of {checked}"
               + (f"; {len(report['skipped'])} model(s) not checked here" if report["skipped"] else ""))


@click.command("infer")
@click.option("--bundle", type=click.Path(path_type=Path), required=True, help="Bundle folder.")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "json_out", type=click.Path(path_type=Path), default=None, help="Write the result JSON.")
@click.option("--png", "png_out", type=click.Path(path_type=Path), default=None,
              help="Case mode: write the chosen frame with the probability curve (default: beside --json).")
@click.option("--model", default=None, help="Model of the bundle to use (default: the first, the primary).")
@click.option("--threads", type=int, default=None, help="Threads (default: the spec's).")
@click.option("--spacing-mm", type=float, nargs=2, default=None,
              help="Measurement bundles: the frames' pixel spacing X Y in mm (the probe's; default: the bundle's).")
def infer_cmd(bundle: Path, inputs: tuple[Path, ...], json_out: Path | None, png_out: Path | None,
              model: str | None, threads: int | None, spacing_mm: tuple[float, float] | None) -> None:
    """Run a bundle over one case stack (.mha of six sweeps: probabilities, events, verdicts, chosen frame), or
    over single frames: image files (PNG, JPEG; grey or colour), .npy frames, one-frame .mha, or folders of them.

    Frames of another size than the bundle's are letterboxed or refused as its iqa_spec.json input.other_sizes
    says (docs/frame_geometry.md). A case stack is read one frame at a time; one whose frame count is not a
    multiple of 6 (e.g. the challenge's 128-frame sample) is scored as ONE sweep, and the output says so.

    Example: fetaledge infer --bundle bundle work/phantom/images/stacked_fetal_ultrasound/<uuid>.mha --json r.json

    Example: fetaledge infer --bundle bundle_af ../shared/data/real/african_fetal_planes/images
    """
    from fetaledge.fsio import write_json
    from fetaledge.runtime.infer import infer_case, infer_frames, is_case_stack, measurement_line, plot_case
    from fetaledge.runtime.measure_infer import is_measurement_bundle

    if is_measurement_bundle(bundle):
        _measure_frames(bundle, inputs, json_out, png_out, threads, spacing_mm)
        return
    if len(inputs) == 1 and is_case_stack(inputs[0]):
        case = inputs[0]
        r = infer_case(bundle, case, model, threads, spacing_mm)
        if r["fallback"]:
            click.echo(r["fallback"], err=True)
        meas = r["measurement"]
        if meas and meas["note"]:
            click.echo(meas["note"], err=True)
        if r["note"]:
            click.echo(f"{case.name}: {r['note']}")
        for k, s in enumerate(r["sweeps"]):
            v = s["verdict"]
            found = sum(e["type"] == "PLANE_FOUND" for e in s["events"])
            line = (f"sweep {k + 1}: {v['verdict']:7s} frame {v['frame']:4d}  max p {max(s['probabilities']):.3f}"
                    f"  plane found {found}x")
            if meas and meas["sweeps"][k] is not None:
                line += f"  {measurement_line(meas['sweeps'][k])}"
            click.echo(line)
        c = r["case"]
        click.echo(f"case: {c['verdict']} chosen frame {c['frame']}"
                   + (f"  {measurement_line(meas['case'])} [{meas['model']}]" if meas else ""))
        if json_out:
            write_json(json_out, r)
            click.echo(f"wrote {json_out}")
        if png_out is None and json_out is not None:
            png_out = Path(json_out).with_suffix(".png")
        if png_out is not None:
            try:
                plot_case(r, case, png_out)
                click.echo(f"wrote {png_out}")
            except ImportError:
                click.echo("matplotlib is not installed: no PNG (pip install matplotlib)")
        return
    r = infer_frames(bundle, list(inputs), model, threads)
    if r["fallback"]:
        click.echo(r["fallback"], err=True)
    i = r["input"]
    click.echo(f"bundle input {i['height']}x{i['width']} (HxW), other sizes: {i['other_sizes']}; "
               f"threshold {r['threshold']:.4f}")
    for f in r["frames"]:
        click.echo(f"{Path(f['file']).name}: {f['height']}x{f['width']} {f['fitted']:9s} p {f['probability']:.4f}  "
                   f"{f['label']}")
    if json_out:
        write_json(json_out, r)
        click.echo(f"wrote {json_out}")
    if png_out is not None:
        click.echo("--png applies to case stacks only: no PNG written for single frames")


@click.command("quantize")
@click.argument("model_dir", type=click.Path(path_type=Path))
@click.option("--onnx", "onnx_path", type=click.Path(path_type=Path), required=True,
              help="The fp32 ONNX export of MODEL_DIR (from `fetaledge export`).")
@click.option("--data", type=click.Path(path_type=Path), required=True, help="Prepared frame cache.")
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="Folder for INT8 artifacts and reports.")
@click.option("--backend", default="all", show_default=True,
              help="nncf | onnxruntime | litert | all (comma-separated).")
@click.option("--target", default="arm64", show_default=True, help="Target whose recipes to use (fetaledge.targets).")
@click.option("--calibration-frames", type=int, default=_Q.calibration_frames, show_default=True)
@click.option("--max-drop", type=float, default=_Q.max_drop, show_default=True, help="Gate: largest allowed F1 drop.")
@click.option("--min-agreement", type=float, default=_Q.min_agreement, show_default=True,
              help="Gate: decision agreement.")
@click.option("--min-gate-frames", type=int, default=_Q.min_gate_frames, show_default=True,
              help="Gate: fewer agreement frames (val + train frames calibration did not use + augmented copies) fail.")
@click.option("--kernels", type=click.Choice(["target", "default", "exact"]), default="target", show_default=True,
              help="Integer kernels that score ONNX INT8: exact = ORT's int32-exact x86 kernels (what ARM computes); "
                   "target = the target's choice.")
@click.option("--diagnose/--no-diagnose", default=True, show_default=True,
              help="Write per-tensor SQNR reports (worst layers first) to OUT/<backend>/diagnose.md.")
@click.option("--max-fallbacks", type=int, default=_Q.max_fallbacks,
              help="Try at most this many fallback recipes per backend after the first (default: all).")
@click.option("--qat/--no-qat", default=_Q.qat, show_default=True,
              help="A backend that fails its gate gets one more try on quantization-aware fine-tuned weights.")
def quantize_cmd(model_dir: Path, onnx_path: Path, data: Path, out: Path, backend: str, target: str,
                 calibration_frames: int, max_drop: float, min_agreement: float, min_gate_frames: int,
                 kernels: str, diagnose: bool, max_fallbacks: int | None, qat: bool) -> None:
    """INT8 artifacts of a student through NNCF, ONNX Runtime and LiteRT, each behind the accuracy gate.

    Example:
    fetaledge quantize work/student/model --onnx work/export/student.onnx --data work/cache --out work/quant
    """
    from fetaledge.data.cache import FrameCache
    from fetaledge.export.pipeline import raw_model_from_dir  # noqa: F401  (fails early without torch)
    from fetaledge.quantization import BACKENDS, quantize_student
    from fetaledge.targets import get_target

    backends = BACKENDS if backend == "all" else tuple(b.strip() for b in backend.split(","))
    cache = FrameCache(data)
    raw_hw = (int(cache.manifest["raw_height"]), int(cache.manifest["raw_width"]))
    tgt = get_target(target)
    summary = quantize_student(model_dir=model_dir, fp32_onnx=onnx_path, cache=cache, out_dir=out,
                               backends=backends, recipes=tgt.recipes,
                               n_calibration=calibration_frames, max_drop=max_drop, min_agreement=min_agreement,
                               raw_hw=raw_hw, kernels=tgt.int8_kernels if kernels == "target" else kernels,
                               min_gate_frames=min_gate_frames, diagnose=diagnose, max_fallbacks=max_fallbacks,
                               qat=qat, log=click.echo)
    click.echo(quantize_table(summary))


def quantize_table(summary: dict) -> str:
    rows = [f"{'backend':<12} {'gate':<7} {'F1 fp32':>8} {'F1 int8':>8} {'agree':>7} {'n':>5} {'mean|dp|':>8} "
            f"{'MB':>6} {'input':>6}  float ops"]
    for b, e in summary["backends"].items():
        if "skipped" in e:
            rows.append(f"{b:<12} skipped  {e['skipped']}")
            continue
        def f(k: str, e: dict = e) -> str:
            return f"{e[k]:.4f}" if e.get(k) is not None else "-"

        mb = f"{e['size_bytes'] / 1e6:.2f}" if "size_bytes" in e else "-"
        rows.append(f"{b:<12} {'PASS' if e['passed'] else 'FAIL':<7} {f('f1_fp32'):>8} {f('f1_int8'):>8} "
                    f"{f('agreement'):>7} {e.get('n_gate', '-'):>5} {f('mean_abs_p_diff'):>8} {mb:>6} "
                    f"{e.get('input_dtype', '-'):>6}  {', '.join(e.get('float_ops', []))}")
    return "\n".join(rows)


@click.command("build")
@click.option("--target", required=True, help="arm64 | android-arm64 | x86_64 (see fetaledge/targets.py).")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Bundle folder (a .zip is written beside).")
@click.option("--work", type=click.Path(path_type=Path), default=Path("work"), show_default=True,
              help="Folder of intermediate stages (reused when inputs are unchanged).")
@click.option("--data", type=click.Path(path_type=Path), default=None,
              help="ACOUSLIC-AI folder or prepared cache (default: the synthetic phantom).")
@click.option("--weights", type=click.Path(path_type=Path), default=None,
              help="FetalCLIP_weights.pt (default: the tiny untrained stand-in teacher).")
@click.option("--device", default="cpu", show_default=True, help="cpu | cuda for the training stages.")
@click.option("--config", "config_path", type=click.Path(path_type=Path), default=None,
              help="JSON with sections phantom, data, finetune, distill, quantize, segment, bundle "
                   "(fetaledge/config.py); an unknown key is an error. The resolved config is saved as "
                   "BUNDLE/build_config.json.")
@click.option("--android-assets", type=click.Path(path_type=Path), default=None,
              help="Also copy the bundle to PATH/bundle (e.g. android_demo/app/src/main/assets).")
def build_cmd(target: str, out: Path, work: Path, data: Path | None, weights: Path | None, device: str,
              config_path: Path | None, android_assets: Path | None) -> None:
    """Run whichever pipeline stages are missing and write the bundle for one target.

    Example: fetaledge build --target arm64 --out bundle
    """
    from fetaledge.build import BuildOptions, build, load_config
    from fetaledge.targets import get_target

    get_target(target)  # an unknown target fails before any work
    config = load_config(config_path)  # and so does a bad config
    if weights is None:
        click.echo("warning: no --weights: the teacher is the tiny UNTRAINED stand-in, not FetalCLIP", err=True)
    build(BuildOptions(target=target, out=out, work=work, data=data, weights=weights, device=device,
                       config=config, android_assets=android_assets), log=click.echo)


def _threads(text: str) -> tuple[int, ...]:
    import os

    out = []
    for part in text.split(","):
        part = part.strip().lower()
        if part in ("all", "max"):
            out.append(os.cpu_count() or 1)
        elif part.isdigit() and int(part) > 0:
            out.append(int(part))
        else:
            raise click.BadParameter(f"{text!r}: give thread counts like 1,all or 1,4")
    return tuple(dict.fromkeys(out))


@click.command("bench")
@click.option("--work", type=click.Path(path_type=Path), default=None,
              help="Work folder of `fetaledge build` (not needed with --device-only).")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Folder for the reports.")
@click.option("--target", default=None,
              help="Build target whose INT8 artifacts to include: arm64 | android-arm64 | x86_64 (with --work).")
@click.option("--bundle", type=click.Path(path_type=Path), default=None,
              help="Bundle folder: marks what ships, measures peak memory over a full case, and is what "
                   "--emulate and --device-only run.")
@click.option("--emulate", is_flag=True, help="Also run the bundle under qemu arm64 (arm targets; EMULATED report).")
@click.option("--device-only", is_flag=True,
              help="Time the bundle's models with the torch-free runtime only (run this ON the device).")
@click.option("--label", default=None, help="Report file stem (default: the target, or 'device').")
@click.option("--threads", "threads_text", default="1,all", show_default=True, help="Thread counts to time.")
@click.option("--split", default="test", show_default=True, help="Split scored for F1 and WFSS.")
@click.option("--warmup", type=int, default=5, show_default=True, help="Untimed frames per measurement.")
@click.option("--iters", type=int, default=20, show_default=True, help="Timed frames per repeat.")
@click.option("--repeats", type=int, default=5, show_default=True, help="Repeats; the latency is their median.")
@click.option("--reference", type=click.Choice(["distill", "untrained", "skip"]), default="distill",
              show_default=True, help="fastvit_mci0 when the build did not distil it: distil it into "
                                      "WORK/reference, export an UNTRAINED one, or leave it out.")
@click.option("--fetalclip-frames", type=int, default=3, show_default=True,
              help="Frames timed on the full-size FetalCLIP ViT-L/14 with random weights (0 skips; ~5 s each).")
@click.option("--case-frames", type=int, default=140, show_default=True,
              help="Frames per sweep of the full phantom case for peak memory (140 = 840 frames; 0 skips).")
@click.option("--emulate-cases", type=int, default=0, show_default=True,
              help="Test-split cases run under emulation besides the goldens (slow: qemu takes seconds a frame).")
@click.option("--emulate-case-frames", type=int, default=10, show_default=True,
              help="Also emulate one rendered phantom case of 6 x N frames (0 skips).")
@click.option("--case", "case_path", type=click.Path(path_type=Path), default=None,
              help="--device-only: a case .mha whose whole run gives the peak memory.")
@click.option("--arm-count", is_flag=True,
              help="Also count aarch64 instructions per frame (qemu insn plugin; cortex-a53 and cortex-a76) of the "
                   "default student's fp32 and INT8 artifacts: instruction counts, not time.")
def bench_cmd(work: Path | None, out: Path, target: str | None, bundle: Path | None, emulate: bool,
              device_only: bool, label: str | None, threads_text: str, split: str, warmup: int, iters: int,
              repeats: int, reference: str, fetalclip_frames: int, case_frames: int, emulate_cases: int,
              emulate_case_frames: int, case_path: Path | None, arm_count: bool) -> None:
    """Benchmark every artifact of a build: latency (1 thread and all cores), memory, size, F1, WFSS;
    side by side with the teacher and fastvit_mci0; JSON + Markdown + PNG into --out.

    Example: fetaledge bench --work work --bundle bundle --target arm64 --emulate --out results --label phantom

    On a device: fetaledge bench --bundle bundle --device-only --out results --label my-tablet
    """
    from fetaledge.errors import FetaledgeError

    threads = _threads(threads_text)
    if min(warmup, iters - 1, repeats - 1) < 0:
        raise FetaledgeError("--iters and --repeats must be >= 1 and --warmup >= 0")
    if device_only:
        if bundle is None:
            raise FetaledgeError("--device-only times a bundle", hint="add --bundle BUNDLE_DIR")
        if emulate or arm_count:
            raise FetaledgeError("--device-only runs on the device itself; --emulate and --arm-count are for the "
                                 "build host")
        from fetaledge.bench.run import bench_device

        r = bench_device(bundle, out, threads=threads, warmup=warmup, iters=iters, repeats=repeats,
                         label=label or "device", case=case_path, log=click.echo)
    else:
        if work is None or target is None:
            raise FetaledgeError("--work and --target are required (or --device-only with --bundle)",
                                 hint="e.g. fetaledge bench --work work --target arm64 --out results")
        from fetaledge.bench.run import bench_work
        from fetaledge.targets import get_target

        get_target(target)
        r = bench_work(work, out, target=target, threads=threads, split=split, warmup=warmup, iters=iters,
                       repeats=repeats, emulate=emulate, bundle=bundle, label=label or target,
                       reference=reference, fetalclip_frames=fetalclip_frames, case_frames=case_frames,
                       emulate_cases=emulate_cases, emulate_case_frames=emulate_case_frames,
                       arm_count=arm_count, log=click.echo)
    for t, f in r["fastest"].items():
        if f:
            click.echo(f"fastest at {t} thread(s): {f['name']} ({f['runtime']}, {f['precision']}) "
                       f"{f['latency_ms']:.2f} ms")
    click.echo(f"wrote {', '.join(str(Path(out) / n) for n in r['files'])}")


def _measure_frames(bundle: Path, inputs: tuple[Path, ...], json_out: Path | None, png_out: Path | None,
                    threads: int | None, spacing_mm: tuple[float, float] | None) -> None:
    """``infer`` on a segmentation bundle (measurement.json): circumference, flag, GA; PNGs with the ellipse."""
    from fetaledge.fsio import write_json
    from fetaledge.runtime.measure_infer import measure_files

    png_dir = png_out if png_out is not None else (Path(json_out).parent if json_out else None)
    r = measure_files(bundle, list(inputs), spacing_mm, threads or 1, png_dir)
    for f in r["frames"]:
        mm = ("no measurement" if f["circumference_mm"] is None
              else f"{r['structure'].upper()} {f['circumference_mm']:.1f} mm")
        ga = f"  GA {f['gestational_age']}" if f["gestational_age"] else (f"  ({f['note']})" if f["note"] else "")
        flag = f["status"] if not f["reasons"] else f"{f['status']} ({', '.join(f['reasons'])})"
        click.echo(f"{Path(f['file']).name}: {mm}  {flag}{ga}")
    if json_out:
        write_json(json_out, r)
        click.echo(f"wrote {json_out}")
    if png_dir is not None:
        click.echo(f"wrote {len(r['frames'])} PNG(s) with the fitted ellipse to {png_dir}")


def register(main: click.Group) -> None:
    """Add the edge commands to the ``fetaledge`` group."""
    for cmd in (build_cmd, export_cmd, quantize_cmd, verify_cmd, infer_cmd, bench_cmd):
        main.add_command(cmd)
