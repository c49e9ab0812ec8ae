"""The AC counterpart of the HC18 report: a segmentation student on the synthetic phantom, measured on whole
cases through the torch-free runtime, against the phantom's known ellipses.

    python benchmarks/hc18_phantom_ac.py --work work/phantom_ac [--train-sweeps 60] [--test-cases 4] [--epochs 8]

Training frames come from "cross" sweeps rendered by ``fetaledge.data.phantom`` (the frames near the AC level,
where the phantom's masks live, and a few away from it); the student's grid is the letterbox of the 562x744
frame to 96x128 (the same TinyUNet and trainer as ``benchmarks/hc18.py``). Whole test cases (six sweeps each,
rendered by ``render_case``) go through the exported fp32 ONNX and its ORT INT8 artifact; every frame is
measured (``fetaledge.runtime.biometry``: inverse letterbox, ACOUSLIC spacing 0.28 mm, the fan as field of
view); per sweep the frame measured is the "ok" frame with the largest mask area (the rule needs no classifier;
the shipped bundle, which uses the classifier's chosen frame, is scored by ``benchmarks/phantom_ac_bundle.py``).
Scored per annotated sweep against the
phantom's AC (Ramanujan of the section's semi-axes at the AC level x 0.28 mm), with the challenge's
normalised AC error ``abs(pred - ref) / ref`` (DIAGNijmegen/ACOUSLIC-AI-evaluation-method); the same rule on
the ground-truth masks is the floor of frame choice + measurement.
Writes ``benchmarks/results/hc18_phantom_ac.{md,json}``.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from hc18 import cpu_isa, latency_ms, log  # noqa: E402

from fetaledge.data import layout as L  # noqa: E402
from fetaledge.data.phantom import (  # noqa: E402
    S_AC,
    SUBOPTIMAL_BAND,
    PhantomConfig,
    SceneRenderer,
    _body_profile,
    plan_sweep,
    render_case,
)
from fetaledge.data.phantom_render import Fan  # noqa: E402
from fetaledge.fsio import atomic_path, write_json  # noqa: E402
from fetaledge.runtime.geometry import letterbox  # noqa: E402
from fetaledge.runtime.measure import FrameMap, measure_mask  # noqa: E402
from fetaledge.runtime.measure_params import MeasureParams  # noqa: E402

GRID = (96, 128)
N_FRAMES = 40


def _ramanujan(a: float, b: float) -> float:
    return math.pi * (3 * (a + b) - math.sqrt((3 * a + b) * (a + 3 * b)))


def render_training(n_sweeps: int, seed: int, fan: Fan) -> dict:
    """Frames near the AC level of cross sweeps (+ 2 away from it): grid frames, soft masks, per-frame AC (mm)."""
    cfg = PhantomConfig(cases=1, frames_per_sweep=N_FRAMES, seed=seed)
    frames, masks, ref, pos = [], [], [], []
    for k in range(n_sweeps):
        rng = np.random.default_rng(np.random.SeedSequence([seed, 1000 + k]))
        renderer = SceneRenderer(rng, cfg, fan)
        plan = plan_sweep(rng, "cross", N_FRAMES, cfg)
        near = [i for i in range(N_FRAMES) if abs(plan.s[i] - S_AC) < SUBOPTIMAL_BAND + 0.02]
        away = [i for i in rng.choice(N_FRAMES, 2, replace=False) if i not in near]
        for i in near + away:
            img, inside, label = renderer.render(plan, i)
            prof = float(_body_profile(np.array([plan.s[i]]))[0])
            ex = 1.0 / max(math.cos(min(plan.tilt[i], 1.2)), 0.35)
            frames.append(letterbox(img, *GRID))
            masks.append(letterbox(inside.astype(np.uint8) * 255 if label else np.zeros_like(img), *GRID))
            ref.append(_ramanujan(plan.radius[0] * prof * ex, plan.radius[1] * prof) * L.SPACING_MM
                       if label else float("nan"))
            pos.append(bool(label))
        if (k + 1) % 10 == 0:
            log(f"training sweeps {k + 1}/{n_sweeps}: {len(frames)} frames, {sum(pos)} with a mask")
    return {"frames": np.stack(frames), "masks": np.stack(masks), "ref_mm": np.array(ref), "pos": np.array(pos)}


def training_arrays(args, fan: Fan) -> dict:
    path = args.work / f"train_{args.train_sweeps}.npz"
    if not path.is_file():
        arrays = render_training(args.train_sweeps, 11, fan)
        with atomic_path(path, suffix=".npz") as tmp:
            np.savez(tmp, **arrays)
    z = np.load(path)
    return {k: z[k] for k in z.files}


def test_cases(args, fan: Fan) -> list[dict]:
    path = args.work / f"test_{args.test_cases}.npz"
    if not path.is_file():
        out = {}
        cfg = PhantomConfig(cases=args.test_cases, frames_per_sweep=N_FRAMES, seed=97)
        for c in range(args.test_cases):
            frames, masks, acs = render_case(cfg, c, fan)
            out[f"frames_{c}"], out[f"masks_{c}"], out[f"acs_{c}"] = frames, masks, np.array(acs)
            log(f"test case {c + 1}/{args.test_cases} rendered")
        with atomic_path(path, suffix=".npz") as tmp:
            np.savez(tmp, **out)
    z = np.load(path)
    return [{"frames": z[f"frames_{c}"], "masks": z[f"masks_{c}"], "acs": z[f"acs_{c}"]}
            for c in range(args.test_cases)]


def train(args, arrays: dict):
    import torch

    from fetaledge.models.seg_students import seg_student
    from fetaledge.train.seg_distill import SegSet, SegTrainConfig, train_seg_student

    ckpt = args.work / f"seg_unet8_e{args.epochs}.pt"
    if ckpt.is_file():
        saved = torch.load(ckpt, weights_only=False)
        model = seg_student("unet8")
        model.load_state_dict(saved["state_dict"])
        return model.eval(), saved
    n = len(arrays["frames"])
    rng = np.random.default_rng(0)
    val = np.zeros(n, bool)
    val[rng.choice(np.flatnonzero(arrays["pos"]), max(8, int(0.1 * arrays["pos"].sum())), replace=False)] = True
    hw = (L.FRAME_HEIGHT, L.FRAME_WIDTH)

    def subset(sel):
        return SegSet(arrays["frames"][sel], arrays["masks"][sel], hw, np.full(int(sel.sum()), L.SPACING_MM),
                      arrays["ref_mm"][sel])

    cfg = SegTrainConfig(student="unet8", out_h=GRID[0], out_w=GRID[1], epochs=args.epochs, threads=args.threads)
    log(f"training on {int((~val).sum())} frames ({int(arrays['pos'][~val].sum())} with a mask), "
        f"validating on {int(val.sum())}")
    res = train_seg_student(cfg, subset(~val), subset(val), progress=log)
    saved = {"config": cfg.to_dict(), "state_dict": res.model.state_dict(), "history": res.history,
             "best_epoch": res.best_epoch, "seconds": res.seconds}
    with atomic_path(ckpt, suffix=".pt") as tmp:
        torch.save(saved, tmp)
    return res.model.eval(), saved


def _sweep_choice(measurements: list) -> tuple[int, float | None]:
    """The ok frame with the largest mask area: (frame, AC mm) or (-1, None)."""
    best, area = -1, -1.0
    for i, m in enumerate(measurements):
        if m.status == "ok" and m.area_mm2 > area:
            best, area = i, m.area_mm2
    return best, (measurements[best].circumference_mm if best >= 0 else None)


def evaluate_cases(cases: list[dict], logits_of, fan: Fan) -> list[dict]:
    """Per sweep: the chosen frame, its AC, the reference AC (NaN when the sweep has none)."""
    fmap = FrameMap.letterbox(L.FRAME_HEIGHT, L.FRAME_WIDTH, *GRID)
    params = MeasureParams()
    rows = []
    for c, case in enumerate(cases):
        probs = logits_of(case["frames"]) if logits_of is not None else None
        for k in range(L.N_SWEEPS):
            sl = range(k * N_FRAMES, (k + 1) * N_FRAMES)
            if probs is None:  # ground-truth masks, full size
                ms = [measure_mask(case["masks"][i] > 0, FrameMap.identity(L.FRAME_HEIGHT, L.FRAME_WIDTH),
                                   L.SPACING_MM, params, fan.mask) for i in sl]
            else:
                ms = [measure_mask(probs[i], fmap, L.SPACING_MM, params, fan.mask) for i in sl]
            frame, ac = _sweep_choice(ms)
            ref = float(case["acs"][k])
            rows.append({"case": c, "sweep": k + 1, "frame": frame, "ac_mm": ac, "ref_mm": None if math.isnan(ref)
                         else ref, "label_of_frame": None if frame < 0 else int(case["masks"][sl[frame]].max())})
    return rows


def summarise(rows: list[dict]) -> dict:
    ann = [r for r in rows if r["ref_mm"] is not None]
    hit = [r for r in ann if r["ac_mm"] is not None]
    err = np.array([abs(r["ac_mm"] - r["ref_mm"]) for r in hit])
    nae = np.array([abs(r["ac_mm"] - r["ref_mm"]) / r["ref_mm"] for r in hit])
    empty = [r for r in rows if r["ref_mm"] is None]
    return {"annotated_sweeps": len(ann), "measured": len(hit),
            "ac_mae_mm": float(err.mean()) if len(err) else None,
            "ac_median_abs_mm": float(np.median(err)) if len(err) else None,
            "normalised_ac_error_mean": float(nae.mean()) if len(nae) else None,
            # the challenge scores a missing measurement of an annotated sweep as error 1
            "normalised_ac_error_with_misses": float((nae.sum() + (len(ann) - len(hit))) / len(ann)) if ann else None,
            "sweeps_without_plane": len(empty),
            "measured_in_sweeps_without_plane": sum(r["ac_mm"] is not None for r in empty),
            "chosen_frame_labels": {str(k): sum(r["label_of_frame"] == k for r in hit) for k in (0, 1, 2)}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, default=ROOT / "work" / "phantom_ac")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    ap.add_argument("--train-sweeps", type=int, default=60)
    ap.add_argument("--test-cases", type=int, default=4)
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    fan = Fan()
    arrays = training_arrays(args, fan)
    cases = test_cases(args, fan)
    model, saved = train(args, arrays)
    from fetaledge.export.seg_onnx import export_seg_onnx, quantize_seg_ort, run_seg_onnx

    fp32 = export_seg_onnx(model, L.FRAME_HEIGHT, L.FRAME_WIDTH, *GRID, args.work / "seg_phantom.onnx")
    log("quantizing (ORT S8S8); calibration: every 4th frame of a case of the training seed, not a test case")
    calib = render_case(PhantomConfig(cases=1, frames_per_sweep=N_FRAMES, seed=11), 0, fan)[0][::4]
    art = quantize_seg_ort(fp32, calib, args.work / "int8")

    def logits_of(path):
        return lambda frames: 1.0 / (1.0 + np.exp(-run_seg_onnx(path, frames)))

    log("whole test cases: ground-truth masks, fp32, INT8")
    t0 = time.perf_counter()
    rows = {"ground_truth_masks": evaluate_cases(cases, None, fan),
            "student_fp32": evaluate_cases(cases, logits_of(fp32), fan),
            "student_int8_ort": evaluate_cases(cases, logits_of(art.path), fan)}
    log(f"evaluated in {time.perf_counter() - t0:.0f} s")
    summary = {k: summarise(v) for k, v in rows.items()}
    both = [(a["ac_mm"], b["ac_mm"]) for a, b in zip(rows["student_fp32"], rows["student_int8_ort"], strict=True)
            if a["ac_mm"] is not None and b["ac_mm"] is not None and a["frame"] == b["frame"]]
    same_frame = float(np.mean([a["frame"] == b["frame"] for a, b in zip(rows["student_fp32"],
                                                                          rows["student_int8_ort"], strict=True)]))
    out = {"host": cpu_isa(), "grid": list(GRID), "spacing_mm": L.SPACING_MM,
           "train": {"sweeps": args.train_sweeps, "frames": int(len(arrays["frames"])),
                     "with_mask": int(arrays["pos"].sum()), "epochs": args.epochs, "best_epoch": saved["best_epoch"],
                     "seconds": saved["seconds"], "history": saved["history"]},
           "test": {"cases": args.test_cases, "frames_per_sweep": N_FRAMES, "seed": 97},
           "summary": summary,
           "int8_vs_fp32": {"same_chosen_frame": same_frame,
                            "mean_abs_mm_diff_same_frame": float(np.mean([abs(a - b) for a, b in both]))
                            if both else None},
           "latency_ms_1thread_ort": {"fp32": latency_ms(fp32, cases[0]["frames"][0]),
                                      "int8": latency_ms(art.path, cases[0]["frames"][0])},
           "per_sweep": rows}
    write_json(args.out / "hc18_phantom_ac.json", out)
    write_md(out, args.out / "hc18_phantom_ac.md")
    log(f"wrote {args.out / 'hc18_phantom_ac.md'}")


def _v(x, fmt: str = ".2f") -> str:
    return "n/a" if x is None else format(x, fmt)


def write_md(o: dict, path: Path) -> None:
    lines = ["# Phantom: abdominal circumference on whole cases through the torch-free runtime", "",
             f"Host: {o['host']}. Command: `python benchmarks/hc18_phantom_ac.py` (work folder cached). "
             f"Student: unet8 on a {o['grid'][0]}x{o['grid'][1]} grid (562x744 frame in the graph), trained on "
             f"{o['train']['frames']} phantom frames ({o['train']['with_mask']} with a mask) from "
             f"{o['train']['sweeps']} cross sweeps, {o['train']['epochs']} epochs ({o['train']['seconds']:.0f} s), "
             f"kept epoch {o['train']['best_epoch'] + 1}. Test: {o['test']['cases']} whole phantom cases "
             f"(6 sweeps x {o['test']['frames_per_sweep']} frames, seed {o['test']['seed']}, never used before).",
             "", "Per sweep the measured frame is the 'ok' frame with the largest mask area; the reference is the "
             "phantom's AC of that sweep (exact ellipse, Ramanujan x 0.28 mm). Normalised AC error = "
             "abs(pred - ref) / ref (ACOUSLIC-AI evaluation); 'with misses' scores an annotated sweep without a "
             "measurement as 1.", "",
             "| | annotated sweeps measured | AC MAE mm | median abs mm | normalised AC error | with misses | "
             "sweeps without a plane that got a number | chosen frame label 1/2/0 |",
             "|---|---|---|---|---|---|---|---|"]
    for k, s in o["summary"].items():
        lab = s["chosen_frame_labels"]
        lines.append(f"| {k} | {s['measured']}/{s['annotated_sweeps']} | {_v(s['ac_mae_mm'])} | "
                     f"{_v(s['ac_median_abs_mm'])} | {_v(s['normalised_ac_error_mean'], '.4f')} | "
                     f"{_v(s['normalised_ac_error_with_misses'], '.4f')} | "
                     f"{s['measured_in_sweeps_without_plane']}/{s['sweeps_without_plane']} | "
                     f"{lab['1']}/{lab['2']}/{lab['0']} |")
    iv = o["int8_vs_fp32"]
    lines += ["", f"INT8 vs fp32: same chosen frame in {iv['same_chosen_frame']:.3f} of sweeps; mean |AC difference| "
              f"on those {_v(iv['mean_abs_mm_diff_same_frame'], '.3f')} mm. ORT 1-thread latency per 562x744 frame: "
              f"fp32 {o['latency_ms_1thread_ort']['fp32']:.2f} ms, INT8 {o['latency_ms_1thread_ort']['int8']:.2f} ms.",
              "", f"Read with care: {o['summary']['student_fp32']['annotated_sweeps']} annotated sweeps in "
              f"{o['test']['cases']} cases is a tiny sample, and the student is undertrained (a CPU budget of "
              f"{o['train']['epochs']} epochs on 2 shared cores). The ground-truth row isolates the runtime (frame "
              "choice + measurement): its error is the measurement's. A student that segments sections in sweeps "
              "without a usable plane (the 'sweeps without a plane that got a number' column) shows why the bundle "
              "must take the frame from the classifier's decision logic, not from the mask alone.",
              "", "The ellipse-to-mm code against the phantom's analytic circumference on clean masks: within 0.5 % "
              "(tests/test_measure.py::test_phantom_ellipses_measure_within_half_a_percent_of_the_analytic_"
              "circumference).", ""]
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines))


if __name__ == "__main__":
    main()
