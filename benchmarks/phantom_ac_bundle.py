"""Phantom: the abdominal circumference of the SHIPPED bundle, through the torch-free runtime, on whole fresh cases.

    python benchmarks/phantom_ac_bundle.py --bundle bundle            # a bundle built by `fetaledge build`
    python benchmarks/phantom_ac_bundle.py --build work/acb           # build the default bundle first (README)

The bundle is what ``fetaledge build --target arm64`` writes on the embedded phantom (no data): a classifier and a
segmentation model in one bundle (``iqa_spec.json`` task "classification+measurement"). Whole cases (six sweeps of
the build's length) are rendered with a phantom seed the build never used (``--seed``), written as .mha stacks and
run exactly as ``fetaledge infer`` runs them (:func:`fetaledge.runtime.classifier.process_case` then
:func:`fetaledge.runtime.measure_case.measure_chosen_frames`: the classifier's decision logic chooses each sweep's
frame and the case's, the segmentation model measures it), once with the shipped INT8 pair and once with the fp32
fallbacks. No torch is imported.

Scored per case, as the ACOUSLIC-AI challenge scores a case: the AC of the case's chosen frame when its flag is "ok"
(a "rescan" or "none" flag or no chosen frame is a miss: the app shows no number) against the phantom's known AC:
Ramanujan's circumference of the section's semi-axes at the AC level x 0.28 mm, the value of the circumference CSV
(``fetaledge.data.phantom.render_case``), of the sweep the frame lies in; a frame chosen in a sweep without a plane
is scored against the mean of the case's annotated sweeps (and counted). Normalised AC error
``abs(pred - ref) / ref`` (DIAGNijmegen/ACOUSLIC-AI-evaluation-method); "with misses" scores a missed case as 1.
95 % CIs: percentile bootstrap over cases (2000 resamples). Per sweep: every usable sweep's chosen frame, the same way.
Writes ``benchmarks/results/phantom_ac_bundle.{md,json}``.
"""

from __future__ import annotations

import argparse
import math
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from hc18 import cpu_isa, log  # noqa: E402

from fetaledge.data.phantom import PhantomConfig, render_case, write_stack  # noqa: E402
from fetaledge.data.phantom_render import Fan  # noqa: E402
from fetaledge.fsio import atomic_path, read_json, write_json  # noqa: E402
from fetaledge.runtime.classifier import FrameClassifier, process_case  # noqa: E402
from fetaledge.runtime.infer import sweep_bounds  # noqa: E402
from fetaledge.runtime.measure_case import FrameMeasurer, measure_chosen_frames  # noqa: E402
from fetaledge.runtime.mha import MhaStack  # noqa: E402
from fetaledge.runtime.spec import load_spec  # noqa: E402


def render_cases(work: Path, n: int, seed: int, frames_per_sweep: int) -> list[dict]:
    """Write ``n`` fresh cases as .mha stacks (cached) and return their paths and per-sweep reference AC (mm)."""
    cfg = PhantomConfig(cases=n, seed=seed, frames_per_sweep=frames_per_sweep)
    out, fan = [], Fan()
    for c in range(n):
        path = work / f"case_{seed}_{frames_per_sweep}_{c:03d}.mha"
        meta = path.with_suffix(".json")
        if not (path.is_file() and meta.is_file()):
            frames, masks, acs = render_case(cfg, c, fan)
            labels = [int(masks[k].max()) for k in range(len(masks))]
            write_stack(frames, path)
            write_json(meta, {"acs": [None if math.isnan(a) else a for a in acs], "labels": labels})
            log(f"rendered case {c + 1}/{n}")
        out.append({"path": path, **read_json(meta, "case meta")})
    return out


def run_case(clf: FrameClassifier, meas: FrameMeasurer, path: Path) -> dict:
    with MhaStack(path) as stack:
        bounds, _ = sweep_bounds(len(stack))
        results, case = process_case(clf, (stack.frames(a, b) for a, b in bounds))
        sweeps = [{"verdict": r.verdict.to_dict()} for r in results]
        m = measure_chosen_frames(meas, stack.frame, sweeps, case.frame, [a for a, _ in bounds])
    return {"case": case.to_dict(), "sweeps": sweeps, "measurement": m, "per_sweep": bounds[0][1] - bounds[0][0]}


