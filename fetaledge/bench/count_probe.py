"""Run one model on N raw frames through the torch-free runtime and nothing else:
``python -m fetaledge.bench.count_probe MODEL RUNTIME FRAMES.npy N``.

Started under qemu arm64 with the instruction-count plugin by :mod:`fetaledge.bench.arm_count`: two runs that
differ only in N give the instructions of N2 - N1 steady-state frames (start-up, model load and the first
inference cancel out). It prints the last probability so the work cannot be optimised away.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np


def describe_1thread(model: Path, runtime: str):
    """(input, output) TensorSpecs read with ONE thread: a default onnxruntime session (or interpreter) starts a
    pool of host-core threads whose spinning makes the instruction count vary from run to run."""
    from fetaledge.runtime.introspect import _ORT, describe_tflite
    from fetaledge.runtime.spec import TensorSpec

    if runtime != "onnxruntime":
        return describe_tflite(model)  # the interpreter starts no thread pool before allocate_tensors
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(model), opts, providers=["CPUExecutionProvider"])

    def spec(t) -> TensorSpec:
        return TensorSpec(t.name, _ORT[t.type], tuple(d if isinstance(d, int) else -1 for d in t.shape), None)

    return spec(sess.get_inputs()[0]), spec(sess.get_outputs()[0])


def run(model: Path, runtime: str, frames_npy: Path, n: int, threads: int = 1) -> float:
    from fetaledge.runtime.engines import open_engine
    from fetaledge.runtime.spec import ModelSpec

    frames = np.load(frames_npy)
    inp, out = describe_1thread(model, runtime)
    # precision is report-only: the engine reads the tensor specs, not this field
    spec = ModelSpec("count", model.name, "0" * 64, runtime, "fp32", threads, inp, out, "logit")
    engine = open_engine(model.parent, spec, threads)
    y = 0.0
    for i in range(n):
        y = engine(np.ascontiguousarray(frames[i % len(frames)]))
    return y


def main(argv: list[str]) -> int:
    if len(argv) != 4:
        print(__doc__.splitlines()[1], file=sys.stderr)
        return 2
    y = run(Path(argv[0]), argv[1], Path(argv[2]), int(argv[3]))
    print(f"last output {y:.6f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
