"""The real-data report's arithmetic on synthetic scores: group-bootstrap intervals, per-centre F1, planes called
positive, agreement with the parent, the Markdown and the confusion figure (no model, no shared data)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fetaledge.bench.artifacts import BenchArtifact
from fetaledge.bench.real import RealEntry, artifact_metrics, confusion_figure, report_markdown, summarize


def _scores() -> dict:
    rng = np.random.default_rng(0)
    n = 120
    planes = np.array(["Fetal abdomen", "Fetal brain", "Fetal femur", "Fetal thorax"])[rng.integers(0, 4, n)]
    y = (planes == "Fetal abdomen").astype(int)
    fp32 = np.where(y == 1, 1.5, -1.0) + rng.normal(0, 1.0, n)
    int8 = fp32 + rng.normal(0, 0.05, n)
    return {"logits": {"fp32": fp32, "int8": int8}, "labels": y, "groups": [f"g{i // 3}" for i in range(n)],
            "centres": [("A", "B", "C")[i % 3] for i in range(n)], "planes": list(planes), "raw_hw": [224, 224]}


def _entries() -> list[RealEntry]:
    return [RealEntry(BenchArtifact("fp32", "student", "onnxruntime", "fp32", "x.onnx"), 0.5, note="fp32"),
            RealEntry(BenchArtifact("int8", "student", "onnxruntime", "int8", "y.onnx"), 0.5, "fp32", note="int8")]


def test_metrics_with_group_bootstrap_intervals() -> None:
    s = _scores()
    p = 1 / (1 + np.exp(-s["logits"]["fp32"]))
    m = artifact_metrics(p, s["labels"], s["groups"], 0.5, n_boot=300)
    for k in ("f1", "precision", "recall", "auroc"):
        assert m[k]["low"] <= m[k]["value"] <= m[k]["high"], k
    assert m["tp"] + m["fn"] == m["positives"] and m["n"] == 120
    # the grouping changes the resampling (whole patient groups), never the estimate
    single = artifact_metrics(p, s["labels"], [str(i) for i in range(120)], 0.5, n_boot=300)
    assert m["f1"]["value"] == single["f1"]["value"]


def test_summary_report_and_figure(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    s = _scores()
    a = summarize(s, _entries(), n_boot=200)
    assert set(a["fp32"]["per_centre"]) == {"A", "B", "C"}
    cp = a["fp32"]["called_positive_by_plane"]
    assert sum(v["n"] for v in cp.values()) == 120
    v = a["int8"]["vs_parent"]
    assert v["parent"] == "fp32" and 0.9 <= v["decision_agreement"] <= 1.0 and v["flips"] == round(
        (1 - v["decision_agreement"]) * 120)
    results = {"artifacts": a, "data": {"name": "synthetic", "description": "d", "test_images": 120,
                                        "test_positives": int(s["labels"].sum()), "test_groups": 40,
                                        "centres": ["A", "B", "C"], "positive_planes": ["Fetal abdomen"]},
               "bootstrap": {"n": 200, "seed": 0}, "notes": ["n"], "command": "c", "target": "arm64"}
    md = report_markdown(results)
    assert "| fp32 | " in md and "F1 per centre" in md and "| int8 | fp32 |" in md
    png = confusion_figure(results, tmp_path / "c.png")
    assert png.stat().st_size > 10_000
