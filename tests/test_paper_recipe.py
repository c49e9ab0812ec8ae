"""`fetaledge finetune --recipe paper` and `--backbone fetalclip-seg` on a small phantom, through the CLI:
both F1s with mean +- sd, the paper split and copies, the SEG report (masks PNG, Dice, area rule, WFSS), merge
and export of the SEG teacher, and the comparison table's eight rows."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("SimpleITK")
pytest.importorskip("scipy")

from click.testing import CliRunner  # noqa: E402

from fetaledge.cli import main  # noqa: E402

FAST = ["--epochs", "1", "--batch-size", "16", "--no-pretrain"]


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    from fetaledge.data.cache import prepare_cache
    from fetaledge.data.phantom import PhantomConfig, write_phantom

    root = tmp_path_factory.mktemp("paper")
    write_phantom(root / "phantom", PhantomConfig(cases=5, frames_per_sweep=10, seed=3))
    prepare_cache(root / "phantom", root / "cache")
    return root / "cache"


def _run(args: list[str]) -> str:
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output[-3000:]
    return result.output


@pytest.mark.slow
def test_finetune_recipe_paper_prints_both_f1s_over_trials(cache: Path, tmp_path: Path) -> None:
    from fetaledge.data.cache import FrameCache
    from fetaledge.data.splits import paper_split

    out = _run(["finetune", "--data", str(cache), "--out", str(tmp_path / "run"), "--recipe", "paper",
                "--trials", "2", *FAST])
    assert "over 2 trial(s) (mean +- sd): F1 at 0.5 " in out and "F1 at the calibrated threshold" in out
    assert "+-" in out and "split by scan uuid" in out
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    info = run["data"]["recipe"]
    fc = FrameCache(cache)
    expected = paper_split([e["uuid"] for e in fc.manifest["cases"]])
    assert run["data"]["split_cases"] == expected.cases and info["train_copies"] == 2
    assert {"mean", "std"} <= set(run["mean_std_at_0.5"]["f1"]) and len(run["trials"]) == 2
    train_frames = sum(fc.entries[u]["frames"] for u in expected.cases["train"])
    cfg = json.loads((tmp_path / "run" / "trials" / "0" / "model" / "config.json").read_text())
    assert cfg["lora"]["targets"] == ["c_fc", "c_proj", "out_proj"] and cfg["recipe"] == "paper"
    assert run["config"]["augment"] is False
    hist = json.loads((tmp_path / "run" / "trials" / "0" / "history.json").read_text())
    assert hist[0]["frames_per_s"] > 0 and train_frames > 0
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["at_0.5"]["threshold"] == 0.5 and "threshold" in metrics


@pytest.mark.slow
def test_seg_teacher_report_merge_and_export(cache: Path, tmp_path: Path) -> None:
    out = _run(["finetune", "--data", str(cache), "--out", str(tmp_path / "seg"), "--backbone", "fetalclip-seg",
                *FAST])
    assert "at the area rule" in out and "masks: Dice" in out and "WFSS" in out
    trial = tmp_path / "seg" / "trials" / "0"
    metrics = json.loads((trial / "metrics.json").read_text())
    seg = metrics["segmentation"]
    assert seg["area_rule"]["min_area_pixels"] == 126  # 1 % of the tiny stand-in's 112 x 112
    assert seg["masks"]["dice_pooled"] is not None and 0.0 <= seg["masks"]["iou_pooled"] <= 1.0
    assert seg["wfss_per_case"] and all(0.0 <= c["wfss"] <= 1.0 for c in seg["wfss_per_case"])
    assert (trial / "masks.png").stat().st_size > 1000
    assert metrics["at_0.5"]["threshold"] == 0.5
    merged = tmp_path / "seg" / "merged"
    assert "fetalclip-seg-merged" in _run(["merge", str(tmp_path / "seg"), "--out", str(merged)])
    assert "at 0.5" in _run(["evaluate", str(merged), "--data", str(cache), "--split", "test"])
    _run(["export", str(merged), "--out", str(tmp_path / "export"), "--format", "onnx"])
    report = json.loads((tmp_path / "export" / "merged.export.json").read_text())
    assert report["reports"]["onnx"]["max_abs_diff"] <= 1e-3
    # The public mask function issue 16 distils from: per-pixel probabilities at the teacher's input size.
    from fetaledge.data.cache import FrameCache
    from fetaledge.train.seg_teacher import mask_probabilities

    frames = FrameCache(cache).load("val").images[:3]
    probs = mask_probabilities(merged, frames)
    assert probs.shape == (3, 112, 112) and probs.dtype == np.float32 and 0 <= probs.min() <= probs.max() <= 1


@pytest.mark.slow
def test_paper_table_writes_all_eight_rows(cache: Path, tmp_path: Path, monkeypatch) -> None:
    from fetaledge.train.paper_table import ROWS, paper_table

    monkeypatch.setenv("FETALEDGE_CACHE", str(tmp_path / "fetaledge-cache"))  # the stand-in pretraining
    # The cheapest run that still takes every row through finetune: default recipe (no offline copies), 1 epoch.
    body = paper_table(cache, tmp_path / "table", recipe="default", tiny=True, trials=1, epochs=1, batch_size=16,
                       log=lambda m: None)
    assert [r["model"] for r in body["rows"]] == [r.label for r in ROWS]
    assert all("random init" in r["weights"] for r in body["rows"][:6])
    assert all("stand-in" in r["weights"] for r in body["rows"][6:])
    md = (tmp_path / "table" / "paper_table.md").read_text()
    assert md.count("\n| ") == 9 and "F1 calibrated" in md and "0.771" in md
