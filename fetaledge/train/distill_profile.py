"""Cost of a student as it would ship: parameters, MACs and fp32 ONNX Runtime latency at one thread.

* MACs: :class:`torch.utils.flop_counter.FlopCounterMode` FLOPs / 2 for one (1, 3, S, S) frame, on the
  inference form (fastvit reparameterised, eval mode; batch norm still counted as the elementwise op it is
  before the exporter folds it, which FlopCounterMode ignores anyway).
* latency: the network exported with ``torch.onnx.export(opset_version=17, dynamo=False)`` to a temporary
  file, one ORT session with one intra-op and one inter-op thread and sequential execution, ``warmup`` runs
  discarded, then over ``runs`` runs the wall-clock median, p90 and minimum, and the median CPU time of the
  calling thread (with one intra-op thread ORT computes in the caller). On a shared machine the wall
  median is inflated by sustained load from other processes while the CPU time per frame stays steady
  (it is what the frame costs on an idle core), so the sweep ranks students by ``latency_cpu_ms``.
  Compare students measured in the same sweep, not across sweeps.

Example:
    >>> net = create_student("mobilenetv3_small_100", init="random")  # doctest: +SKIP
    >>> p = profile_student(net, 64, runs=5)                           # doctest: +SKIP
    >>> p.params, p.macs, p.latency_ms                                 # doctest: +SKIP
"""

from __future__ import annotations

import statistics
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn


@dataclass(frozen=True)
class StudentCost:
    params: int
    macs: int
    latency_ms: float
    latency_p90_ms: float
    latency_min_ms: float
    latency_cpu_ms: float
    onnx_bytes: int
    threads: int = 1

    def to_json(self) -> dict:
        return asdict(self)


def count_params(model: nn.Module) -> int:
    return int(sum(p.numel() for p in model.parameters()))


@torch.no_grad()
def count_macs(model: nn.Module, size: int) -> int:
    """Multiply-accumulates of one forward pass on a (1, 3, size, size) input (FLOPs / 2)."""
    from torch.utils.flop_counter import FlopCounterMode

    model.eval()
    counter = FlopCounterMode(display=False)
    with counter:
        model(torch.zeros(1, 3, size, size))
    return int(counter.get_total_flops() // 2)


def export_onnx_tmp(model: nn.Module, size: int, path: Path) -> Path:
    """Export ``model`` ((1, 3, S, S) -> logits (1,)) to ``path`` with the TorchScript exporter."""
    model.eval()
    torch.onnx.export(model, (torch.zeros(1, 3, size, size),), str(path), opset_version=17, dynamo=False,
                      input_names=["input"], output_names=["logit"])
    return path


@dataclass(frozen=True)
class Latency:
    """Milliseconds per (1, 3, S, S) frame: wall median, p90 and min, and the caller thread's CPU time."""

    median_ms: float
    p90_ms: float
    min_ms: float
    cpu_ms: float


def ort_latency(onnx_path: Path, size: int, runs: int = 50, warmup: int = 10, threads: int = 1) -> Latency:
    """Time one fp32 inference with onnxruntime at ``threads`` intra-op threads (see the module doc)."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(str(onnx_path), so, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    x = np.random.default_rng(0).standard_normal((1, 3, size, size)).astype(np.float32)
    for _ in range(warmup):
        sess.run(None, {name: x})
    wall, cpu = [], []
    for _ in range(max(1, runs)):
        c0, t0 = time.thread_time(), time.perf_counter()
        sess.run(None, {name: x})
        wall.append((time.perf_counter() - t0) * 1000.0)
        cpu.append((time.thread_time() - c0) * 1000.0)
    wall.sort()
    return Latency(statistics.median(wall), wall[min(len(wall) - 1, int(0.9 * len(wall)))], wall[0],
                   statistics.median(cpu))


def profile_student(model: nn.Module, size: int, runs: int = 50, warmup: int = 10) -> StudentCost:
    """Parameters, MACs and 1-thread ORT latency of the inference form of ``model``."""
    params = count_params(model)
    macs = count_macs(model, size)
    with tempfile.TemporaryDirectory(prefix="fetaledge-latency-") as tmp:
        path = export_onnx_tmp(model, size, Path(tmp) / "student.onnx")
        lat = ort_latency(path, size, runs=runs, warmup=warmup)
        nbytes = path.stat().st_size
    return StudentCost(params, macs, round(lat.median_ms, 3), round(lat.p90_ms, 3), round(lat.min_ms, 3),
                       round(lat.cpu_ms, 3), nbytes)
