"""One benchmark measurement in a fresh process: ``python -m fetaledge.bench.worker SPEC.json OUT.json``.

A fresh process per (artifact, threads) keeps thread pools and peak resident memory attributable to that
runtime alone. The worker imports torch only for ``runtime == "torch"``.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np


def peak_rss_mb() -> float:
    """Peak resident memory of THIS process image. ``/proc/self/status`` VmHWM on Linux: ``ru_maxrss`` would
    carry over the parent's high-water mark through fork/vfork + exec and report the launcher's memory."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _torch_runner(spec: dict[str, Any]):
    import torch

    from fetaledge.export.pipeline import raw_model_from_dir

    torch.set_num_threads(int(spec["threads"]))
    model, _ = raw_model_from_dir(Path(spec["path"]), tuple(spec["raw_hw"]))

    def run(frame: np.ndarray) -> float:
        with torch.inference_mode():
            return float(model(torch.from_numpy(frame[None])).reshape(-1)[0])

    return run


def _runtime_runner(spec: dict[str, Any]):
    from fetaledge.runtime.engines import open_engine
    from fetaledge.runtime.introspect import describe
    from fetaledge.runtime.spec import ModelSpec

    path = Path(spec["path"])
    inp, out = describe(path, spec["runtime"])
    ms = ModelSpec("bench", path.name, "0" * 64, spec["runtime"], spec["precision"], int(spec["threads"]), inp,
                   out, "logit")
    return open_engine(path.parent, ms, int(spec["threads"]))


def measure(spec: dict[str, Any]) -> dict[str, Any]:
    """Load time, per-frame latencies over ``repeats`` x ``iters`` after ``warmup``, end-to-end latency
    (frame -> probability -> decision update), and peak resident memory."""
    from fetaledge.runtime.decision import DecisionParams, SweepTracker
    from fetaledge.runtime.numeric import sigmoid

    frames = np.load(spec["frames"])
    t0 = time.perf_counter()
    run = _torch_runner(spec) if spec["runtime"] == "torch" else _runtime_runner(spec)
    run(frames[0])  # first inference completes initialisation (allocations, XNNPACK packing)
    load_s = time.perf_counter() - t0
    for i in range(int(spec["warmup"])):
        run(frames[i % len(frames)])
    tracker = SweepTracker(DecisionParams(**spec["decision"]))
    per_frame, e2e, medians, cpu, cpu_medians = [], [], [], [], []
    for _ in range(int(spec["repeats"])):
        this, this_cpu = [], []
        for i in range(int(spec["iters"])):
            f = frames[i % len(frames)]
            c = time.process_time()
            t = time.perf_counter()
            y = run(f)
            t1 = time.perf_counter()
            c1 = time.process_time()
            tracker.update(sigmoid(y))
            t2 = time.perf_counter()
            this.append((t1 - t) * 1e3)
            this_cpu.append((c1 - c) * 1e3)
            e2e.append((t2 - t) * 1e3)
        per_frame.extend(this)
        cpu.extend(this_cpu)
        medians.append(float(np.median(this)))
        cpu_medians.append(float(np.median(this_cpu)))
    return {
        "load_s": load_s,
        "per_frame_ms": per_frame,
        "repeat_medians_ms": medians,
        # CPU time of the whole process per frame (all its threads): at 1 thread, the latency this frame would
        # have had on an idle core; on a shared machine it is steadier than the wall clock.
        "cpu_ms": cpu,
        "repeat_cpu_medians_ms": cpu_medians,
        "e2e_ms": e2e,
        "peak_rss_mb": peak_rss_mb(),
    }


def measure_case(spec: dict[str, Any]) -> dict[str, Any]:
    """Peak memory and wall time of the runtime over one whole case stack (``fetaledge infer`` path)."""
    from fetaledge.runtime.infer import infer_case

    t = time.perf_counter()
    r = infer_case(spec["bundle"], spec["case"], spec.get("model"), int(spec["threads"]))
    n = sum(len(s["probabilities"]) for s in r["sweeps"])
    return {"frames": n, "seconds": time.perf_counter() - t, "chosen_frame": r["case"]["frame"],
            "peak_rss_mb": peak_rss_mb()}


def main(argv: list[str]) -> int:
    spec = json.loads(Path(argv[0]).read_text())
    result = measure_case(spec) if spec.get("mode") == "case" else measure(spec)
    Path(argv[1]).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
