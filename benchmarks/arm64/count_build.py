"""ARM instruction counts for one build's default student (fp32 ONNX + TFLite, every INT8 artifact of its
quantize.json) without running the whole `fetaledge bench`:

    .venv/bin/python benchmarks/arm64/count_build.py --work /tmp/fetaledge-real/work --label real_african

Writes ``<out>/<label>_arm_count.{json,md}`` (the same report as ``fetaledge bench --arm-count``). Needs
``bash benchmarks/arm64/setup_arm64.sh``. Instruction counts, not time.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", type=Path, required=True, help="work folder of `fetaledge build`")
    ap.add_argument("--target", default="arm64")
    ap.add_argument("--bundle", type=Path, default=None, help="marks the shipped artifacts")
    ap.add_argument("--label", required=True)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = ap.parse_args(argv)

    import numpy as np

    from fetaledge.bench.arm_count import bench_arm_counts
    from fetaledge.bench.run import bench_frames
    from fetaledge.data.cache import FrameCache
    from fetaledge.errors import FetaledgeError
    from fetaledge.fsio import sha256_file

    try:
        work = args.work
        shipped = set()
        if args.bundle is not None:
            shipped = {m["sha256"] for m in json.loads((args.bundle / "iqa_spec.json").read_text())["models"]}
        arts = [{"name": f"student-fp32-{rt}", "path": str(work / "export" / f"student.{ext}"), "runtime": rt,
                 "precision": "fp32"} for rt, ext in (("onnxruntime", "onnx"), ("litert", "tflite"))]
        qfile = work / "quant" / args.target / "quantize.json"
        if not qfile.is_file():
            raise FetaledgeError(f"{qfile} is missing: {work} is not a finished build for {args.target}",
                                 hint="pass the --work folder of `fetaledge build --target arm64`")
        for backend, e in json.loads(qfile.read_text())["backends"].items():
            path = e.get("artifact") or e.get("candidate")
            if path and Path(path).is_file():
                arts.append({"name": f"student-int8-{backend}", "path": path,
                             "runtime": "litert" if backend == "litert" else "onnxruntime", "precision": "int8"})
        arts = [{**a, "default_student": True, "shipped": sha256_file(Path(a["path"])) in shipped}
                for a in arts if Path(a["path"]).is_file()]
        frames, _ = bench_frames(FrameCache(work / "cache"), "test", n=4)
        frames_npy = args.out / f".{args.label}_count_frames.npy"
        args.out.mkdir(parents=True, exist_ok=True)
        np.save(frames_npy, frames)
        try:
            bench_arm_counts(arts, frames_npy, args.out, args.label, log=lambda m: print(m, flush=True))
        finally:
            frames_npy.unlink(missing_ok=True)
    except FetaledgeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
