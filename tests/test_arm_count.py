"""ARM instruction counts under qemu-user + the TCG insn plugin (fetaledge.bench.arm_count): exact and repeatable,
so the same tiny model counted twice gives the same number; the ratio table and its goals.

The counting tests skip cleanly where `bash benchmarks/arm64/setup_arm64.sh` has not run (no qemu-user / plugin).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fetaledge.bench.arm_count import (
    CPUS,
    CountTarget,
    arm_count_markdown,
    count_available,
    count_ratios,
    per_frame_instructions,
)
from fetaledge.emulate import SETUP_COMMAND
from fetaledge.errors import FetaledgeError

needs_count = pytest.mark.skipif(not count_available(), reason=f"instruction counting not set up ({SETUP_COMMAND})")


def tiny_onnx(path: Path, hw: tuple[int, int], width: int) -> Path:
    """uint8 (1, H, W) frame -> float -> (H*W) @ (H*W, width) -> relu -> sum: one logit."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    h, w = hw
    rng = np.random.default_rng(0)
    weight = numpy_helper.from_array((rng.standard_normal((h * w, width)) / 255).astype(np.float32), "w")
    shape = numpy_helper.from_array(np.array([1, h * w], np.int64), "shape")
    nodes = [helper.make_node("Cast", ["frame"], ["f"], to=TensorProto.FLOAT),
             helper.make_node("Reshape", ["f", "shape"], ["flat"]),
             helper.make_node("MatMul", ["flat", "w"], ["hidden"]),
             helper.make_node("Relu", ["hidden"], ["act"]),
             helper.make_node("ReduceSum", ["act"], ["logit"], keepdims=1)]
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("frame", TensorProto.UINT8, [1, h, w])],
                              [helper.make_tensor_value_info("logit", TensorProto.FLOAT, [1, 1])], [weight, shape])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


@pytest.fixture(scope="module")
def frames(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("count") / "frames.npy"
    np.save(path, np.random.default_rng(1).integers(0, 256, (2, 24, 32), dtype=np.uint8))
    return path


@needs_count
@pytest.mark.slow
def test_same_model_counted_twice_gives_the_same_number(tmp_path: Path, frames: Path) -> None:
    small = tiny_onnx(tmp_path / "small.onnx", (24, 32), 8)
    a = per_frame_instructions(small, "onnxruntime", frames, "cortex-a76")
    b = per_frame_instructions(small, "onnxruntime", frames, "cortex-a76")
    assert a["runs"] == b["runs"] and a["per_frame"] == b["per_frame"], (a, b)
    assert a["per_frame"] > 0 and a["startup"] > 10 * a["per_frame"]  # python + onnxruntime start-up dominate


def test_bad_requests_give_clear_errors(tmp_path: Path, frames: Path) -> None:
    with pytest.raises(FetaledgeError, match="need 0 < N1 < N2"):
        per_frame_instructions(tmp_path / "m.onnx", "onnxruntime", frames, "cortex-a76", frames=(3, 3))
    with pytest.raises(FetaledgeError, match="does not run on the device"):
        per_frame_instructions(tmp_path / "m.onnx", "torch", frames, "cortex-a76")
    if count_available():
        from fetaledge.bench.arm_count import count_instructions

        with pytest.raises(FetaledgeError, match="unknown emulated cpu"):
            count_instructions(["-c", "pass"], "pentium")


def _row(name: str, runtime: str, precision: str, a53: int, a76: int, shipped: bool = False) -> dict:
    return {"name": name, "runtime": runtime, "precision": precision, "shipped": shipped, "size_bytes": 10**6,
            "counts": {"cortex-a53": {"per_frame": a53}, "cortex-a76": {"per_frame": a76}}}


def test_ratios_per_runtime_and_against_the_best_fp32() -> None:
    rows = [_row("ort-fp32", "onnxruntime", "fp32", 132_700_000, 134_600_000),
            _row("lite-fp32", "litert", "fp32", 54_100_000, 53_900_000),
            _row("ort-int8", "onnxruntime", "int8", 48_300_000, 28_600_000, shipped=True),
            _row("lite-int8", "litert", "int8", 51_900_000, 27_700_000)]
    ratios = {(q["cpu"], q["int8"]): q for q in count_ratios(rows, CPUS)}
    a76 = ratios[("cortex-a76", "ort-int8")]
    assert a76["fp32_same_runtime"] == "ort-fp32" and a76["best_fp32"] == "lite-fp32"
    assert a76["int8_over_fp32_same_runtime"] == pytest.approx(28.6 / 134.6)
    assert a76["int8_over_best_fp32"] == pytest.approx(28.6 / 53.9) and a76["goal_met"] is False
    a53 = ratios[("cortex-a53", "lite-int8")]
    assert a53["int8_over_fp32_same_runtime"] == pytest.approx(51.9 / 54.1) and a53["goal_met"] is False
    rep = {"unit": "aarch64 instructions per raw frame (NOT time)", "qemu": "qemu 7.2", "plugin": "insn.c",
           "how": "N2 - N1", "cpus": {c: c for c in CPUS}, "rows": rows, "ratios": list(ratios.values())}
    md = "\n".join(arm_count_markdown(rep))
    assert "NOT time" in md and "| ort-int8 | onnxruntime | int8 |" in md and "0.21x" in md
    assert CountTarget("x", Path("x.onnx"), "onnxruntime", "int8").shipped is False