def score(cases: list[dict], runs: list[dict]) -> tuple[list[dict], list[dict]]:
    """(per case rows, per usable-sweep rows) with prediction, reference and the normalised error."""
    case_rows, sweep_rows = [], []
    for c, (meta, r) in enumerate(zip(cases, runs, strict=True)):
        acs = meta["acs"]
        annotated = [a for a in acs if a is not None]
        per = r["per_sweep"]
        row = r["measurement"]["case"]
        frame = r["case"]["frame"]
        sweep = frame // per if frame >= 0 else None
        ref = (acs[sweep] if sweep is not None and acs[sweep] is not None
               else (float(np.mean(annotated)) if annotated else None))
        pred = row["circumference_mm"] if row is not None and row["status"] == "ok" else None
        case_rows.append({"case": c, "frame": frame, "sweep": sweep, "status": None if row is None else row["status"],
                          "reasons": [] if row is None else row["reasons"], "pred_mm": pred, "ref_mm": ref,
                          "label_of_frame": meta["labels"][frame] if frame >= 0 else None,
                          "frame_in_sweep_without_plane": sweep is not None and acs[sweep] is None,
                          "annotated_sweeps": len(annotated)})
        for k, srow in enumerate(r["measurement"]["sweeps"]):
            if srow is None:
                continue
            sweep_rows.append({"case": c, "sweep": k, "frame": srow["frame"], "status": srow["status"],
                               "pred_mm": srow["circumference_mm"] if srow["status"] == "ok" else None,
                               "ref_mm": acs[k], "label_of_frame": meta["labels"][srow["frame"]]})
    return case_rows, sweep_rows


def _ci(values: np.ndarray, rng: np.random.Generator, n: int = 2000) -> list[float] | None:
    if len(values) < 2:
        return None
    means = values[rng.integers(0, len(values), (n, len(values)))].mean(axis=1)
    return [float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))]


