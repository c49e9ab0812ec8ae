"""Export of a model folder to ONNX and TFLite, checked against PyTorch; every mismatch listed at once."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("timm")

from fetaledge.errors import FetaledgeError  # noqa: E402
from fetaledge.export.parity import compare_outputs  # noqa: E402
from fetaledge.export.pipeline import export_model  # noqa: E402
from fetaledge.models.checkpoint import save_model  # noqa: E402
from fetaledge.models.students import create_student  # noqa: E402


@pytest.fixture(scope="module")
def student_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("s") / "student"
    torch.manual_seed(0)
    s = create_student("mobilenetv2_100", "random")
    save_model(d, s.state_dict(), {"kind": "student", "arch": "mobilenetv2_100", "input_size": 64,
                                   "norm": "imagenet", "threshold": 0.5, "cache_size": 224})
    return d


def test_compare_outputs_lists_every_mismatch() -> None:
    ref = np.array([0.0, 1.0, 2.0, 3.0])
    got = np.array([0.0, 1.5, 2.0, 2.0])
    r = compare_outputs("m.onnx", ref, got, 0.1)
    assert [m["input"] for m in r.mismatches] == [1, 3]
    assert r.max_abs_diff == pytest.approx(1.0)
    with pytest.raises(FetaledgeError) as e:
        r.raise_if_failed()
    assert "input 1" in str(e.value) and "input 3" in str(e.value) and "2/4 inputs" in str(e.value)
    nan = compare_outputs("m.onnx", ref, np.array([0.0, np.nan, 2.0, 3.0]), 0.1)
    assert [m["input"] for m in nan.mismatches] == [1]


@pytest.mark.slow
def test_export_onnx_and_tflite_match_pytorch(student_dir: Path, tmp_path: Path) -> None:
    formats = ("onnx", "tflite")
    try:
        import litert_torch  # noqa: F401
    except ImportError:
        formats = ("onnx",)
    res = export_model(student_dir, tmp_path / "out", formats=formats, name="student")
    for fmt in formats:
        assert res.reports[fmt]["passed"] and res.reports[fmt]["n_inputs"] >= 8
        assert res.files[fmt].is_file()
    report = json.loads((tmp_path / "out" / "student.export.json").read_text())
    assert report["input"] == {"name": "frame", "dtype": "uint8", "shape": [1, 562, 744]}
    import onnx

    m = onnx.load(str(res.files["onnx"]))
    assert m.opset_import[0].version >= 17
    assert m.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.UINT8
    # the resampling maps are initializers (NNCF's accuracy control fails on a MatMul fed by a Constant node)
    # banded: per axis, Gather the input windows and one batched MatMul with the block weights
    resample = [n for n in m.graph.node if n.name.startswith("/resample/")]
    assert [n.op_type for n in resample if n.op_type in ("Gather", "MatMul")] == ["Gather", "MatMul"] * 2
    inits = {i.name for i in m.graph.initializer}
    assert all(any(x in inits for x in n.input) for n in resample if n.op_type in ("Gather", "MatMul"))
    assert not [n for n in m.graph.node if n.op_type == "Constant" and n.attribute[0].HasField("t")]


@pytest.mark.slow
def test_export_over_tolerance_fails_and_reports_all(student_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(FetaledgeError, match="disagrees with PyTorch on"):
        export_model(student_dir, tmp_path / "out", formats=("onnx",), name="student", tolerance={"onnx": 0.0})
    report = json.loads((tmp_path / "out" / "student.export.json").read_text())
    r = report["reports"]["onnx"]
    assert not r["passed"] and len(r["mismatches"]) >= 1 and r["max_abs_diff"] > 0


@pytest.mark.slow
def test_export_dynamic_batch(student_dir: Path, tmp_path: Path) -> None:
    import onnxruntime as ort

    res = export_model(student_dir, tmp_path / "out", formats=("onnx",), name="student", dynamic_batch=True)
    sess = ort.InferenceSession(str(res.files["onnx"]), providers=["CPUExecutionProvider"])
    out = sess.run(None, {"frame": np.zeros((3, 562, 744), np.uint8)})[0]
    assert out.shape == (3,)


def test_export_rejects_unknown_format_and_missing_model(student_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(FetaledgeError, match="unknown export format"):
        export_model(student_dir, tmp_path / "o", formats=("coreml",))
    with pytest.raises(FetaledgeError, match="model folder not found"):
        export_model(tmp_path / "nope", tmp_path / "o")
