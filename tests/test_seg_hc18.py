"""The HC18 reader: subjects, filled masks from drawn outlines, and one clear error per broken input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fetaledge.data.hc18 import filled_mask, hc18_subjects, read_hc18
from fetaledge.errors import FetaledgeError

PIL = pytest.importorskip("PIL.Image")
HC18 = Path(__file__).resolve().parents[2] / "shared" / "data" / "real" / "hc18"
HEADER = "filename,pixel size(mm),head circumference (mm)\n"


def _png(path: Path, array: np.ndarray) -> None:
    PIL.fromarray(array).save(path)


def _fake(root: Path, rows: list[str]) -> None:
    (root / "training_set").mkdir(parents=True)
    (root / "training_set_pixel_size_and_HC.csv").write_text(HEADER + "".join(rows))


def test_outline_annotations_are_filled_and_subjects_group_images(tmp_path):
    _fake(tmp_path, ["001_HC.png,0.1,50.0\n", "001_2HC.png,0.1,51.0\n", "002_HC.png,0.2,60.0\n"])
    yy, xx = np.mgrid[0:60, 0:80]
    r = np.sqrt(((xx - 40) / 25.0) ** 2 + ((yy - 30) / 15.0) ** 2)
    ring = (np.abs(r - 1) < 0.04).astype(np.uint8) * 255  # a thin drawn outline, as HC18 releases them
    for name in ("001_HC", "001_2HC", "002_HC"):
        _png(tmp_path / "training_set" / f"{name}.png", np.zeros((60, 80), np.uint8))
        _png(tmp_path / "training_set" / f"{name}_Annotation.png", np.stack([ring] * 3, axis=2))
    items = read_hc18(tmp_path)
    assert [i.subject for i in items] == ["001", "001", "002"]
    assert hc18_subjects(items) == {"001_HC": "001", "001_2HC": "001", "002_HC": "002"}
    m = filled_mask(items[0].annotation)
    assert m[30, 40] and not m[0, 0] and m.sum() >= (r < 1).sum()


def test_broken_copies_fail_with_one_clear_error(tmp_path):
    with pytest.raises(FetaledgeError, match="not found"):
        read_hc18(tmp_path / "nowhere")
    _fake(tmp_path / "a", ["001_HC.png,0.1,50.0\n"])
    with pytest.raises(FetaledgeError, match="001_HC.png .CSV line 2. is missing"):
        read_hc18(tmp_path / "a")
    _fake(tmp_path / "b", ["oops.png,0.1,50.0\n"])
    with pytest.raises(FetaledgeError, match="unexpected file name"):
        read_hc18(tmp_path / "b")
    (tmp_path / "c" / "training_set").mkdir(parents=True)
    (tmp_path / "c" / "training_set_pixel_size_and_HC.csv").write_text("name,size\n")
    with pytest.raises(FetaledgeError, match="header"):
        read_hc18(tmp_path / "c")


@pytest.mark.skipif(not HC18.is_dir(), reason="HC18 not in ../shared/data/real/hc18")
def test_the_shared_training_set():
    items = read_hc18(HC18)
    assert len(items) == 804 and len({i.subject for i in items}) == 645
