"""iqa_spec.json schema 3: the ``task`` field (classification, or classification + measurement of the chosen frame).

The shared goldens (tests/goldens/spec/spec_cases.json, also read by android_demo's iqa-core) pin the error of each
defect; these tests pin what a user of old and new bundles relies on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fetaledge.errors import FetaledgeError
from fetaledge.runtime.bundle import verify_bundle_files
from fetaledge.runtime.spec import (
    CLASSIFICATION,
    SCHEMA_VERSION,
    dump_spec,
    example_measure_spec,
    example_spec,
    load_spec,
    spec_from_dict,
    spec_to_dict,
)


def test_a_schema2_bundle_spec_reads_as_classification_and_writes_back_as_schema2(tmp_path: Path) -> None:
    d = spec_to_dict(example_spec())
    d["schema_version"] = 2
    del d["task"]
    spec = spec_from_dict(d)
    assert spec.task == CLASSIFICATION and spec.task.measurement is None
    dump_spec(spec, tmp_path / "iqa_spec.json")
    again = json.loads((tmp_path / "iqa_spec.json").read_text())
    assert again["schema_version"] == 2 and "task" not in again


def test_new_specs_are_schema3_and_name_their_task() -> None:
    d = spec_to_dict(example_spec())
    assert SCHEMA_VERSION == 3 and d["schema_version"] == 3
    assert d["task"] == {"kind": "classification", "measurement": None}


def test_measurement_task_round_trips_through_a_file(tmp_path: Path) -> None:
    spec = example_measure_spec("ab" * 32)
    dump_spec(spec, tmp_path / "iqa_spec.json")
    back = load_spec(tmp_path / "iqa_spec.json")
    assert back == spec
    m = back.task.measurement
    assert back.task.kind == "classification+measurement" and m.structure == "ac"
    assert m.model("seg_int8").output.shape == (1, 96, 128) and m.params.min_points == 20


def test_a_newer_schema_is_one_clear_error() -> None:
    with pytest.raises(FetaledgeError) as info:
        spec_from_dict({**spec_to_dict(example_spec()), "schema_version": 4})
    assert "schema_version: 4 is newer than this runtime supports (3)" in info.value.message
    assert "update fetaledge" in info.value.hint


def test_measurement_params_errors_name_the_section() -> None:
    d = spec_to_dict(example_measure_spec())
    d["task"]["measurement"]["params"]["threshold"] = 1.5
    with pytest.raises(FetaledgeError) as info:
        spec_from_dict(d)
    assert info.value.message.startswith("iqa_spec.json: task.measurement.params: measurement threshold")


def test_segmentation_model_files_are_sha256_checked(tmp_path: Path) -> None:
    spec = example_measure_spec("0" * 64)
    (tmp_path / "student_int8.onnx").write_bytes(b"x")
    (tmp_path / "seg_int8.onnx").write_bytes(b"y")
    with pytest.raises(FetaledgeError) as info:
        verify_bundle_files(tmp_path, spec)
    assert "model 'seg_int8': file seg_int8.onnx has sha256" in info.value.message
    assert "model 'student_int8'" in info.value.message