def summarise(rows: list[dict], seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    scorable = [r for r in rows if r["ref_mm"] is not None]
    hit = [r for r in scorable if r["pred_mm"] is not None]
    err = np.array([abs(r["pred_mm"] - r["ref_mm"]) for r in hit])
    nae = np.array([abs(r["pred_mm"] - r["ref_mm"]) / r["ref_mm"] for r in hit])
    with_miss = np.array([*nae, *([1.0] * (len(scorable) - len(hit)))])
    return {"n": len(rows), "scorable": len(scorable), "measured_ok": len(hit), "misses": len(scorable) - len(hit),
            "ac_mae_mm": float(err.mean()) if len(err) else None, "ac_mae_mm_ci": _ci(err, rng),
            "ac_median_abs_mm": float(np.median(err)) if len(err) else None,
            "ac_max_abs_mm": float(err.max()) if len(err) else None,
            "bias_mm": float(np.mean([r["pred_mm"] - r["ref_mm"] for r in hit])) if hit else None,
            "normalised_ac_error": float(nae.mean()) if len(nae) else None, "normalised_ac_error_ci": _ci(nae, rng),
            "normalised_ac_error_with_misses": float(with_miss.mean()) if len(with_miss) else None,
            "normalised_ac_error_with_misses_ci": _ci(with_miss, rng),
            "statuses": {"no_frame" if s is None else s: sum(r["status"] == s for r in rows)
                         for s in ("ok", "rescan", "none", None)},
            "chosen_frame_labels": {str(k): sum(r["label_of_frame"] == k for r in hit) for k in (0, 1, 2)},
            "chosen_in_sweep_without_plane": sum(bool(r.get("frame_in_sweep_without_plane")) for r in rows)}


def build_default(work: Path) -> Path:
    """``fetaledge build --target arm64`` on the embedded phantom (the README's first command); returns the bundle."""
    bundle = work / "bundle"
    cmd = [sys.executable, "-m", "fetaledge.cli", "build", "--target", "arm64", "--out", str(bundle), "--work",
           str(work / "work")]
    log("building: " + shlex.join(cmd))
    subprocess.run(cmd, check=True, cwd=ROOT)
    return bundle


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--bundle", type=Path, help="a bundle that measures (fetaledge build)")
    src.add_argument("--build", type=Path, help="build the default bundle under this folder first")
    ap.add_argument("--cases", type=int, default=24)
    ap.add_argument("--seed", type=int, default=2026, help="phantom seed of the test cases (the build uses 0)")
    ap.add_argument("--work", type=Path, default=ROOT / "work" / "phantom_ac_bundle")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    bundle = build_default(args.build) if args.build else args.bundle
    spec = load_spec(bundle / "iqa_spec.json")
    if spec.task.measurement is None:
        sys.exit(f"{bundle}: this bundle does not measure (task.kind {spec.task.kind!r}); build it with the segment "
                 "stage")
    build_cfg = read_json(bundle / "build_config.json", "build config")
    if build_cfg["phantom"]["seed"] == args.seed:
        sys.exit(f"--seed {args.seed} is the build's phantom seed: pick a fresh one")
    fps = int(build_cfg["phantom"]["frames_per_sweep"])
    args.work.mkdir(parents=True, exist_ok=True)
    cases = render_cases(args.work, args.cases, args.seed, fps)
    clf_models = [m.name for m in spec.models]
    seg_models = [m.name for m in spec.task.measurement.models]
    pairs = {"shipped": (clf_models[0], seg_models[0]), "fp32": (
        next(m.name for m in spec.models if m.precision == "fp32"),
        next(m.name for m in spec.task.measurement.models if m.precision == "fp32"))}
    out: dict = {"host": cpu_isa(), "command": "python " + shlex.join(sys.argv), "bundle": str(bundle),
                 "bundle_target": spec.provenance.get("target"), "cases": args.cases, "seed": args.seed,
                 "frames_per_sweep": fps, "build_phantom": build_cfg["phantom"], "results": {}}
    for label, (clf_name, seg_name) in pairs.items():
        clf = FrameClassifier(bundle, clf_name, args.threads)
        meas = FrameMeasurer(bundle, spec, args.threads, model=seg_name)
        t = time.perf_counter()
        runs = [run_case(clf, meas, c["path"]) for c in cases]
        secs = time.perf_counter() - t
        case_rows, sweep_rows = score(cases, runs)
        out["results"][label] = {"classifier": clf_name, "segmentation": seg_name, "seconds": round(secs, 1),
                                 "per_case": summarise(case_rows),
                                 "per_case_frame_in_a_sweep_with_a_plane": summarise(
                                     [r for r in case_rows if not r["frame_in_sweep_without_plane"]]),
                                 "per_sweep": summarise(sweep_rows),
                                 "cases": case_rows, "sweeps": sweep_rows}
        s = out["results"][label]["per_case"]
        log(f"{label} ({clf_name} + {seg_name}): {s['measured_ok']}/{s['scorable']} cases measured, AC MAE "
            f"{s['ac_mae_mm']} mm, normalised {s['normalised_ac_error']}, with misses "
            f"{s['normalised_ac_error_with_misses']} ({secs:.0f} s)")
    a, b = out["results"]["shipped"]["cases"], out["results"]["fp32"]["cases"]
    same = [(x, y) for x, y in zip(a, b, strict=True) if x["frame"] == y["frame"]]
    both = [abs(x["pred_mm"] - y["pred_mm"]) for x, y in same if x["pred_mm"] is not None and y["pred_mm"] is not None]
    out["shipped_vs_fp32"] = {"same_case_frame": len(same) / len(a), "mean_abs_mm_same_frame":
                              float(np.mean(both)) if both else None, "n_both_measured": len(both)}
    report = read_json(bundle / "report.json", "bundle report")
    out["bundle_report_measurement"] = report.get("measurement")
    out["bundle_stage_seconds"] = report.get("stage_seconds")
    out["bundle_built"] = spec.provenance.get("built")
    from fetaledge.config import BuildConfig, config_to_json

    out["bundle_config_is_default"] = build_cfg == config_to_json(BuildConfig())
    write_json(args.out / "phantom_ac_bundle.json", out)
    write_md(out, args.out / "phantom_ac_bundle.md")
    log(f"wrote {args.out / 'phantom_ac_bundle.md'}")


def _v(x, fmt: str = ".2f") -> str:
    return "n/a" if x is None else format(x, fmt)


def _ci_s(ci, fmt: str = ".2f") -> str:
    return "" if not ci else f" [{format(ci[0], fmt)}, {format(ci[1], fmt)}]"


def write_md(o: dict, path: Path) -> None:
    lines = ["# Phantom: AC of the shipped bundle, torch-free, on whole fresh cases", "",
             f"Host: {o['host']}. Command: `{o['command']}`. Bundle: `{o['bundle']}` (target {o['bundle_target']}; "
             f"built on the embedded phantom, seed {o['build_phantom']['seed']}, {o['build_phantom']['cases']} cases, "
             f"{'the default build config' if o.get('bundle_config_is_default') else 'a NON-default build config'}: "
             "`fetaledge build --target arm64`). "
             f"Test: {o['cases']} whole cases rendered with phantom seed {o['seed']} (never used by the build), six "
             f"sweeps x {o['frames_per_sweep']} frames each, run as `fetaledge infer` runs them (classifier decision "
             "logic chooses the frame, the segmentation model measures it).", "",
             "Per case: the AC of the case's chosen frame if its flag is ok (rescan / none / no frame = miss) vs the "
             "phantom's known AC of that sweep (Ramanujan x 0.28 mm). Normalised AC error = abs(pred - ref) / ref "
             "(ACOUSLIC-AI evaluation); 'with misses' scores a miss as 1. 95 % CIs: bootstrap over cases. A case "
             "whose chosen frame lies in a sweep without a plane is scored against the mean AC of its annotated "
             "sweeps; the phantom draws each sweep's abdomen size anew, so that reference is loose (the second row per "
             "model leaves those cases out). 'per sweep': every usable sweep's chosen frame vs that sweep's AC "
             "(sweeps without a plane have no reference and are not scored).", "",
             "| models | level | scorable | measured ok | misses | AC MAE mm [95 % CI] | median abs mm | bias mm | "
             "normalised AC error [CI] | with misses [CI] | flags ok/rescan/none/no frame |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for label, r in o["results"].items():
        for level in ("per_case", "per_case_frame_in_a_sweep_with_a_plane", "per_sweep"):
            s = r[level]
            st = s["statuses"]
            lines.append(
                f"| {label}: {r['classifier']} + {r['segmentation']} | {level.replace('_', ' ')} | {s['scorable']} | "
                f"{s['measured_ok']} | {s['misses']} | {_v(s['ac_mae_mm'])}{_ci_s(s['ac_mae_mm_ci'])} | "
                f"{_v(s['ac_median_abs_mm'])} | {_v(s['bias_mm'])} | {_v(s['normalised_ac_error'], '.4f')}"
                f"{_ci_s(s['normalised_ac_error_ci'], '.4f')} | {_v(s['normalised_ac_error_with_misses'], '.4f')}"
                f"{_ci_s(s['normalised_ac_error_with_misses_ci'], '.4f')} | {st['ok']}/{st['rescan']}/{st['none']}/"
                f"{st['no_frame']} |")
    iv = o["shipped_vs_fp32"]
    sh = o["results"]["shipped"]["per_case"]
    lines += ["", f"Shipped (INT8) vs fp32: same chosen case frame in {iv['same_case_frame']:.3f} of cases; mean "
              f"|AC difference| where both measured the same frame {_v(iv['mean_abs_mm_same_frame'], '.3f')} mm "
              f"({iv['n_both_measured']} cases).",
              f"Frames chosen in a sweep without a plane (shipped, per case): {sh['chosen_in_sweep_without_plane']}; "
              f"labels of the measured chosen frames 1/2/0: {sh['chosen_frame_labels']['1']}/"
              f"{sh['chosen_frame_labels']['2']}/{sh['chosen_frame_labels']['0']}.", ""]
    m = o.get("bundle_report_measurement") or {}
    if m.get("gate"):
        lines += [f"The bundle's segment stage (from its report): {m['train_frames']} train frames "
                  f"({m['train_with_mask']} with a mask), {m['epochs']} epochs, {m['train_seconds']:.0f} s training, "
                  f"{m['seconds']:.0f} s stage; INT8 gate {'passed' if m['gate']['passed'] else 'failed'} on "
                  f"{m['gate']['n']} val frames (Dice vs fp32 {m['gate']['mean_dice']:.4f}). Build stage seconds "
                  f"({o.get('bundle_built')}): {o.get('bundle_stage_seconds')}.", ""]
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines))


if __name__ == "__main__":
    main()
