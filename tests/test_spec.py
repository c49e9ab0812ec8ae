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
    m["output"] = {"name": "out", "dtype": "int8", "shape": [1, 1], "quantization": {"scale": 0.05, "zero_point": -3}}
    spec = spec_from_dict(d)
    assert spec.models[0].output.quantization is not None
    assert spec.models[0].output.quantization.zero_point == -3
    assert spec.model("student_int8").runtime == "litert"


def edit(path: str, value: Any, delete: bool = False) -> dict[str, Any]:
    """A copy of the good spec with the field at dotted ``path`` (``models.0.sha256``) set or deleted."""
    d = good()
    keys = path.split(".")
    node: Any = d
    for k in keys[:-1]:
        node = node[int(k)] if isinstance(node, list) else node[k]
    last: Any = int(keys[-1]) if isinstance(node, list) else keys[-1]
    if delete:
        del node[last]
    else:
        node[last] = value
    return d


CASES = [
    # (dotted path, value, delete?, text the error must contain)
    ("input", None, True, "missing required field(s) 'input'"),
    ("models.0.sha256", None, True, "models[0]: missing required field(s) 'sha256'"),
    ("models.0.output.quantization", None, True, "models[0].output: missing required field(s) 'quantization'"),
    ("decision.min_run", None, True, "decision: missing required field(s) 'min_run'"),
    ("extra", 1, False, "unknown field(s) 'extra'"),
    ("input.colour", "grey", False, "input: unknown field(s) 'colour'"),
    ("models.0.input.scale", 1.0, False, "models[0].input: unknown field(s) 'scale'"),
    ("preprocessing.pad_value", 0, False, "preprocessing: unknown field(s) 'pad_value'"),
    ("input.height", "562", False, "input.height: must be an integer"),
    ("input.height", 562.0, False, "input.height: must be an integer"),
    ("input.height", True, False, "input.height: must be an integer"),
    ("input.height", 0, False, "input: height must be >= 1"),
    ("input.layout", "CHW", False, 'input.layout: must be one of "HW", "HWC"'),
    ("input.channels", 3, False, "input: layout 'HW' means one channel"),
    ("input.dtype", "float32", False, 'input.dtype: must be one of "uint8"'),
    ("preprocessing.folded_into_graph", "yes", False, "preprocessing.folded_into_graph: must be true or false"),
    ("preprocessing.folded_into_graph", None, True, "preprocessing: missing required field 'folded_into_graph'"),
    ("preprocessing.folded_into_graph", False, False, "preprocessing: missing required field(s)"),
    ("models", [], False, "models must list at least one model"),
    ("models", {}, False, "models: must be an array"),
    ("models.0.sha256", "ABC", False, "models[0]: sha256 must be 64 lowercase hex characters"),
    ("models.0.file", "../x.onnx", False, "models[0]: file must be a relative path inside the bundle"),
    ("models.0.file", "/abs/x.onnx", False, "models[0]: file must be a relative path"),
    ("models.0.runtime", "tensorrt", False, 'models[0].runtime: must be one of "onnxruntime", "litert"'),
    ("models.0.threads", 0, False, "models[0]: threads must be >= 1"),
    ("models.0.input.shape", [], False, "models[0].input: shape must be a non-empty list"),
    ("models.0.input.shape", [1, 0], False, "models[0].input: shape must be a non-empty list"),
    ("models.0.input.shape", [1, 2.5], False, "models[0].input.shape[1]: must be an integer"),
    ("models.0.output.quantization", {"scale": 0.1, "zero_point": 0}, False,
     "models[0].output: quantization must be null for a float32 tensor"),
    ("models.0.output.dtype", "int8", False, "models[0]: output.quantization is required for a int8 output"),
    ("models.0.output_kind", "softmax", False, 'models[0].output_kind: must be one of "logit", "probability"'),
    ("decision.exit_threshold", 0.9, False, "decision: thresholds must satisfy"),
    ("decision.smoothing_alpha", "0.5", False, "decision.smoothing_alpha: must be a number"),
    ("decision.threshold", False, False, "decision.threshold: must be a number"),
    ("labels.positive", "  ", False, "labels: positive must be a non-empty string"),
    ("provenance", [], False, "provenance: must be an object"),
]


@pytest.mark.parametrize(("path", "value", "delete", "message"), CASES, ids=[f"{c[0]}={c[1]!r}" for c in CASES])
def test_every_bad_field_is_a_clear_error(path: str, value: Any, delete: bool, message: str) -> None:
    with pytest.raises(FetaledgeError) as info:
        spec_from_dict(edit(path, value, delete), source="bundle/iqa_spec.json")
    text = str(info.value)
    assert text.startswith("bundle/iqa_spec.json: ")
    assert message in text, text


def test_quantization_ranges() -> None:
    d = good()
    d["models"][0]["output"] = {"name": "o", "dtype": "uint8", "shape": [1], "quantization": {"scale": 0.1,
                                                                                             "zero_point": 256}}
    with pytest.raises(FetaledgeError, match=r"zero_point must be in 0\.\.255"):
        spec_from_dict(d)
    d["models"][0]["output"]["quantization"] = {"scale": 0.0, "zero_point": 0}
    with pytest.raises(FetaledgeError, match=r"models\[0\].output.quantization: scale must be a finite number > 0"):
        spec_from_dict(d)


def test_explicit_preprocessing_checks_channels() -> None:
    d = good()
    d["preprocessing"] = explicit_pre()
    d["preprocessing"]["gray_to_rgb"] = False
    with pytest.raises(FetaledgeError, match="preprocessing.mean must hold 1 values"):
        spec_from_dict(d)
    d["preprocessing"] = explicit_pre()
    d["preprocessing"]["std"] = [1.0, 0.0, 1.0]
    with pytest.raises(FetaledgeError, match="std must be finite and > 0"):
        spec_from_dict(d)


def test_duplicate_model_names_are_rejected() -> None:
    d = good()
    d["models"].append(copy.deepcopy(d["models"][0]))
    d["models"][1]["file"] = "other.onnx"
    with pytest.raises(FetaledgeError, match="two models share the name 'student_int8'"):
        spec_from_dict(d)


@pytest.mark.parametrize(
    ("version", "message"),
    [
        (2, "schema_version 2 is newer than this runtime supports (1)"),
        (0, "schema_version: must be >= 1"),
        ("1", "schema_version: must be an integer"),
        (1.0, "schema_version: must be an integer"),
    ],
)
def test_schema_version(version: Any, message: str) -> None:
    d = good()
    d["schema_version"] = version
    d["field_from_the_future"] = {}
    with pytest.raises(FetaledgeError) as info:
        spec_from_dict(d)
    assert message in str(info.value)


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
    with pytest.raises(FetaledgeError, match=r"model 'student_int8': file student_int8.onnx has sha256 [0-9a-f]{64}"):
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
