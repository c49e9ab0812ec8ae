"""iqa_spec.json: strict parsing (every error names its field), round trip, bundle sha256 checks."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import pytest

from fetaledge.errors import FetaledgeError
from fetaledge.runtime.bundle import load_bundle, sha256_file, verify_bundle_files
from fetaledge.runtime.spec import (
    SCHEMA_VERSION,
    ExplicitPreprocessing,
    FoldedPreprocessing,
    dump_spec,
    example_spec,
    load_spec,
    spec_from_dict,
    spec_to_dict,
)


def good() -> dict[str, Any]:
    return spec_to_dict(example_spec())


def explicit_pre() -> dict[str, Any]:
    return {
        "folded_into_graph": False,
        "description": "pad, resize 224 bicubic, gray->RGB, CLIP mean/std",
        "pad_to_square": True,
        "pad_value": 0,
        "resize_height": 224,
        "resize_width": 224,
        "interpolation": "bicubic",
        "gray_to_rgb": True,
        "scale": 1 / 255,
        "mean": [0.48145466, 0.4578275, 0.40821073],
        "std": [0.26862954, 0.26130258, 0.27577711],
        "output_layout": "NCHW",
        "output_dtype": "float32",
    }


def test_round_trip_through_a_file(tmp_path: Path) -> None:
    spec = example_spec()
    path = tmp_path / "iqa_spec.json"
    dump_spec(spec, path)
    assert load_spec(path) == spec
    assert json.loads(path.read_text())["schema_version"] == SCHEMA_VERSION
    assert [p.name for p in tmp_path.iterdir()] == ["iqa_spec.json"]  # atomic: no temp file left


def test_explicit_preprocessing_round_trips() -> None:
    d = good()
    d["preprocessing"] = explicit_pre()
    spec = spec_from_dict(d)
    assert isinstance(spec.preprocessing, ExplicitPreprocessing)
    assert spec.preprocessing.mean == (0.48145466, 0.4578275, 0.40821073)
    assert spec_from_dict(spec_to_dict(spec)) == spec
    assert isinstance(example_spec().preprocessing, FoldedPreprocessing)


def test_quantized_tensors_round_trip() -> None:
    d = good()
    m = d["models"][0]
    m["runtime"], m["file"], m["precision"] = "litert", "student_int8.tflite", "int8"
    q = {"scale": 0.05, "zero_point": -3}
    m["output"] = {"name": "out", "dtype": "int8", "shape": [1, 1], "quantization": q}
    spec = spec_from_dict(d)
    assert spec.models[0].output.quantization is not None
    assert spec.models[0].output.quantization.zero_point == -3
    assert spec.model("student_int8").runtime == "litert"


SPEC_GOLDEN = Path(__file__).parent / "goldens" / "spec" / "spec_cases.json"
SPEC_CASES = json.loads(SPEC_GOLDEN.read_text())["cases"]


def test_the_shared_spec_golden_has_valid_and_invalid_cases() -> None:
    assert sum(c["error_field"] is None for c in SPEC_CASES) >= 3
    assert sum(c["error_field"] is not None for c in SPEC_CASES) >= 50


@pytest.mark.parametrize("case", SPEC_CASES, ids=[c["name"] for c in SPEC_CASES])
def test_shared_spec_golden(case: dict[str, Any]) -> None:
    """The same file the Kotlin iqa-core tests read: valid specs parse and round-trip, each invalid one fails
    with an error that starts with the field it breaks."""
    if case["error_field"] is None:
        spec = spec_from_dict(copy.deepcopy(case["spec"]))
        assert spec_to_dict(spec) == case["spec"]
        return
    with pytest.raises(FetaledgeError) as info:
        spec_from_dict(copy.deepcopy(case["spec"]), source="bundle/iqa_spec.json")
    assert str(info.value).startswith(f"bundle/iqa_spec.json: {case['error_field']}: "), str(info.value)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("schema_version_newer", "schema_version: 4 is newer than this runtime supports (3)"),
        ("model_sha256_missing", "models[0].sha256: required field is missing"),
        ("unknown_top_field", "extra: unknown field (fix: the known fields here are: schema_version, input"),
        ("input_height_float", "input.height: must be an integer, got 562.0"),
        ("input_layout_bad", 'input.layout: must be one of "HW", "HWC", got "CHW"'),
        ("tensor_shape_float", "models[0].input.shape[1]: must be an integer, got 2.5"),
        ("model_sha256_upper", "models[0].sha256: must be 64 lowercase hex characters"),
        ("decision_exit_above_threshold", "decision.exit_threshold: must be <= threshold (0.42), got 0.9"),
        ("model_duplicate_name", "models[1].name: 'student_fp32' is used by an earlier model too"),
        ("uint8_zero_point_range", "models[1].output.quantization.zero_point: must be in 0..255 for uint8"),
    ],
)
def test_messages_read_well(name: str, message: str) -> None:
    (case,) = [c for c in SPEC_CASES if c["name"] == name]
    with pytest.raises(FetaledgeError) as info:
        spec_from_dict(case["spec"])
    assert message in str(info.value), str(info.value)


def test_newer_schema_says_how_to_fix() -> None:
    with pytest.raises(FetaledgeError) as info:
        spec_from_dict({"schema_version": 9})
    assert info.value.hint is not None and "update fetaledge" in info.value.hint


def test_not_an_object_and_bad_files(tmp_path: Path) -> None:
    with pytest.raises(FetaledgeError, match="top level must be a JSON object"):
        spec_from_dict([1, 2])
    with pytest.raises(FetaledgeError, match="not found"):
        load_spec(tmp_path / "nope.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(FetaledgeError, match="not valid JSON"):
        load_spec(tmp_path / "bad.json")


# ------------------------------------------------------------------------------------------ bundle
def make_bundle(root: Path) -> Path:
    root.mkdir()
    model = root / "student_int8.onnx"
    model.write_bytes(b"\x08\x07fake onnx bytes" * 100)
    dump_spec(example_spec(sha256=sha256_file(model)), root / "iqa_spec.json")
    return root


def test_good_bundle_verifies(tmp_path: Path) -> None:
    root = make_bundle(tmp_path / "b")
    assert load_bundle(root).models[0].file == "student_int8.onnx"


def test_a_changed_byte_names_the_file(tmp_path: Path) -> None:
    root = make_bundle(tmp_path / "b")
    model = root / "student_int8.onnx"
    data = bytearray(model.read_bytes())
    data[10] ^= 0x01
    model.write_bytes(bytes(data))
    with pytest.raises(FetaledgeError, match=r"'student_int8': file student_int8.onnx has sha256 [0-9a-f]+"):
        load_bundle(root)


def test_missing_and_escaping_files(tmp_path: Path) -> None:
    root = make_bundle(tmp_path / "b")
    spec = load_spec(root / "iqa_spec.json")
    outside = tmp_path / "outside.onnx"
    outside.write_bytes((root / "student_int8.onnx").read_bytes())
    (root / "student_int8.onnx").unlink()
    with pytest.raises(FetaledgeError, match="file student_int8.onnx is missing"):
        verify_bundle_files(root, spec)
    os.symlink(outside, root / "student_int8.onnx")
    with pytest.raises(FetaledgeError, match="resolves outside the bundle"):
        verify_bundle_files(root, spec)
    with pytest.raises(FetaledgeError, match="bundle folder not found"):
        verify_bundle_files(tmp_path / "nothing", spec)
