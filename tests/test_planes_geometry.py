"""The other-size rule (letterbox) and colour-to-grey against the shared geometry golden, and the runtime's use
of ``input.other_sizes`` (the Kotlin iqa-core reads the same golden: GeometryGoldenTest)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fetaledge.errors import FetaledgeError
from fetaledge.preprocess import FrameGeometry, resize_frames
from fetaledge.runtime.geometry import axis_taps, fit_frame, letterbox, letterbox_box, to_grey
from fetaledge.runtime.goldens import geometry_pattern

GOLDEN = Path(__file__).parent / "goldens" / "geometry" / "letterbox_cases.json"
CASES = json.loads(GOLDEN.read_text())["cases"]


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_letterbox_reproduces_the_golden(case: dict[str, Any]) -> None:
    img = geometry_pattern(case["height"], case["width"], case["channels"])
    grey = to_grey(img)
    assert hashlib.sha256(grey.tobytes()).hexdigest() == case["grey_sha256"]
    assert list(letterbox_box(case["height"], case["width"], case["out_height"], case["out_width"])) == case["box"]
    out = letterbox(grey, case["out_height"], case["out_width"])
    assert out.dtype == np.uint8 and out.shape == (case["out_height"], case["out_width"])
    for y, x, v in case["samples"]:
        assert int(out[y, x]) == v
    if case["pixels"] is not None:
        assert out.tolist() == case["pixels"]
    assert hashlib.sha256(out.tobytes()).hexdigest() == case["sha256"]


def test_grey_matches_pillow() -> None:
    pil = pytest.importorskip("PIL.Image")
    rng = np.random.default_rng(3)
    rgb = rng.integers(0, 256, (37, 41, 3), dtype=np.uint8)
    assert np.array_equal(to_grey(rgb), np.asarray(pil.fromarray(rgb).convert("L")))
    rgba = np.concatenate([rgb, np.full((37, 41, 1), 7, np.uint8)], axis=2)
    assert np.array_equal(to_grey(rgba), to_grey(rgb))
    assert to_grey(rgb[:, :, :1]).shape == (37, 41)
    with pytest.raises(FetaledgeError, match="neither grey"):
        to_grey(np.zeros((4, 4, 2), np.uint8))
    with pytest.raises(FetaledgeError, match="uint8"):
        to_grey(np.zeros((4, 4), np.float32))


@pytest.mark.parametrize(("h", "w"), [(430, 500), (450, 400), (500, 500), (400, 500), (500, 600), (562, 744)])
def test_square_letterbox_is_the_training_pad_and_resample(h: int, w: int) -> None:
    """For a square target the letterbox is fetaledge.preprocess's pad-to-square + triangle resample (the
    float32 matrices there may round a rare pixel the other way)."""
    frame = np.random.default_rng(h + w).integers(0, 256, (h, w), dtype=np.uint8)
    a = letterbox(frame, 224, 224).astype(int)
    b = resize_frames(frame[None], FrameGeometry(h, w, (224,)))[0].astype(int)
    assert np.abs(a - b).max() <= 1 and (a != b).mean() < 1e-3


def test_aspect_is_preserved_and_padding_is_zero() -> None:
    frame = np.full((40, 80), 255, np.uint8)
    out = letterbox(frame, 64, 64)  # 80x40 (WxH) into a square: content 64 wide, 32 high, centred
    rows = np.flatnonzero(out.max(axis=1) > 128)  # the antialiased edge rows are partial
    assert (rows.min(), rows.max()) == (16, 47) and out[17:47].min() == 255 and out[:15].max() == 0
    tall = letterbox(np.full((80, 40), 255, np.uint8), 30, 60)  # portrait into landscape: pad the width
    cols = np.flatnonzero(tall.max(axis=0) > 0)
    assert (cols.min(), cols.max()) == (22, 37) and np.array_equal(tall[:, ::-1], tall)


def test_identity_and_weights() -> None:
    frame = np.random.default_rng(0).integers(0, 256, (13, 17), dtype=np.uint8)
    assert letterbox(frame, 13, 17) is frame
    idx, wt = axis_taps(17, 9, 17)
    assert np.allclose(wt.sum(axis=1), 1.0) and (wt >= 0).all() and idx.max() < 17
    with pytest.raises(FetaledgeError, match="grey uint8"):
        letterbox(np.zeros((4, 4, 3), np.uint8), 2, 2)
    with pytest.raises(FetaledgeError, match=">= 1"):
        letterbox_box(0, 4, 2, 2)


def test_fit_frame_refuses_or_letterboxes() -> None:
    frame = np.zeros((10, 12), np.uint8)
    assert fit_frame(frame, 10, 12, "refuse") is frame
    with pytest.raises(FetaledgeError, match=r"frame is 10x12 \(HxW\); this bundle was built for 8x8"):
        fit_frame(frame, 8, 8, "refuse")
    assert fit_frame(frame, 8, 8, "letterbox").shape == (8, 8)
    with pytest.raises(FetaledgeError, match="unknown other_sizes"):
        fit_frame(frame, 8, 8, "stretch")
