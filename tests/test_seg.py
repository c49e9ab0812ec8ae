"""Segmentation students: the raw-frame graph, the loss with its KD hook, training chosen by measurement, ONNX
export + parity, INT8 through quantize behind the Dice / measurement gate, and the scores of the report."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest

from fetaledge.errors import FetaledgeError
from fetaledge.runtime.geometry import letterbox
from fetaledge.runtime.measure import FrameMap, measure_mask
from fetaledge.seg_eval import dice, frame_mask, hausdorff_mm, seg_gate

torch = pytest.importorskip("torch")

FRAME = (160, 240)  # a small raw frame of the HC18 aspect (2:3)
GRID = (64, 96)


def ellipse_set(n: int, seed: int):
    """Raw frames with a bright ring around a darker head-like ellipse, their masks and HC in pixels."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:FRAME[0], 0:FRAME[1]]
    frames, masks, hcs = [], [], []
    for _ in range(n):
        a, b = rng.uniform(30, 55), rng.uniform(22, 30)
        cx, cy, ang = rng.uniform(90, 150), rng.uniform(65, 95), rng.uniform(-1, 1)
        c, s = math.cos(ang), math.sin(ang)
        u = ((xx + 0.5 - cx) * c + (yy + 0.5 - cy) * s) / a
        v = (-(xx + 0.5 - cx) * s + (yy + 0.5 - cy) * c) / b
        r = np.sqrt(u * u + v * v)
        img = 60 + 30 * rng.random(FRAME) + 120 * (np.abs(r - 1) < 0.08) - 25 * (r < 0.92)
        frames.append(np.clip(img, 0, 255).astype(np.uint8))
        masks.append(r < 1.0)
        hcs.append(math.pi * (3 * (a + b) - math.sqrt((3 * a + b) * (a + 3 * b))))
    return np.stack(frames), np.stack(masks), np.array(hcs)


def grid_set(frames, masks, hcs, teacher: bool = False):
    from fetaledge.train.seg_distill import SegSet

    f = np.stack([letterbox(x, *GRID) for x in frames])
    m = np.stack([letterbox(x.astype(np.uint8) * 255, *GRID) for x in masks])
    return SegSet(f, m, FRAME, np.ones(len(f)), hcs, m.astype(np.float32) / 255.0 if teacher else None)


@pytest.fixture(scope="module")
def trained():
    from fetaledge.train.seg_distill import SegTrainConfig, train_seg_student

    tr = ellipse_set(16, 0)
    va = ellipse_set(6, 1)
    cfg = SegTrainConfig(student="unet6", out_h=GRID[0], out_w=GRID[1], epochs=3, batch_size=8, lr=5e-3,
                         threads=1, kd_weight=0.5)
    result = train_seg_student(cfg, grid_set(*tr, teacher=True), grid_set(*va))
    return result, tr, va


def test_raw_frame_graph_letterboxes_like_the_runtime():
    from fetaledge.models.seg_students import RawFrameSegModel, TinyUNet

    frame = np.random.default_rng(0).integers(0, 256, (540, 800), dtype=np.uint8)
    model = RawFrameSegModel(540, 800, 96, 128, TinyUNet(4))
    with torch.no_grad():
        grid = model.resample(torch.from_numpy(frame[None]).float())[0].numpy()
        out = model(torch.from_numpy(frame[None]))
    assert out.shape == (1, 96, 128)
    assert np.abs(grid - letterbox(frame, 96, 128)).max() <= 0.5 + 1e-3  # the runtime rounds to uint8
    with pytest.raises(FetaledgeError, match="divisible by 32"):
        RawFrameSegModel(540, 800, 100, 128, TinyUNet(4))


def test_loss_is_zero_on_a_perfect_mask_and_the_kd_term_pulls_toward_the_teacher():
    from fetaledge.train.seg_distill import seg_loss

    t = torch.zeros(2, 8, 8)
    t[:, 2:6, 2:6] = 1
    assert float(seg_loss(torch.where(t > 0, 30.0, -30.0), t)) < 1e-6
    logits = torch.full((2, 8, 8), 3.0)  # the student says "head" everywhere
    agree = seg_loss(logits, t, teacher=torch.full_like(t, 0.95), kd_weight=1.0)
    disagree = seg_loss(logits, t, teacher=torch.full_like(t, 0.05), kd_weight=1.0)
    assert float(disagree) > float(agree) > float(seg_loss(logits, t))
    assert float(seg_loss(logits, t, teacher=torch.full_like(t, 0.05), kd_weight=0.0)) == float(seg_loss(logits, t))


