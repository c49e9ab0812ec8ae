"""Stage bookkeeping of `fetaledge build`: what makes a stage re-run (inputs, outputs, and its code)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fetaledge import stages
from fetaledge.errors import FetaledgeError
from fetaledge.stages import STAGE_CODE, code_fingerprint, fingerprint_files, run_stage, source_files

BUILD_STAGES = ("phantom", "cache", "teacher", "merge", "distill", "export", "quantize")


def test_every_build_stage_has_code_that_exists() -> None:
    assert set(BUILD_STAGES) <= set(STAGE_CODE)
    for name in BUILD_STAGES:
        files = source_files(STAGE_CODE[name])
        assert files and all(f.is_file() for f in files.values()), name
        assert len(code_fingerprint(name)) == 16
    assert "fetaledge/export/onnx.py" in source_files(STAGE_CODE["export"])
    assert "quantize/backends/ort.py" in source_files(STAGE_CODE["quantize"])
    assert code_fingerprint("quantize:arm64") == code_fingerprint("quantize:x86_64")
    assert code_fingerprint("not-a-build-stage") == ""


def test_a_missing_code_path_is_a_clear_error() -> None:
    with pytest.raises(FetaledgeError, match="fetaledge/nope.py.*not found"):
        source_files(("fetaledge/nope.py",))


def test_fingerprint_follows_bytes_and_names_not_order(tmp_path: Path) -> None:
    a, b = tmp_path / "a.py", tmp_path / "b.py"
    a.write_text("x = 1\n")
    b.write_text("y = 2\n")
    fp = fingerprint_files({"p/a.py": a, "p/b.py": b})
    assert fp == fingerprint_files({"p/b.py": b, "p/a.py": a})
    assert fp != fingerprint_files({"p/a.py": a, "p/c.py": b})
    a.write_text("x = 2\n")
    assert fp != fingerprint_files({"p/a.py": a, "p/b.py": b})


def test_run_stage_skips_and_reruns_on_inputs_outputs_and_code(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    runs: list[str] = []
    logs: list[str] = []

    def fn(d: Path) -> None:
        d.mkdir(parents=True, exist_ok=True)
        (d / "out.txt").write_text(str(len(runs)))
        runs.append("ran")

    folder = tmp_path / "export"

    def go(inputs: dict) -> str:
        return run_stage("export", folder, inputs, fn, log=logs.append, outputs=("out.txt",))

    k1 = go({"a": 1})
    assert go({"a": 1}) == k1 and len(runs) == 1 and "up to date" in logs[-1]
    assert go({"a": 2}) != k1 and len(runs) == 2
    (folder / "out.txt").unlink()
    go({"a": 2})
    assert len(runs) == 3
    monkeypatch.setattr(stages, "code_fingerprint", lambda name: "edited-source")
    k4 = go({"a": 2})
    assert len(runs) == 4 and any("its code changed" in line for line in logs)
    assert go({"a": 2}) == k4 and len(runs) == 4
