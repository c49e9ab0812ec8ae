"""`fetaledge build` end to end on the session's tiny phantom build (every stage for real), then verify / infer on
the bundle, the typed config it saved, and the stage cache: a second build skips everything, an edit of code a
stage depends on re-runs that stage and every later one (the last test here: it rebuilds the session build)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

pytest.importorskip("torch")
pytest.importorskip("SimpleITK")

from fetaledge import codegraph  # noqa: E402
from fetaledge.cli import main  # noqa: E402
from fetaledge.config import parse_config  # noqa: E402

pytestmark = pytest.mark.slow

STAGES = ("phantom", "cache", "teacher", "merge", "distill", "export", "quantize:arm64", "segment")


def _build(build: dict) -> object:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FETALEDGE_CACHE", str(build["fetaledge_cache"]))
        return CliRunner().invoke(main, build["args"])


def test_build_writes_a_verified_bundle_and_zip(tiny_build: dict) -> None:
    root, bundle = tiny_build["root"], tiny_build["bundle"]
    assert (bundle / "iqa_spec.json").is_file() and (root / "bundle.zip").is_file()
    report = json.loads((bundle / "report.json").read_text())
    assert report["target"]["name"] == "arm64"
    assert {"teacher-fp32-torch", "student-fp32-onnxruntime"} <= set(report["test_quality"])
    assert report["shipped"][-1]["precision"] == "fp32", "the fp32 fallback always ships"
    assert "onnxruntime" in report["gate"] and "passed" in report["gate"]["onnxruntime"]
    v = CliRunner().invoke(main, ["verify", str(bundle), "--target", "arm64"])
    assert v.exit_code == 0, v.output
    assert (root / "assets" / "bundle" / "iqa_spec.json").is_file()


def test_the_resolved_config_is_saved_beside_the_bundle(tiny_build: dict) -> None:
    saved = json.loads((tiny_build["bundle"] / "build_config.json").read_text())
    cfg = parse_config(saved)
    assert cfg == parse_config(json.loads(tiny_build["config"].read_text()))
    assert cfg.phantom.cases == 5 and cfg.quantize.backends == ("onnxruntime",)
    assert saved["distill"]["kd"] == {"alpha": 0.5, "temperature": 2.0, "pos_weight": 1.0}  # defaults resolved


def test_stages_report_progress_in_a_log(tiny_build: dict) -> None:
    out = tiny_build["result"].output  # CliRunner: stdout is not a terminal
    for what in ("pretrain (stand-in)", "teacher"):
        lines = [line for line in out.splitlines() if line.startswith(f"[{what}] epoch 1/1")]
        assert lines and "elapsed" in lines[0] and "left" in lines[0], what
    assert any("epoch 1/1" in line and "elapsed" in line for line in out.splitlines() if "efficientnet" in line)


def test_second_build_skips_every_stage(tiny_build: dict) -> None:
    r = _build(tiny_build)
    assert r.exit_code == 0, r.output[-3000:]
    for stage in STAGES:
        assert f"[{stage}] up to date" in r.output, stage


def test_verify_fails_on_a_changed_byte_and_infer_runs(tiny_build: dict, tmp_path: Path) -> None:
    bundle = tiny_build["bundle"]
    case = next((tiny_build["work"] / "phantom" / "images" / "stacked_fetal_ultrasound").iterdir())
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
    for bad, word in (({"phantom": {}, "finetuen": {}}, "finetuen"), ({"distill": {"kd": {"alfa": 1}}}, "alfa"),
                      ({"quantize": {"max_dorp": 0.1}}, "max_dorp")):
        cfg.write_text(json.dumps(bad))
        r = CliRunner().invoke(main, ["build", "--target", "arm64", "--out", str(tmp_path / "b"), "--config",
                                      str(cfg)])
        assert r.exit_code != 0 and word in r.output and "valid keys" in r.output
        assert "Traceback" not in r.output and len(r.output.strip().splitlines()) == 1, r.output
    assert not (tmp_path / "b").exists()


def test_input_signature_follows_content_not_copy_time(tmp_path: Path) -> None:
    import os

    from fetaledge.stages import input_sig

    src = tmp_path / "data"
    (src / "images").mkdir(parents=True)
    (src / "images" / "a.png").write_bytes(b"\x89PNG pixels")
    (src / "labels.csv").write_text("Image_name;Plane\na;Fetal abdomen\n")
    before = input_sig(src)
    for f in src.rglob("*"):  # the dataset copied again: same bytes, new modification times
        os.utime(f, (1e9, 1e9))
    assert input_sig(src) == before
    (src / "labels.csv").write_text("Image_name;Plane\na;Fetal brain\n")
    assert input_sig(src) != before
    assert input_sig(src / "labels.csv")[1] != input_sig(src / "images" / "a.png")[1]


def test_editing_code_the_cache_stage_uses_reruns_it_and_every_later_stage(tiny_build: dict) -> None:
    """Must show: edit a function used by the cache stage (``resize_frames`` in fetaledge/preprocess.py, seen
    through the source reader the fingerprints use); the cache stage and every stage after it re-run, the phantom
    does not, and neither the stand-in pretraining nor the teacher logits are reused. Runs last: it leaves the
    session build built with the 'edited' fingerprints."""
    from fetaledge.data.cache import FrameCache
    from fetaledge.train.distill_teacher import logits_key, teacher_info
    from fetaledge.train.pretrain import pretrain_key
    from fetaledge.train.settings import PretrainSettings

    work = tiny_build["work"]
    edited = codegraph.import_graph().files["fetaledge.preprocess"]
    src = edited.read_text()
    assert "def resize_frames(" in src
    real = codegraph.read_source

    def read_edited(p: Path) -> bytes:
        if Path(p) == edited:  # one more statement inside resize_frames
            return src.replace("def resize_frames(", "def resize_frames(  # edited\n", 1).encode()
        return real(p)

    cache = FrameCache(work / "cache")
    teacher = teacher_info(work / "teacher" / "merged")
    pretrained = sorted((tiny_build["fetaledge_cache"] / "pretrain").iterdir())
    keys_before = (pretrain_key(cache.root, PretrainSettings(epochs=1)), logits_key(teacher, cache))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(codegraph, "read_source", read_edited)
        codegraph.clear()
        try:
            keys_after = (pretrain_key(cache.root, PretrainSettings(epochs=1)), logits_key(teacher, cache))
            r = _build(tiny_build)
        finally:
            mp.undo()
            codegraph.clear()
    assert r.exit_code == 0, r.output[-3000:]
    assert keys_after[0] != keys_before[0] and keys_after[1] != keys_before[1]
    assert "[phantom] up to date" in r.output
    assert "[cache] running" in r.output and "(same inputs, its code changed)" in r.output
    for stage in STAGES[2:]:
        assert f"[{stage}] running" in r.output, stage
    # the stand-in pretraining ran again into a new cache entry, beside the old one
    assert len(sorted((tiny_build["fetaledge_cache"] / "pretrain").iterdir())) == len(pretrained) + 1
    assert "[pretrain (stand-in)] epoch 1/1" in r.output
    assert "teacher logits: running" in r.output and "teacher logits reused" not in r.output
