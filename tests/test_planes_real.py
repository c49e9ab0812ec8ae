"""The real African fetal planes (../shared/data/real, CC BY 4.0; never copied into the repository): both of its
CSV formats, the published split kept by patient group, and `fetaledge infer` on every centre's geometry
(grey and RGB, five sizes) plus HC18 and ACOUSLIC frames. Skipped cleanly where the shared data is absent."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from fetaledge.cli import main
from fetaledge.data.planes import prepare_planes_cache, read_planes

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"
AFRICAN = REAL / "african_fetal_planes"
pytestmark = pytest.mark.skipif(not (AFRICAN / "labels.csv").is_file(), reason="shared real data absent")
pytest.importorskip("PIL.Image")

CENTRES = {"Algeria": (430, 500), "Egypt": (450, 400), "Ghana": (500, 500), "Malawi": (400, 500),
           "Uganda": (500, 600)}  # (H, W) of each centre's images


def _one_image_per_centre() -> dict[str, Path]:
    ds = read_planes(AFRICAN)
    out: dict[str, Path] = {}
    for im in ds.images:
        out.setdefault(im.centre, im.path)
    return out


def test_both_african_formats_read_the_same_images() -> None:
    curated = read_planes(AFRICAN)
    assert len(curated.images) == 312 and curated.planes()["Fetal abdomen"] == 112
    published = read_planes(AFRICAN, labels=[Path("source_csv/African_train.csv"), Path("source_csv/African_test.csv")],
                            skip_missing=True)
    assert {im.image_id for im in published.images} == {im.image_id for im in curated.images}
    assert {im.image_id: im.plane for im in published.images} == {im.image_id: im.plane for im in curated.images}


def test_published_split_by_patient_group(tmp_path: Path) -> None:
    m = prepare_planes_cache(AFRICAN, tmp_path / "cache", keep_published_split=True, size=32)
    split = json.loads((tmp_path / "cache" / "splits.json").read_text())
    groups = [g for name in ("train", "val", "test") for g in split["subjects"][name]]
    assert len(groups) == len(set(groups)), "a patient group in two splits"
    test = {e["uuid"]: e for e in m["cases"] if e["uuid"] in set(split["cases"]["test"])}
    assert len(test) == 173 and sum(e["positives"] for e in test.values()) == 60  # the published test set
    assert all(e["published_train"] is False for e in test.values())
    assert m["planes"]["left_out"] == ["patient008_EGY_plane2", "patient022_MWI_plane0"]
    sizes = {e["centre"]: (e["raw_height"], e["raw_width"]) for e in m["cases"]}
    assert sizes == CENTRES


@pytest.fixture(scope="module")
def bundles(tmp_path_factory) -> dict[str, Path]:
    """Two tiny hand-made bundles for 224x224 raw frames: one letterboxes other sizes, one refuses them."""
    torch = pytest.importorskip("torch")
    from fetaledge.bundle import ShippedModel, write_bundle
    from fetaledge.export.onnx import export_onnx
    from fetaledge.models.preprocess import RawFrameModel
    from fetaledge.preprocess import FrameGeometry
    from fetaledge.runtime.decision import DecisionParams

    class Tiny(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            torch.manual_seed(0)
            self.conv = torch.nn.Conv2d(3, 4, 3, stride=2)
            self.fc = torch.nn.Linear(4, 1)

        def forward(self, x):
            return self.fc(torch.relu(self.conv(x)).mean(dim=(2, 3))).reshape(-1)

    root = tmp_path_factory.mktemp("planes_bundles")
    model = RawFrameModel(FrameGeometry(224, 224, (64,)), Tiny(), "imagenet").eval()
    frames = np.random.default_rng(0).integers(0, 256, (8, 224, 224), dtype=np.uint8)
    onnx_path = export_onnx(model, torch.from_numpy(frames[:1]), root / "tiny.onnx")
    out = {}
    for rule in ("letterbox", "refuse"):
        out[rule] = write_bundle(
            root / rule, shipped=[ShippedModel("tiny-fp32-onnx", onnx_path, "onnxruntime", "fp32")],
            raw_hw=(224, 224), decision=DecisionParams.from_threshold(0.5, min_run=1), threads=1,
            provenance={"test": True}, report={}, report_md="# test\n", golden_frames=frames[:4],
            golden_sources=["noise"] * 4, golden_sweep=frames, golden_sweep_source="noise", make_zip=False,
            other_sizes=rule, labels=("not Fetal abdomen", "Fetal abdomen"))
    return out


def test_infer_runs_on_every_centre_geometry(bundles: dict[str, Path], tmp_path: Path) -> None:
    images = _one_image_per_centre()
    assert set(images) == set(CENTRES)
    others = [p for p in (REAL / "hc18" / "000_HC.png", REAL / "acouslic" / "04a04f2e_1_0000_frame064_orig.png")
              if p.is_file()]
    npy = tmp_path / "egypt.npy"  # the torch-free path without Pillow: a colour .npy frame
    from PIL import Image

    np.save(npy, np.asarray(Image.open(images["Egypt"])))
    paths = [str(p) for p in (*images.values(), *others, npy)]
    out = tmp_path / "r.json"
    r = CliRunner().invoke(main, ["infer", "--bundle", str(bundles["letterbox"]), *paths, "--json", str(out)])
    assert r.exit_code == 0 and "Traceback" not in r.output, r.output
    res = json.loads(out.read_text())
    assert res["input"] == {"height": 224, "width": 224, "other_sizes": "letterbox"}
    got = {Path(f["file"]).name: (f["height"], f["width"]) for f in res["frames"]}
    for centre, path in images.items():
        assert got[path.name] == CENTRES[centre]
    assert all(0.0 <= f["probability"] <= 1.0 and f["fitted"] == "letterbox" for f in res["frames"])
    by_name = {Path(f["file"]).name: f["probability"] for f in res["frames"]}
    assert by_name["egypt.npy"] == pytest.approx(by_name[images["Egypt"].name], abs=1e-6)
    # a folder of images works too
    folder = CliRunner().invoke(main, ["infer", "--bundle", str(bundles["letterbox"]), str(AFRICAN / "images")])
    assert folder.exit_code == 0 and folder.output.count("letterbox p ") == 312, folder.output[-500:]


def test_a_refusing_bundle_says_why_without_a_traceback(bundles: dict[str, Path]) -> None:
    path = _one_image_per_centre()["Uganda"]
    r = CliRunner().invoke(main, ["infer", "--bundle", str(bundles["refuse"]), str(path)])
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert "frame is 500x600 (HxW); this bundle was built for 224x224 frames" in r.output
    assert 'input.other_sizes "letterbox"' in r.output
