"""fetaledge.emulate: the same tiny ONNX / TFLite models give the same outputs on x86 and on emulated arm64.

The arm64 tests skip unless ``bash benchmarks/arm64/setup_arm64.sh`` has been run (DESIGN.md section 6).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest

from fetaledge.emulate import SETUP_COMMAND, arm64_available, project_root, run_arm64_python
from fetaledge.errors import FetaledgeError

needs_arm64 = pytest.mark.skipif(
    not arm64_available(), reason=f"arm64 emulation not set up (run `{SETUP_COMMAND}`)"
)

ATOL = 1e-5
TIMEOUT_S = 120.0


def _input(path: Path) -> np.ndarray:
    x = np.random.default_rng(0).standard_normal((1, 16)).astype(np.float32)
    np.save(path, x)
    return x


def _run_on_arm64(tmp_path: Path, body: str) -> np.ndarray:
    """Run ``body`` (which reads x.npy and sets ``y``) on emulated arm64; return what it saved."""
    script = tmp_path / "arm64_run.py"
    script.write_text(
        "import sys, platform\nimport numpy as np\n"
        "assert platform.machine() == 'aarch64', platform.machine()\n"
        "x = np.load(sys.argv[1])\n"
        + textwrap.dedent(body)
        + "\nnp.save(sys.argv[2], np.asarray(y, dtype=np.float32))\n"
    )
    out = tmp_path / "y_arm64.npy"
    run_arm64_python([script, tmp_path / "x.npy", out], cwd=tmp_path, timeout=TIMEOUT_S, check=True)
    return np.load(out)


def test_not_set_up_gives_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FETALEDGE_ARM64_HOME", str(tmp_path / "nothing-here"))
    assert not arm64_available()
    with pytest.raises(FetaledgeError, match="setup_arm64.sh"):
        run_arm64_python(["-c", "pass"])


@needs_arm64
def test_arm64_python_imports_fetaledge_from_source_tree() -> None:
    code = "import platform, fetaledge; print(platform.machine()); print(fetaledge.__file__)"
    r = run_arm64_python(["-c", code], extra_paths=[project_root()], timeout=TIMEOUT_S, check=True)
    machine, where = r.stdout.split()
    assert machine == "aarch64"
    assert Path(where).resolve() == (project_root() / "fetaledge" / "__init__.py").resolve()


@needs_arm64
def test_onnx_matches_between_x86_and_arm64(tmp_path: Path) -> None:
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(1)
    w = numpy_helper.from_array(rng.standard_normal((16, 4)).astype(np.float32), "w")
    b = numpy_helper.from_array(rng.standard_normal(4).astype(np.float32), "b")
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["x", "w"], ["xw"]),
            helper.make_node("Add", ["xw", "b"], ["z"]),
            helper.make_node("Sigmoid", ["z"], ["y"]),
        ],
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
        initializer=[w, b],
    )
    # IR 8 / opset 17: readable by the arm64 onnxruntime 1.22.1 as well as by the host's newer one.
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.checker.check_model(model)
    path = tmp_path / "tiny.onnx"
    onnx.save(model, str(path))

    x = _input(tmp_path / "x.npy")
    y_x86 = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    y_arm = _run_on_arm64(
        tmp_path,
        f"""
        import onnxruntime as ort
        sess = ort.InferenceSession({str(path)!r}, providers=["CPUExecutionProvider"])
        y = sess.run(None, {{"x": x}})[0]
        """,
    )
    assert y_arm.shape == y_x86.shape == (1, 4)
    np.testing.assert_allclose(y_arm, y_x86, rtol=0, atol=ATOL)


@needs_arm64
def test_tflite_matches_between_x86_and_arm64(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    litert_torch = pytest.importorskip("litert_torch")
    interpreter = pytest.importorskip("ai_edge_litert.interpreter")

    torch.manual_seed(0)
    module = torch.nn.Sequential(
        torch.nn.Linear(16, 8), torch.nn.ReLU(), torch.nn.Linear(8, 4), torch.nn.Sigmoid()
    )
    example = torch.zeros(1, 16)
    path = tmp_path / "tiny.tflite"
    litert_torch.convert(module.eval(), (example,)).export(str(path))

    x = _input(tmp_path / "x.npy")
    interp = interpreter.Interpreter(model_path=str(path))
    interp.allocate_tensors()
    interp.set_tensor(interp.get_input_details()[0]["index"], x)
    interp.invoke()
    y_x86 = interp.get_tensor(interp.get_output_details()[0]["index"]).copy()
    with torch.no_grad():
        np.testing.assert_allclose(y_x86, module(torch.from_numpy(x)).numpy(), rtol=0, atol=ATOL)

    y_arm = _run_on_arm64(
        tmp_path,
        f"""
        from ai_edge_litert.interpreter import Interpreter
        interp = Interpreter(model_path={str(path)!r})
        interp.allocate_tensors()
        interp.set_tensor(interp.get_input_details()[0]["index"], x)
        interp.invoke()
        y = interp.get_tensor(interp.get_output_details()[0]["index"])
        """,
    )
    assert y_arm.shape == y_x86.shape == (1, 4)
    np.testing.assert_allclose(y_arm, y_x86, rtol=0, atol=ATOL)
