"""The device runtime without LiteRT: ``infer`` falls back to the next model whose runtime is installed (saying
which and why), ``verify`` checks what it can run, names what it cannot (with the pip line) and fails only on a
real mismatch. On the session's ``litert_bundle`` (conftest.py): the tiny build with its LiteRT export first."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import LITERT, ORT, reseal_goldens  # noqa: E402

from fetaledge.cli import main
from fetaledge.errors import FetaledgeError
from fetaledge.fsio import sha256_file
from fetaledge.runtime.classifier import FrameClassifier
from fetaledge.runtime.verify import verify_bundle


def _no_litert(mp: pytest.MonkeyPatch) -> None:
    """ai-edge-litert (and the old tflite-runtime) unimportable, as on `pip install fetaledge`."""
    for mod in ("ai_edge_litert", "ai_edge_litert.interpreter", "tflite_runtime", "tflite_runtime.interpreter"):
        mp.setitem(sys.modules, mod, None)


def _frame(bundle: Path) -> Path:
    return bundle / "goldens" / "frames" / "frame_000.npy"


def test_with_litert_the_primary_runs_and_verify_checks_every_model(litert_bundle: Path) -> None:
    clf = FrameClassifier(litert_bundle)
    assert clf.model.name == LITERT and clf.fallback_note is None
    r = verify_bundle(litert_bundle)
    assert set(r["models"]) == {LITERT, ORT} and r["skipped"] == []
    assert r["sweep"]["model"] == LITERT and r["sweep"]["decisions_match"]


def test_infer_falls_back_to_onnx_and_says_which_and_why(litert_bundle: Path, monkeypatch) -> None:
    _no_litert(monkeypatch)
    clf = FrameClassifier(litert_bundle)
    assert clf.model.name == ORT
    note = clf.fallback_note
    assert note is not None and f"running fallback model '{ORT}'" in note
    assert f"model '{LITERT}' (litert) skipped: no LiteRT interpreter is installed" in note
    assert "pip install ai-edge-litert" in note
    res = CliRunner().invoke(main, ["infer", "--bundle", str(litert_bundle), str(_frame(litert_bundle))])
    assert res.exit_code == 0, res.output
    assert "running fallback model" in res.output and "frame_000.npy" in res.output


def test_a_named_model_does_not_fall_back(litert_bundle: Path, monkeypatch) -> None:
    _no_litert(monkeypatch)
    with pytest.raises(FetaledgeError, match="no model of bundle .* can run here: .*no LiteRT interpreter") as exc:
        FrameClassifier(litert_bundle, model=LITERT)
    assert exc.value.hint == "pip install ai-edge-litert (tflite-runtime on old devices)"


def test_verify_without_litert_checks_onnx_and_names_what_it_could_not(litert_bundle: Path, monkeypatch) -> None:
    _no_litert(monkeypatch)
    r = verify_bundle(litert_bundle)
    assert list(r["models"]) == [ORT] and r["models"][ORT]["decision_flips"] == 0
    assert [(s["model"], s["install"]) for s in r["skipped"]] == [
        (LITERT, "pip install ai-edge-litert (tflite-runtime on old devices)")]
    assert r["sweep"]["checked"] is False and LITERT in r["sweep"]["reason"]
    res = CliRunner().invoke(main, ["verify", str(litert_bundle)])
    assert res.exit_code == 0, res.output
    assert f"{LITERT}: NOT CHECKED here: no LiteRT interpreter is installed (to check it: pip install ai-edge-litert" \
        in res.output
    assert "bundle OK" in res.output and "1 model(s) not checked here" in res.output


def _copy(bundle: Path, dest: Path) -> Path:
    import shutil

    shutil.copytree(bundle, dest)
    return dest


def test_verify_still_fails_on_a_real_mismatch_of_a_model_it_runs(litert_bundle: Path, tmp_path, monkeypatch) -> None:
    b = _copy(litert_bundle, tmp_path / "b")
    doc = json.loads((b / "goldens" / "frames.json").read_text())
    e = doc["frames"][0]["expected"][ORT]
    e["probability"] = min(1.0, e["probability"] + 0.3) if e["probability"] < 0.5 else e["probability"] - 0.3
    (b / "goldens" / "frames.json").write_text(json.dumps(doc))
    reseal_goldens(b)
    _no_litert(monkeypatch)
    with pytest.raises(FetaledgeError, match=f"failed verification: {ORT} on goldens/frames/frame_000.npy: prob"):
        verify_bundle(b)


def test_a_model_the_installed_runtime_refuses_falls_back_in_infer_and_fails_verify(litert_bundle: Path,
                                                                                     tmp_path) -> None:
    b = _copy(litert_bundle, tmp_path / "b")
    spec_doc = json.loads((b / "iqa_spec.json").read_text())
    model = next(m for m in spec_doc["models"] if m["name"] == LITERT)
    (b / model["file"]).write_bytes(b"not a flatbuffer" * 64)  # a damaged file whose sha256 the spec records
    model["sha256"] = sha256_file(b / model["file"])
    (b / "iqa_spec.json").write_text(json.dumps(spec_doc))
    clf = FrameClassifier(b)
    assert clf.model.name == ORT and "LiteRT cannot load" in (clf.fallback_note or "")
    with pytest.raises(FetaledgeError, match=f"model '{LITERT}' \\(litert\\) skipped: LiteRT cannot load"):
        verify_bundle(b)


def test_verify_with_no_runnable_model_says_what_to_install(litert_bundle: Path, monkeypatch) -> None:
    _no_litert(monkeypatch)
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(FetaledgeError, match="no model can run in this install") as exc:
        verify_bundle(litert_bundle)
    assert exc.value.hint == "pip install ai-edge-litert (tflite-runtime on old devices) and pip install onnxruntime"


def test_verify_fails_when_a_golden_file_is_deleted_or_changed(litert_bundle: Path, tmp_path) -> None:
    b = _copy(litert_bundle, tmp_path / "b")
    (b / "goldens" / "decision" / "nan_rejected.json").unlink()
    text = (b / "goldens" / "geometry" / "letterbox_cases.json").read_text()
    (b / "goldens" / "geometry" / "letterbox_cases.json").write_text(text + " ")
    with pytest.raises(FetaledgeError) as exc:
        verify_bundle(b)
    assert "decision/nan_rejected.json: listed in manifest.json but missing" in str(exc.value)
    assert "geometry/letterbox_cases.json: sha256 differs from manifest.json" in str(exc.value)
