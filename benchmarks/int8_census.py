"""INT8 before/after on one host: op census of what ONNX Runtime really runs, and 1-thread latency, in one run.

    .venv/bin/python benchmarks/int8_census.py --work /tmp/fetaledge-bench/work --out benchmarks/results/int8_x86

For the build's exported student (``WORK/export/student.onnx``) it quantizes, with the same calibration frames:

* before: the recipes as they were (ORT per-tensor weights; NNCF with per-channel activation scales), and
* after: the ``x86_64`` target's recipes (ORT U8S8 reduce_range per-channel; NNCF per-tensor activations, all
  moved to uint8; the first three convs in float), plus NNCF per-tensor with its own int8/uint8 mix,

then asks ONNX Runtime for the graph it executes (``optimized_model_filepath``, all optimizations) and counts the
fused integer ops (QLinearConv, QLinearAdd, ...) and the float compute ops left, and measures each artifact's
latency at 1 thread (raw frame -> logit, fresh process each, ``fetaledge.bench.latency``). Ratios are what to
read; absolute times depend on the host (its ISA is in the report).
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/fetaledge-bench/work"), help="a build's work folder")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "int8_x86")
    ap.add_argument("--calibration-frames", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=5, help="interleaved latency rounds (median reported)")
    args = ap.parse_args(argv)

    import numpy as np

    from fetaledge.bench.artifacts import BenchArtifact
    from fetaledge.bench.latency import measure_latency
    from fetaledge.bench.run import host_info
    from fetaledge.data.cache import FrameCache
    from fetaledge.data.raw import raw_frames_at
    from fetaledge.fsio import write_json
    from fetaledge.models.checkpoint import read_config
    from fetaledge.quantization import make_recipe, select_frames
    from fetaledge.runtime.decision import decision_params
    from fetaledge.targets import get_target
    from fetaledge.work import Work
    from quantize import quantize
    from quantize.census import executed_onnx_ops

    w = Work(args.work)
    fp32 = w.export / "student.onnx"
    cache = FrameCache(w.cache)
    raw_hw = (int(cache.manifest["raw_height"]), int(cache.manifest["raw_width"]))
    from fetaledge.export.pipeline import raw_model_from_dir

    model, cfg = raw_model_from_dir(w.student, raw_hw)
    data = select_frames(cache, args.calibration_frames)
    after = get_target("x86_64").recipes
    variants = {
        "onnxruntime before (per-tensor weights, stem int8)": make_recipe(
            "onnxruntime", {**after["onnxruntime"], "per_channel": False, "keep_float": []}, model),
        "onnxruntime after (x86_64 recipe)": make_recipe("onnxruntime", after["onnxruntime"], model),
        "nncf before (per-channel activation scales, stem int8)": make_recipe(
            "nncf", {**after["nncf"], "per_channel_activations": True, "activation_dtype": None, "keep_float": []},
            model),
        "nncf per-tensor, NNCF's int8/uint8 activation mix": make_recipe(
            "nncf", {**after["nncf"], "activation_dtype": None}, model),
        "nncf after (x86_64 recipe)": make_recipe("nncf", after["nncf"], model),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    scratch = w.root / "int8_census"  # the artifacts and frames stay in the work folder; only reports go to --out
    scratch.mkdir(parents=True, exist_ok=True)
    frames_path = scratch / "frames.npy"
    test = cache.load("test")
    np.save(frames_path, raw_frames_at(cache, "test", np.arange(min(16, len(test.labels)))))
    decision = decision_params(float(read_config(w.student)["threshold"])).to_dict()
    rows = []

    def census(name: str, path: Path) -> dict:
        ops = executed_onnx_ops(path)
        q = sum(v for k, v in ops.items() if k.startswith(("QLinear", "QGemm", "MatMulInteger", "ConvInteger")))
        return {"artifact": name, "file": str(path), "executed_ops": dict(sorted(ops.items())), "fused_integer_ops": q,
                "float_conv": ops.get("Conv", 0) + ops.get("FusedConv", 0), "QLinearConv": ops.get("QLinearConv", 0)}

    rows.append(census("fp32", fp32))
    for name, recipe in variants.items():
        t0 = time.perf_counter()
        try:
            art = quantize(recipe, calibration=data.calibration, fp32_onnx=fp32,
                           out_dir=scratch / re.sub(r"[^A-Za-z0-9]+", "_", name.split(" (")[0]).strip("_"))
        except Exception as exc:  # noqa: BLE001 - a refused recipe is a result too (the graph check)
            rows.append({"artifact": name, "refused": f"{type(exc).__name__}: {exc}"})
            print(f"{name}: refused: {exc}", flush=True)
            continue
        row = census(name, art.path)
        row["quantize_s"] = round(time.perf_counter() - t0, 1)
        rows.append(row)
    # Latency in interleaved rounds (order reversed every other round), each artifact in a fresh process: on a
    # shared host the load drifts over minutes, and a ratio is only fair when both sides saw the same drift.
    timed = [r for r in rows if "file" in r]
    for k in range(args.rounds):
        for r in (timed if k % 2 == 0 else timed[::-1]):
            lat = measure_latency(BenchArtifact(r["artifact"], "student", "onnxruntime",
                                                "int8" if "int8" in Path(r["file"]).name else "fp32", r["file"]),
                                  frames_path, 1, decision, raw_hw=raw_hw, warmup=5, iters=30, repeats=3)
            r.setdefault("round_cpu_ms", []).append(lat["cpu_latency_ms"])
    for r in timed:
        r["ms_1thread"] = float(np.median(r["round_cpu_ms"]))
        print(json.dumps({k: r[k] for k in ("artifact", "ms_1thread", "round_cpu_ms", "QLinearConv", "float_conv")}),
              flush=True)
    base = rows[0]["ms_1thread"]
    for r in rows:
        if "ms_1thread" in r:
            r["vs_fp32"] = round(r["ms_1thread"] / base, 3)
    report = {"host": host_info(), "python": platform.python_version(), "work": str(args.work), "rows": rows,
              "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    write_json(args.out / "int8_census.json", report)
    lines = ["# INT8 op census and 1-thread latency, before / after (one run, one host)", "",
             f"Host: {report['host'].get('cpu')} ISA {', '.join(report['host'].get('isa', []))}. Student "
             f"{cfg.get('arch')} at {cfg.get('input_size')} px, raw {raw_hw[1]}x{raw_hw[0]} frame -> logit. "
             "Ops: the graph ONNX Runtime executes after its optimizations.", "",
             f"CPU ms: median of {args.rounds} interleaved rounds (order reversed every other round), each the median "
             "of 3 x 30 frames in a fresh process.", "",
             "| artifact | CPU ms (1 thread) | vs fp32 | rounds | QLinearConv | float Conv | fused integer ops |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        if "refused" in r:
            lines.append(f"| {r['artifact']} | refused: {r['refused'][:200]} | | | | | |")
        else:
            lines.append(f"| {r['artifact']} | {r['ms_1thread']:.2f} | {r['vs_fp32']:.2f} | "
                         f"{min(r['round_cpu_ms']):.2f}-{max(r['round_cpu_ms']):.2f} | {r['QLinearConv']} | "
                         f"{r['float_conv']} | {r['fused_integer_ops']} |")
    by = {r["artifact"].split(" (")[0]: r for r in rows if "ms_1thread" in r}
    if {"onnxruntime after", "nncf after"} <= by.keys():
        o, n = by["onnxruntime after"], by["nncf after"]
        ratio = n["ms_1thread"] / o["ms_1thread"]
        wins = sum(a <= b for a, b in zip(n["round_cpu_ms"], o["round_cpu_ms"], strict=True))
        lines += ["", f"NNCF / ORT (same x86_64 recipe, same rounds): {ratio:.3f}; NNCF was not slower in {wins} of "
                  f"{len(n['round_cpu_ms'])} rounds. ORT INT8 / fp32: {o['ms_1thread'] / rows[0]['ms_1thread']:.3f}."]
    lines += ["", "Regenerate: `python benchmarks/int8_census.py --work WORK` after "
              "`fetaledge build --target x86_64 --work WORK`.", ""]
    (args.out / "int8_census.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
