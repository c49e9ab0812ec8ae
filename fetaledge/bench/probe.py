"""Torch-free probe run natively AND under arm64 emulation: ``python -m fetaledge.bench.probe BUNDLE OUT [CASE...]``.

It verifies the bundle (sha256, schema, goldens), then records every shipped model's probabilities and
per-frame times on the bundle's recorded sweep and on each given case stack, plus the decisions. The same
code on both machines makes the comparison a like-for-like one.
"""

from __future__ import annotations

import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np


def probe(bundle: Path, cases: list[Path]) -> dict[str, Any]:
    from fetaledge.runtime.bundle import load_bundle
    from fetaledge.runtime.decision import run_case, run_sweep
    from fetaledge.runtime.engines import open_engine
    from fetaledge.runtime.infer import sweep_bounds
    from fetaledge.runtime.mha import MhaStack
    from fetaledge.runtime.numeric import sigmoid
    from fetaledge.runtime.verify import verify_bundle

    out: dict[str, Any] = {"machine": platform.machine(), "python": platform.python_version()}
    try:
        out["verify"] = verify_bundle(bundle)
    except Exception as exc:  # recorded, compared by the caller
        out["verify_error"] = str(exc)
    spec = load_bundle(bundle)
    sweep = np.load(bundle / "goldens" / "sweep_frames.npy")
    inputs = {"recorded_sweep": [sweep]}
    for c in cases:
        with MhaStack(c) as stack:
            inputs[c.name] = [np.stack(list(stack.frames(a, b))) for a, b in sweep_bounds(len(stack))[0]]
    out["models"] = {}
    for m in spec.models:
        eng = open_engine(bundle, m, 1)
        res: dict[str, Any] = {}
        for key, sweeps in inputs.items():
            probs, times = [], []
            for sw in sweeps:
                ps = []
                for f in sw:
                    t = time.perf_counter()
                    y = eng(np.ascontiguousarray(f))
                    times.append((time.perf_counter() - t) * 1e3)
                    ps.append(sigmoid(y) if m.output_kind == "logit" else y)
                probs.append(ps)
            if len(probs) == 1:
                _, v = run_sweep(spec.decision, probs[0])
                decision = v.to_dict()
            else:
                _, cv = run_case(spec.decision, probs)
                decision = cv.to_dict()
            res[key] = {"probabilities": probs, "decision": decision, "median_ms": float(np.median(times))}
        out["models"][m.name] = res
    return out


def main(argv: list[str]) -> int:
    bundle, out = Path(argv[0]), Path(argv[1])
    result = probe(bundle, [Path(c) for c in argv[2:]])
    out.write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
