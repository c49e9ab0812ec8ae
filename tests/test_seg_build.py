"""The segment stage of ``fetaledge build`` on the session's tiny phantom build: one bundle that classifies AND
measures (iqa_spec.json schema 3, task "classification+measurement"), its segmentation models sha256-checked and
golden-checked by ``fetaledge verify``, ``fetaledge infer`` measuring the classifier's chosen frames; a build with
the stage disabled and an old schema-2 bundle still classify."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

pytest.importorskip("torch")
pytest.importorskip("SimpleITK")

from conftest import copy_build, reseal_goldens  # noqa: E402

from fetaledge.cli import main  # noqa: E402
from fetaledge.runtime.spec import load_spec, spec_to_dict  # noqa: E402

pytestmark = pytest.mark.slow


def _case(build: dict) -> Path:
    return sorted((build["work"] / "phantom" / "images" / "stacked_fetal_ultrasound").iterdir())[0]


def test_the_bundle_classifies_and_measures_with_checked_models(tiny_build: dict) -> None:
    bundle = tiny_build["bundle"]
    spec = load_spec(bundle / "iqa_spec.json")
    assert spec.schema_version == 3 and spec.task.kind == "classification+measurement"
    m = spec.task.measurement
    assert m.structure == "ac" and m.frame_choice == "classifier" and m.spacing_mm == (0.28, 0.28)
    assert [s.name for s in m.models][-1] == "seg-fp32-onnxruntime", "the fp32 segmentation model always ships"
    for s in m.models:
        assert (bundle / s.file).is_file() and s.input.shape[-2:] == (spec.input.height, spec.input.width)
        assert s.output.shape[-2:] == (m.grid_height, m.grid_width)
    report = json.loads((bundle / "report.json").read_text())
    meas = report["measurement"]
    assert meas["train_with_mask"] >= 4 and meas["gate"]["n"] == meas["val_frames"]
    assert "segment" in report["stage_seconds"]
    assert "## Measurement" in (bundle / "report.md").read_text()
    manifest = json.loads((bundle / "goldens" / "manifest.json").read_text())
    listed = {f["path"] for f in manifest["files"]}
    assert {"measure.json", "frames.json", "sweep.json"} <= listed


def test_verify_checks_the_measurement_goldens_and_catches_a_changed_one(tiny_build: dict, tmp_path: Path) -> None:
    bundle = tiny_build["bundle"]
    v = CliRunner().invoke(main, ["verify", str(bundle)])
    assert v.exit_code == 0, v.output
    assert "seg-fp32-onnxruntime: " in v.output and "measurement goldens" in v.output
    bad = tmp_path / "bad"
    shutil.copytree(bundle, bad)
    doc = json.loads((bad / "goldens" / "measure.json").read_text())
    measured = [e for e in doc["frames"] if e["expected"]["seg-fp32-onnxruntime"]["circumference_mm"] is not None]
    e = measured[0] if measured else None
    if e is None:  # the tiny student measured nothing: change the status instead
        doc["frames"][0]["expected"]["seg-fp32-onnxruntime"]["status"] = "ok"
    else:
        e["expected"]["seg-fp32-onnxruntime"]["circumference_mm"] += 5.0
    (bad / "goldens" / "measure.json").write_text(json.dumps(doc))
    v = CliRunner().invoke(main, ["verify", str(bad)])
    assert v.exit_code != 0 and "golden measure.json: sha256 differs from manifest.json" in v.output
    reseal_goldens(bad)  # a consistently edited golden: the model no longer reproduces it
    v = CliRunner().invoke(main, ["verify", str(bad)])
    assert v.exit_code != 0 and "seg-fp32-onnxruntime on goldens/measure/frame_" in v.output
    # a changed segmentation model is a sha256 error naming it
    seg = bad / load_spec(bad / "iqa_spec.json").task.measurement.models[-1].file
    data = bytearray(seg.read_bytes())
    data[200] ^= 0xFF
    seg.write_bytes(bytes(data))
    v = CliRunner().invoke(main, ["verify", str(bad)])
    assert v.exit_code != 0 and "seg-fp32-onnxruntime" in v.output and "sha256" in v.output


def test_infer_measures_the_classifiers_chosen_frame(tiny_build: dict, tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    r = CliRunner().invoke(main, ["infer", "--bundle", str(tiny_build["bundle"]), str(_case(tiny_build)),
                                  "--json", str(out)])
    assert r.exit_code == 0, r.output
    res = json.loads(out.read_text())
    meas = res["measurement"]
    assert meas is not None and meas["model"].startswith("seg-")
    per = res["frames_per_sweep"]
    for k, (s, row) in enumerate(zip(res["sweeps"], meas["sweeps"], strict=True)):
        if s["verdict"]["frame"] < 0:
            assert row is None
        else:
            assert row["frame"] == k * per + s["verdict"]["frame"] and row["status"] in ("ok", "rescan", "none")
            assert (row["circumference_mm"] is None) == (row["status"] == "none")
    case_line = [line for line in r.output.splitlines() if line.startswith("case:")][0]
    if res["case"]["frame"] >= 0:
        assert meas["case"]["frame"] == res["case"]["frame"]
        assert ("AC " in case_line and " mm" in case_line) or "no measurement" in case_line
    else:
        assert meas["case"] is None and "not measured" in case_line
    assert out.with_suffix(".png").is_file()


def test_old_schema2_bundle_still_classifies(tiny_build: dict, tmp_path: Path) -> None:
    old = tmp_path / "old"
    shutil.copytree(tiny_build["bundle"], old)
    d = spec_to_dict(load_spec(old / "iqa_spec.json"))
    d["schema_version"] = 2
    del d["task"]
    (old / "iqa_spec.json").write_text(json.dumps(d))
    out = tmp_path / "r.json"
    r = CliRunner().invoke(main, ["infer", "--bundle", str(old), str(_case(tiny_build)), "--json", str(out)])
    assert r.exit_code == 0, r.output
    assert json.loads(out.read_text())["measurement"] is None and "AC " not in r.output
    v = CliRunner().invoke(main, ["verify", str(old)])
    assert v.exit_code == 0, v.output


def test_a_build_without_the_stage_writes_a_classification_bundle(tiny_build: dict, tmp_path: Path) -> None:
    b = copy_build(tiny_build, tmp_path / "b")
    cfg = json.loads(b["config"].read_text())
    cfg["segment"] = {**cfg.get("segment", {}), "enabled": False}
    b["config"].write_text(json.dumps(cfg))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FETALEDGE_CACHE", str(b["fetaledge_cache"]))
        r = CliRunner().invoke(main, b["args"])
    assert r.exit_code == 0, r.output[-3000:]
    assert "segment.enabled false" in r.output and "[segment] running" not in r.output
    spec = load_spec(b["bundle"] / "iqa_spec.json")
    assert spec.task.kind == "classification" and spec.task.measurement is None
    assert not (b["bundle"] / "goldens" / "measure.json").exists()
    assert json.loads((b["bundle"] / "report.json").read_text())["measurement"] is None
    out = tmp_path / "r.json"
    r = CliRunner().invoke(main, ["infer", "--bundle", str(b["bundle"]), str(_case(b)), "--json", str(out)])
    assert r.exit_code == 0 and json.loads(out.read_text())["measurement"] is None


def test_measure_goldens_frames_are_raw_frames_of_the_input_size(tiny_build: dict) -> None:
    bundle = tiny_build["bundle"]
    spec = load_spec(bundle / "iqa_spec.json")
    doc = json.loads((bundle / "goldens" / "measure.json").read_text())
    assert len(doc["frames"]) >= 2
    for e in doc["frames"]:
        f = np.load(bundle / e["file"])
        assert f.dtype == np.uint8 and f.shape == (spec.input.height, spec.input.width)
        assert set(e["expected"]) == {s.name for s in spec.task.measurement.models}
