"""The Pareto sweep's rule, front, Markdown and plot (fetaledge.bench.pareto), and the whole-graph MAC count
(fetaledge.bench.graph_macs) that its MACs column and the arithmetic-limit line use."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fetaledge.bench.pareto import RULE, choose_default, pareto_front, pareto_markdown, pareto_plot
from fetaledge.errors import FetaledgeError


def _row(name: str, val: float, test: float, ms8: float, ms32: float, macs: int, gate: bool = True) -> dict:
    ci = {"value": test, "low": test - 0.05, "high": min(1.0, test + 0.04)}
    return {"name": name, "arch": name.split("-")[0], "start": "phantom", "resolution": 96, "val_f1": val,
            "test_fp32": ci, "test_int8": ci, "test_f1_int8": test, "int8_gate_passed": gate, "int8_cpu_ms": ms8,
            "fp32_cpu_ms": ms32, "macs": macs, "fp32_bytes": 4_000_000, "int8_bytes": 1_500_000,
            "train_seconds": 60}


ROWS = [_row("big-128", 1.00, 0.90, 3.0, 3.8, 135_000_000),
        _row("mid-96", 0.96, 0.88, 1.6, 2.2, 80_000_000),
        _row("fast-96", 0.96, 0.70, 1.6, 1.9, 30_000_000, gate=False),  # as fast, but its INT8 failed the gate
        _row("tiny-64", 0.80, 0.60, 0.7, 0.9, 10_000_000)]


def test_rule_reads_validation_and_the_gate_never_test() -> None:
    assert choose_default(ROWS, tolerance=0.05)["name"] == "mid-96"
    assert choose_default(ROWS, tolerance=0.0)["name"] == "big-128"
    # raising every TEST F1 of another point changes nothing: the rule does not read test
    shuffled = [{**r, "test_f1_int8": 1.0 - r["test_f1_int8"]} for r in ROWS]
    assert choose_default(shuffled, tolerance=0.05)["name"] == "mid-96"
    tie = [_row("b", 0.9, 0.8, 1.0, 1.0, 20), _row("a", 0.9, 0.8, 1.0, 1.0, 20), _row("c", 0.9, 0.8, 1.0, 1.0, 10)]
    assert choose_default(tie)["name"] == "c"  # fewer MACs, then the name
    assert choose_default(tie[:2])["name"] == "a"
    # one graph timed twice differs by noise: within ms_tolerance the better validation F1 wins, beyond it speed
    same = [_row("imagenet-96", 0.95, 0.8, 1.40, 2.4, 71), _row("phantom-96", 1.00, 0.8, 1.50, 2.6, 71)]
    assert choose_default(same, tolerance=0.05)["name"] == "phantom-96"
    assert choose_default(same, tolerance=0.05, ms_tolerance=0.05)["name"] == "imagenet-96"
    with pytest.raises(FetaledgeError, match="no grid point within the validation tolerance"):
        choose_default([_row("x", 0.9, 0.8, 1.0, 1.0, 1, gate=False)])
    with pytest.raises(FetaledgeError, match="nothing to choose"):
        choose_default([{"name": "x", "val_f1": None}])
    assert "test never read" in RULE


def test_front_keeps_only_undominated_points() -> None:
    assert pareto_front(ROWS, "int8_cpu_ms", "test_f1_int8") == ["tiny-64", "mid-96", "big-128"]
    assert pareto_front(ROWS, "int8_cpu_ms", "val_f1") == ["tiny-64", "mid-96", "big-128"]


def test_report_and_plot(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    rep = {"host": {"cpu": "AMD EPYC", "vendor": "AuthenticAMD", "cores": 2, "isa": ["avx2", "avx512_vnni"]},
           "command": "python benchmarks/pareto_real.py", "seconds": 100.0, "n_boot": 200,
           "data": {"name": "African planes", "n_test": 173, "description": "real images"},
           "recipe": "20 epochs", "rows": ROWS, "rule": RULE.format(tol=0.05, ms_tol=0.1), "today_default": "big-128",
           "choice": {"name": "mid-96", "why": "within 0.05"},
           "front_test": pareto_front(ROWS, "int8_cpu_ms", "test_f1_int8"),
           "front_val": pareto_front(ROWS, "int8_cpu_ms", "val_f1"),
           "references": {"FetalCLIP": {"how": "torch", "cpu_ms": 1135.0}},
           "conditions": [{"what": "FetalCLIP / chosen", "value": 709.0, "goal": ">= 1000x", "met": False}]}
    md = pareto_markdown(rep)
    assert "**mid-96** (chosen)" in md and "big-128 (today's default)" in md and "**NOT met**" in md
    assert "0.880 [0.830, 0.920]" in md and "FAILED" in md and "avx512_vnni" in md
    png = pareto_plot(rep, tmp_path / "p.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_graph_macs_counts_conv_and_matmul(tmp_path: Path) -> None:
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    from fetaledge.bench.graph_macs import graph_macs

    rng = np.random.default_rng(0)
    a = numpy_helper.from_array(rng.standard_normal((16, 20)).astype(np.float32), "a")  # resample rows
    w = numpy_helper.from_array(rng.standard_normal((8, 3, 3, 3)).astype(np.float32), "w")
    nodes = [helper.make_node("MatMul", ["a", "x"], ["r"]),  # (16, 20) @ (1, 3, 20, 16) -> (1, 3, 16, 16)
             helper.make_node("Conv", ["r", "w"], ["y"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["y"], ["z"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 20, 16])],
                              [helper.make_tensor_value_info("z", TensorProto.FLOAT, [1, 8, 16, 16])], [a, w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    path = tmp_path / "g.onnx"
    onnx.save(model, str(path))
    r = graph_macs(path)
    assert r["by_op"]["MatMul"] == 3 * 16 * 20 * 16
    assert r["by_op"]["Conv"] == (8 * 16 * 16) * (3 * 3 * 3)
    assert r["total"] == r["by_op"]["MatMul"] + r["by_op"]["Conv"] and r["unresolved"] == []