@pytest.mark.slow  # trains for 3 epochs: about 6 s on a free core, 12 s on a loaded one
def test_training_keeps_the_epoch_with_the_lowest_validation_hc_error(trained):
    result, _, _ = trained
    maes = [h["val_hc_mae_mm"] for h in result.history]
    assert len(maes) == 3 and result.best_epoch == int(np.argmin(maes))
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    assert {"val_dice_grid", "val_no_measurement", "seconds"} <= set(result.history[0])
    with pytest.raises(FetaledgeError, match="grid"):
        from fetaledge.train.seg_distill import SegTrainConfig, train_seg_student

        train_seg_student(SegTrainConfig(out_h=96, out_w=128), grid_set(*trained[1]), grid_set(*trained[2]))


@pytest.mark.slow  # export + ORT INT8 calibration: about 4-8 s
def test_export_parity_int8_and_the_measurement_gate(trained, tmp_path):
    from fetaledge.export.seg_onnx import check_seg_parity, export_seg_onnx, quantize_seg_ort, run_seg_onnx

    result, tr, va = trained
    path = export_seg_onnx(result.model, *FRAME, *GRID, tmp_path / "seg.onnx")
    parity = check_seg_parity(result.model, path, va[0][:4], FRAME, GRID)
    assert parity.max_abs_prob < 1e-4
    art = quantize_seg_ort(path, tr[0][:8], tmp_path / "int8")
    assert art.path.is_file() and art.size_bytes < path.stat().st_size
    fmap = FrameMap.letterbox(*FRAME, *GRID)

    def measured(p):
        probs = 1 / (1 + np.exp(-run_seg_onnx(p, va[0])))
        return [(q, measure_mask(q, fmap, 1.0)) for q in probs]

    fp32, int8 = measured(path), measured(art.path)
    assert seg_gate(fp32, fp32).passed
    gate = seg_gate(fp32, int8, min_dice=0.0, min_agreement=0.0, max_mean_mm=1e9)
    assert gate.passed and gate.n == len(va[0]) and 0.0 <= gate.mean_dice <= 1.0
    strict = seg_gate(fp32, int8, min_dice=1.01)
    assert not strict.passed and "mean Dice" in strict.reasons[0]
    with pytest.raises(FetaledgeError, match="do not fit"):
        run_seg_onnx(path, np.zeros((1, 10, 10), np.uint8))


def test_scores_dice_hausdorff_and_frame_mask():
    a = np.zeros((10, 10), bool)
    a[2:6, 2:6] = True
    b = np.roll(a, 2, axis=1)
    assert dice(a, a) == 1.0 and dice(a, b) == pytest.approx(0.5)
    assert hausdorff_mm(np.array([[0.0, 0.0]]), np.array([[3.0, 4.0], [0.0, 1.0]])) == 5.0
    assert hausdorff_mm(np.zeros((0, 2)), np.ones((1, 2))) == math.inf
    grid = np.zeros((4, 4))
    grid[1:3, 1:3] = 1.0
    full = frame_mask(grid, FrameMap.letterbox(8, 8, 4, 4))
    assert full.shape == (8, 8) and full.sum() == 16 and full[2:6, 2:6].all()


@pytest.mark.slow  # exports the tiny student: about 2-4 s
def test_infer_on_a_segmentation_bundle_prints_and_writes_the_measurement(trained, tmp_path):
    from click.testing import CliRunner

    from fetaledge.cli import main
    from fetaledge.export.seg_onnx import export_seg_onnx
    from fetaledge.runtime.measure_spec import example_measurement_spec
    from fetaledge.seg_bundle import write_seg_bundle

    result, _, va = trained
    onnx = export_seg_onnx(result.model, *FRAME, *GRID, tmp_path / "seg.onnx")
    spec = dataclasses.replace(example_measurement_spec(), model="seg.onnx", grid_height=GRID[0], grid_width=GRID[1])
    bundle = write_seg_bundle(tmp_path / "bundle_seg", onnx, spec)
    np.save(tmp_path / "f0.npy", va[0][0])
    np.save(tmp_path / "wide.npy", np.zeros((100, 300), np.uint8))  # another size: letterboxed, needs a spacing
    out = CliRunner().invoke(main, ["infer", "--bundle", str(bundle), str(tmp_path / "f0.npy"),
                                    str(tmp_path / "wide.npy"), "--spacing-mm", "0.2", "0.2",
                                    "--json", str(tmp_path / "r.json")])
    assert out.exit_code == 0, out.output
    assert "f0.npy: " in out.output and "wide.npy: " in out.output
    r = json.loads((tmp_path / "r.json").read_text())
    for f in r["frames"]:  # a number exactly when there is a measurement, and a PNG either way
        assert f["status"] in ("ok", "rescan", "none") and (f["circumference_mm"] is None) == (f["status"] == "none")
        assert Path(f["png"]).is_file()
    assert (r["frames"][1]["height"], r["frames"][1]["width"]) == (100, 300)
    bad = CliRunner().invoke(main, ["infer", "--bundle", str(bundle), str(tmp_path / "wide.npy")])
    assert bad.exit_code != 0 and "another pixel spacing" in bad.output
