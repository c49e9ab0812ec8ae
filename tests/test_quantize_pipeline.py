"""`fetaledge quantize` on the session's tiny build: the sized gate, the diagnosis it writes, the QAT fallback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

pytest.importorskip("torch")

import numpy as np  # noqa: E402

from fetaledge.cli import main  # noqa: E402
from fetaledge.data.cache import FrameCache  # noqa: E402
from fetaledge.data.raw import raw_frames_at  # noqa: E402
from quantize import run_artifact  # noqa: E402


@pytest.mark.slow
def test_quantize_writes_diagnosis_and_falls_back_to_qat(tiny_build: dict, tmp_path: Path) -> None:
    work = tiny_build["work"]
    out = tmp_path / "quant"
    args = ["quantize", str(work / "student" / "default_student"), "--onnx", str(work / "export" / "student.onnx"),
            "--data", str(work / "cache"), "--out", str(out), "--backend", "onnxruntime",
            "--calibration-frames", "30", "--min-gate-frames", "20", "--min-agreement", "1.01", "--qat",
            "--max-fallbacks", "0"]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output[-3000:]
    summary = json.loads((out / "quantize.json").read_text())
    assert summary["kernels"] == "exact"  # the arm64 target's scoring kernels
    assert summary["n_gate"] >= 20 and summary["gate_frames"]["augmented_copies"] == 60
    for backend in ("onnxruntime",):  # LiteRT's QAT artifact: tests/test_quantize_int8.py
        e = summary["backends"][backend]
        # an agreement above 1 cannot pass: the post-training attempt and then the QAT one were tried
        assert not e["passed"] and [a["change"][:3] for a in e["attempts"]] == ["as ", "QAT"]
        qat_art = Path(e["attempts"][-1]["artifact"]["path"])
        assert qat_art.is_file() and "qat" in qat_art.parts
        frames = raw_frames_at(FrameCache(work / "cache"), "val", np.arange(2))
        assert np.isfinite(run_artifact(qat_art, frames)).all()
        assert Path(e["diagnose"]).is_file() and "SQNR" in Path(e["diagnose"]).read_text()
    assert (out / "qat" / "student.qat.onnx").is_file() and (out / "qat" / "qat.json").is_file()
    assert "post-training INT8 failed its gate: quantization-aware fine-tuning" in r.output
