"""FetalCLIP_SEG: the area rule, the decoder taps, masks as the paper makes them, Dice, and the paper's copies."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("scipy")

from fetaledge.models.fetalclip import FETALCLIP_NAME, TINY_NAME  # noqa: E402
from fetaledge.models.segmentation import (  # noqa: E402
    area_logit,
    build_segmenter,
    hook_blocks,
    min_area,
)
from fetaledge.train.masks import min_area_pixels, nearest_index, resize_masks_nearest  # noqa: E402
from fetaledge.train.paper_augment import augmented_copies, clahe  # noqa: E402
from fetaledge.train.seg_teacher import dice_loss, mask_scores, wfss_per_case  # noqa: E402


def _mask_logits_with_area(area: int, size: int = 224) -> torch.Tensor:
    logits = torch.full((size * size,), -3.0)
    logits[torch.randperm(size * size, generator=torch.Generator().manual_seed(area))[:area]] = 2.0
    return logits.reshape(1, size, size)


@pytest.mark.parametrize(("area", "positive"), [(0, False), (501, False), (502, True), (503, True), (50176, True)])
def test_area_rule_at_501_and_502_pixels(area: int, positive: bool) -> None:
    # The paper: positive when (sigmoid > 0.5).sum() >= 224 * 224 * 0.01 = 501.76, i.e. 502 pixels.
    assert min_area(224) == min_area_pixels(224) == 502
    p = torch.sigmoid(area_logit(_mask_logits_with_area(area), 224))
    assert bool(p.item() >= 0.5) is positive
    assert (area >= 224 * 224 * 0.01) is positive


def test_hooks_on_blocks_6_8_12_24_and_the_decoder_shapes() -> None:
    assert [b + 1 for b in hook_blocks(24)] == [24, 12, 8, 6]
    assert [b + 1 for b in hook_blocks(4)] == [4, 2, 1, 1]
    with torch.device("meta"):
        big = build_segmenter(FETALCLIP_NAME)
    assert (big.grid, big.out_grid, big.base_filters) == (16, 14, 32)  # 16x16 tokens resized to 14x14
    model = build_segmenter(TINY_NAME, seed=0).eval()
    x = torch.randn(2, 3, 112, 112)
    maps = model.token_maps(x)
    assert [tuple(m.shape) for m in maps] == [(2, 96, 7, 7)] * 4
    with torch.no_grad():
        masks = model.masks(x)
        area = (masks > 0).flatten(1).sum(1).float()
        assert masks.shape == (2, 112, 112)
        assert torch.allclose(torch.sigmoid(model(x)), (area + 0.5) / (area + 0.5 + min_area(112)))


def test_frozen_encoder_gets_no_gradient() -> None:
    model = build_segmenter(TINY_NAME, seed=0)
    model.masks(torch.randn(2, 3, 112, 112)).mean().backward()
    assert all(p.grad is None for p in model.encoder.parameters())
    assert all(p.grad is not None for p in model.decoder.parameters() if p.requires_grad)


def test_masks_padded_filled_and_nearest_resized_keep_their_label() -> None:
    m = np.zeros((2, 60, 80), np.uint8)
    m[0, 20:40, 30:50] = 2
    m[0, 25:35, 35:45] = 0  # a hole: filled, as the paper fills the external contour
    m[1, 0:3, 0:3] = 1  # 9 px: at 80 -> 20 nearest it may vanish (the paper's label rule sees it so)
    out = resize_masks_nearest(m, 40)
    assert out.shape == (2, 40, 40) and set(np.unique(out[0])) == {0, 2}
    square = np.zeros((80, 80), bool)
    square[10:70] = True  # 60 rows centred in 80
    filled = np.zeros((80, 80), bool)
    filled[30:50, 30:50] = True
    expect = filled[np.ix_(nearest_index(80, 40), nearest_index(80, 40))]
    assert np.array_equal(out[0] > 0, expect)
    assert nearest_index(744, 224)[:3].tolist() == [0, 3, 6]


def test_dice_loss_and_mask_scores() -> None:
    y = torch.zeros(2, 8, 8)
    y[0, 2:6, 2:6] = 1
    perfect = (y * 20 - 10)
    assert dice_loss(perfect, y).item() < 1e-3
    assert dice_loss(-perfect, y).item() > 0.99
    assert dice_loss(torch.randn(2, 8, 8), torch.zeros(2, 8, 8)).item() == 0.0  # no foreground: no loss
    s = mask_scores(torch.sigmoid(perfect).numpy(), y.numpy())
    assert s["dice_pooled"] == pytest.approx(1.0) and s["iou_pooled"] == pytest.approx(1.0)
    assert s["positive_frames"] == 1


def test_wfss_per_case_picks_the_largest_area_above_the_rule() -> None:
    areas = np.array([0, 600, 900, 10, 400, 0])
    labels = np.array([0, 1, 2, 0, 2, 0])
    case = np.array([0, 0, 0, 1, 1, 1])
    rows = wfss_per_case(areas, labels, case, ["a", "b"], 502)
    assert rows[0]["selected_frame"] == 2 and rows[0]["wfss"] == 0.6  # suboptimal while an optimal exists
    assert rows[1]["selected_frame"] == -1 and rows[1]["wfss"] == 0.0  # nothing passes the rule


def test_paper_copies_move_the_mask_with_the_frame() -> None:
    img = np.full((2, 64, 64), 20, np.uint8)
    mask = np.zeros((2, 64, 64), np.uint8)
    img[:, 24:40, 24:40] = 230
    mask[:, 24:40, 24:40] = 1
    out_i, out_m = augmented_copies(img, mask, copies=2, seed=0)
    assert out_i.shape == (4, 64, 64) and out_m.shape == (4, 64, 64)
    for im, m in zip(out_i, out_m, strict=True):
        assert set(np.unique(m)) <= {0, 1}
        if m.any():  # the moved mask sits on the moved bright square
            assert im[m > 0].mean() > 3 * im[(m == 0) & (im > 0)].mean()
    assert not np.array_equal(out_m[0], out_m[2])  # two different copies
    low = (np.arange(64 * 64).reshape(64, 64) % 16 + 100).astype(np.uint8)
    eq = clahe(low, 4.0)
    assert eq.dtype == np.uint8 and np.ptp(eq) > np.ptp(low)
