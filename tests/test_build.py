"""`fetaledge build` end to end on a tiny phantom (every stage for real), then verify / infer on the bundle."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

pytest.importorskip("torch")
pytest.importorskip("SimpleITK")

from fetaledge.cli import main  # noqa: E402

TINY = {
    "phantom": {"cases": 5, "frames_per_sweep": 12, "seed": 3},
    "finetune": {"epochs": 1, "batch_size": 16, "pretrain": {"epochs": 1}},
    "distill": {"epochs": 1, "resolution": 64, "batch_size": 16},
    "quantize": {"calibration_frames": 30, "backends": ["onnxruntime"], "max_fallbacks": 0},
}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("build")
    mp = pytest.MonkeyPatch()
    mp.setenv("FETALEDGE_CACHE", str(root / "fetaledge-cache"))  # the stand-in pretraining cache
    cfg = root / "tiny.json"
    cfg.write_text(json.dumps(TINY))
    args = ["build", "--target", "arm64", "--out", str(root / "bundle"), "--work", str(root / "work"),
            "--config", str(cfg), "--android-assets", str(root / "assets")]
    first = CliRunner().invoke(main, args)
    second = CliRunner().invoke(main, args)
    mp.undo()
    return {"root": root, "first": first, "second": second, "args": args}


def test_build_writes_a_verified_bundle_and_zip(built: dict) -> None:
    r = built["first"]
    assert r.exit_code == 0, r.output[-3000:]
    root = built["root"]
    bundle = root / "bundle"
    assert (bundle / "iqa_spec.json").is_file() and (root / "bundle.zip").is_file()
    report = json.loads((bundle / "report.json").read_text())
    assert report["target"]["name"] == "arm64"
    assert {"teacher-fp32-torch", "student-fp32-onnxruntime"} <= set(report["test_quality"])
    assert report["shipped"][-1]["precision"] == "fp32", "the fp32 fallback always ships"
    assert "onnxruntime" in report["gate"] and "passed" in report["gate"]["onnxruntime"]
    v = CliRunner().invoke(main, ["verify", str(bundle), "--target", "arm64"])
    assert v.exit_code == 0, v.output
    assert (root / "assets" / "bundle" / "iqa_spec.json").is_file()


def test_second_build_skips_every_stage(built: dict) -> None:
    r = built["second"]
    assert r.exit_code == 0, r.output[-3000:]
    for stage in ("phantom", "cache", "teacher", "merge", "distill", "export", "quantize:arm64"):
        assert f"[{stage}] up to date" in r.output, stage


def test_verify_fails_on_a_changed_byte_and_infer_runs(built: dict, tmp_path: Path) -> None:
    bundle = built["root"] / "bundle"
    case = next((built["root"] / "work" / "phantom" / "images" / "stacked_fetal_ultrasound").iterdir())
    out = tmp_path / "r.json"
    r = CliRunner().invoke(main, ["infer", "--bundle", str(bundle), str(case), "--json", str(out)])
    assert r.exit_code == 0, r.output
    assert len(json.loads(out.read_text())["sweeps"]) == 6
    bad = tmp_path / "bad"
    shutil.copytree(bundle, bad)
    model = sorted((bad / "models").iterdir())[0]
    data = bytearray(model.read_bytes())
    data[100] ^= 0xFF
    model.write_bytes(bytes(data))
    v = CliRunner().invoke(main, ["verify", str(bad)])
    assert v.exit_code != 0 and "sha256" in v.output


def test_unknown_target_and_bad_config(tmp_path: Path) -> None:
    r = CliRunner().invoke(main, ["build", "--target", "riscv", "--out", str(tmp_path / "b")])
    assert r.exit_code != 0 and "known targets: arm64, android-arm64, x86_64" in r.output
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"phantom": {}, "finetuen": {}}))
    r = CliRunner().invoke(main, ["build", "--target", "arm64", "--out", str(tmp_path / "b"), "--config", str(cfg)])
    assert r.exit_code != 0 and "finetuen" in r.output
    assert not (tmp_path / "b").exists()


def test_input_signature_follows_content_not_copy_time(tmp_path: Path) -> None:
    import os

    from fetaledge.stages import input_sig as _file_sig

    src = tmp_path / "data"
    (src / "images").mkdir(parents=True)
    (src / "images" / "a.png").write_bytes(b"\x89PNG pixels")
    (src / "labels.csv").write_text("Image_name;Plane\na;Fetal abdomen\n")
    before = _file_sig(src)
    for f in src.rglob("*"):  # the dataset copied again: same bytes, new modification times
        os.utime(f, (1e9, 1e9))
    assert _file_sig(src) == before
    (src / "labels.csv").write_text("Image_name;Plane\na;Fetal brain\n")
    assert _file_sig(src) != before
    assert _file_sig(src / "labels.csv")[1] != _file_sig(src / "images" / "a.png")[1]
