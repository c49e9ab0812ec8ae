"""Plane datasets (folders of 2D images + a labels CSV): both CSV formats, clear rejections, group-aware splits,
the frame cache written from them, raw frames read back, and the CLI. Synthetic images only: the real African
set is used by tests/test_planes_real.py when ../shared/data/real is present."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

Image = pytest.importorskip("PIL.Image")

from fetaledge.cli import main  # noqa: E402
from fetaledge.data.cache import FrameCache  # noqa: E402
from fetaledge.data.planes import (  # noqa: E402
    KNOWN_PLANES,
    PlaneImage,
    case_id,
    detect_layout,
    planes_split,
    prepare_planes_cache,
    read_planes,
)
from fetaledge.data.raw import iter_raw_images, iter_raw_sweeps, raw_frames_at  # noqa: E402
from fetaledge.errors import FetaledgeError  # noqa: E402
from fetaledge.runtime.geometry import letterbox, to_grey  # noqa: E402

PLANES = ("Fetal abdomen", "Fetal brain", "Fetal femur", "Fetal thorax")
SIZES = ((43, 50, 3), (40, 40, 1), (36, 48, 1))  # (H, W, channels) per "machine"


def _png(path: Path, h: int, w: int, c: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 256, (h, w, c) if c == 3 else (h, w), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)


def fetal_planes_db(root: Path, patients: int = 12) -> Path:
    """FETAL_PLANES_DB layout: semicolon CSV (with a trailing ';' like some exports), Images/<name>.png."""
    lines = ["Image_name;Patient_num;Plane;Brain_plane;Operator;US_Machine;Train;"]
    k = 0
    for p in range(1, patients + 1):
        machine = ("Voluson E6", "Aloka", "Other")[p % 3]
        for plane in PLANES[: 2 + p % 3]:
            name = f"Patient{p:05d}_Plane{k}"
            h, w, c = SIZES[p % 3]
            _png(root / "Images" / f"{name}.png", h, w, c, k)
            brain = "Trans-thalamic" if plane == "Fetal brain" else "Not A Brain"
            lines.append(f"{name};{p};{plane};{brain};Op. {p % 2 + 1};{machine};{int(p % 4 != 0)};")
            k += 1
    (root / "FETAL_PLANES_DB_data.csv").write_text("\n".join(lines) + "\n")
    return root


def african_labels(root: Path, groups: int = 10) -> Path:
    """The curated African layout: labels.csv with patient_group, images/<name>.png."""
    rows = []
    for g in range(groups):
        centre = ("Algeria", "Egypt", "Ghana")[g % 3]
        for j, plane in enumerate(PLANES[: 2 + g % 3]):
            name = f"patient{g:03d}_{centre[:3].upper()}_plane{j}"
            h, w, c = SIZES[g % 3]
            _png(root / "images" / f"{name}.png", h, w, c, 100 * g + j)
            rows.append({"file": f"images/{name}.png", "image_name": name, "plane": plane,
                         "label_abdomen": int(plane == "Fetal abdomen"), "center": centre, "patient_num": g,
                         "patient_uid": f"{centre}_{g:03d}", "patient_group": f"{centre}_{g:03d}",
                         "train": int(g % 3 != 1), "split": "train" if g % 3 != 1 else "test"})
    with open(root / "labels.csv", "w", newline="") as f:
        wr = csv.DictWriter(f, fieldnames=list(rows[0]))
        wr.writeheader()
        wr.writerows(rows)
    return root


def african_published(root: Path) -> Path:
    """The published African CSVs (comma-separated) in source_csv/, with one image filed under two patient ids
    (byte-identical, one copy in train, one in test) and one row whose image is absent."""
    train, test = [], []
    for p in range(1, 7):
        for j, plane in enumerate(PLANES):
            name = f"patient{p:03d}_DZA_plane{j}"
            _png(root / "images" / f"{name}.png", 30, 40, 1, 10 * p + j)
            (train if p <= 4 else test).append(f"{p},{plane},{int(p <= 4)},Algeria,{name}")
    shutil.copy(root / "images" / "patient002_DZA_plane1.png", root / "images" / "patient006_DZA_plane9.png")
    test.append("6,Fetal brain,0,Algeria,patient006_DZA_plane9")
    test.append("6,Fetal femur,0,Algeria,patient006_DZA_missing")
    (root / "source_csv").mkdir(parents=True)
    header = "Patient_num,Plane,Train,Center,Image_name"
    (root / "source_csv" / "African_train.csv").write_text("\n".join([header, *train]) + "\n")
    (root / "source_csv" / "African_test.csv").write_text("\n".join([header, *test]))  # no final newline
    return root


# ------------------------------------------------------------------------------------------ parsing
def test_fetal_planes_db_format(tmp_path: Path) -> None:
    root = fetal_planes_db(tmp_path / "fpdb")
    assert detect_layout(root)[0] == "fetal-planes-db"
    ds = read_planes(root)
    assert ds.layout == "fetal-planes-db" and len(ds.images) == sum(2 + p % 3 for p in range(1, 13))
    im = ds.images[0]
    assert im.group == "patient_1" and im.centre == "Aloka" and im.published_train is True
    assert im.path == root / "Images" / f"{im.image_id}.png"
    assert set(ds.planes()) <= set(KNOWN_PLANES)


def test_african_labels_format(tmp_path: Path) -> None:
    root = african_labels(tmp_path / "af")
    ds = read_planes(root)
    assert ds.layout == "african-labels"
    assert {im.centre for im in ds.images} == {"Algeria", "Egypt", "Ghana"}
    assert all(im.group == f"{im.centre}_{im.image_id[7:10]}" for im in ds.images)


def test_african_published_format_merges_identical_images(tmp_path: Path) -> None:
    root = african_published(tmp_path / "pub")
    assert detect_layout(root)[0] == "african-published"
    with pytest.raises(FetaledgeError, match=r"1 image\(s\) listed in the labels are missing.*patient006_DZA_missing"):
        read_planes(root)
    ds = read_planes(root, skip_missing=True)
    ids = {im.image_id for im in ds.images}
    # the identical pair: the test copy is kept, and patients 2 and 6 become one group
    assert "patient006_DZA_plane9" in ids and "patient002_DZA_plane1" not in ids
    groups = {im.image_id: im.group for im in ds.images}
    assert groups["patient002_DZA_plane0"] == groups["patient006_DZA_plane0"]
    assert any("identical copies" in n for n in ds.notes) and "missing" in ds.notes[0]
    # naming the CSVs explicitly works too
    ds2 = read_planes(root, labels=[Path("source_csv/African_train.csv"), Path("source_csv/African_test.csv")],
                      skip_missing=True)
    assert {im.image_id for im in ds2.images} == ids


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("X1;3;Fetal brain;Not A Brain;Op. 1;Aloka", r"FETAL_PLANES_DB_data.csv:\d+: malformed row: 6 fields"),
        ("X1;3;Fetal brain;Not A Brain;Op. 1;Aloka;1;extra", r":\d+: malformed row: 8 fields"),
        ("X1;three;Fetal brain;Not A Brain;Op. 1;Aloka;1", r"Patient_num must be an integer, got 'three'"),
        ("X1;3;Fetal brain;Not A Brain;Op. 1;Aloka;2", r"Train must be 0 or 1, got '2'"),
        ("X1;3;Fetal abdomn;Not A Brain;Op. 1;Aloka;1", r"unknown plane name 'Fetal abdomn'.*known planes: Fetal"),
        (";3;Fetal brain;Not A Brain;Op. 1;Aloka;1", r"malformed row: empty \['Image_name'\]"),
    ],
)
def test_malformed_rows_and_unknown_planes_are_rejected_clearly(tmp_path: Path, line: str, message: str) -> None:
    root = fetal_planes_db(tmp_path / "fpdb", patients=3)
    csv_path = root / "FETAL_PLANES_DB_data.csv"
    csv_path.write_text(csv_path.read_text() + line + "\n")
    with pytest.raises(FetaledgeError, match=message):
        read_planes(root)


def test_missing_images_duplicates_and_bad_headers(tmp_path: Path) -> None:
    root = fetal_planes_db(tmp_path / "fpdb", patients=4)
    victim = sorted((root / "Images").iterdir())[0]
    victim.unlink()
    with pytest.raises(FetaledgeError, match=r"1 image\(s\) listed in the labels are missing") as info:
        read_planes(root)
    assert "--skip-missing-images" in str(info.value)
    assert len(read_planes(root, skip_missing=True).images) == sum(2 + p % 3 for p in range(1, 5)) - 1
    csv_path = root / "FETAL_PLANES_DB_data.csv"
    lines = csv_path.read_text().splitlines()
    csv_path.write_text("\n".join([*lines, lines[-1]]) + "\n")
    with pytest.raises(FetaledgeError, match="is listed twice"):
        read_planes(root, skip_missing=True)
    csv_path.write_text("Image_name;Patient_num;Plane\nA;1;Fetal brain\n")
    with pytest.raises(FetaledgeError, match="not a known plane-label CSV"):
        read_planes(root, labels=[csv_path])
    af = african_labels(tmp_path / "af", groups=3)
    good = (af / "labels.csv").read_text()
    (af / "labels.csv").write_text(good.replace("patient_group", "group", 1))
    with pytest.raises(FetaledgeError, match=r"header lacks column\(s\) \['patient_group'\]"):
        read_planes(af)
    (af / "labels.csv").write_text(good)
    text = (af / "labels.csv").read_text().replace("Fetal brain,0,", "Fetal brain,1,", 1)
    (af / "labels.csv").write_text(text)
    with pytest.raises(FetaledgeError, match="label_abdomen 1 contradicts plane 'Fetal brain'"):
        read_planes(af)
    with pytest.raises(FetaledgeError, match="holds no plane-label CSV"):
        read_planes(tmp_path / "af" / "images")


# ------------------------------------------------------------------------------------------ splits
def _images(n_groups: int, seed: int) -> list[PlaneImage]:
    rng = np.random.default_rng(seed)
    out = []
    for g in range(n_groups):
        for j in range(int(rng.integers(1, 5))):
            plane = PLANES[int(rng.integers(0, 4))]
            out.append(PlaneImage(f"g{g}_i{j}", Path("x.png"), plane, f"G{g}", "c", f"G{g}",
                                  bool(rng.random() < 0.6)))
    return out


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("published", [False, True])
def test_no_group_in_two_splits(seed: int, published: bool) -> None:
    images = _images(40, seed)
    split, left_out = planes_split(images, ["Fetal abdomen"], keep_published=published, seed=seed)
    seen: dict[str, str] = {}
    for name, groups in split.subjects.items():
        assert groups, name
        for g in groups:
            assert g not in seen, f"group {g} in {seen[g]} and {name}"
            seen[g] = name
    group_of = {case_id(im.image_id): im.group for im in images}
    for name, cases in split.cases.items():
        assert {group_of[c] for c in cases} <= set(split.subjects[name])
    assert sorted(sum(split.cases.values(), [])) == sorted(case_id(im.image_id) for im in images
                                                          if im.image_id not in set(left_out))
    if published:
        # the published test images are exactly the test split; train-side images of those groups are left out
        assert split.cases["test"] == sorted(case_id(im.image_id) for im in images if im.published_train is False)
        tg = set(split.subjects["test"])
        assert set(left_out) == {im.image_id for im in images if im.published_train and im.group in tg}


def test_seeded_split_is_stratified_and_deterministic() -> None:
    images = _images(60, 1)
    a, _ = planes_split(images, ["Fetal abdomen"], seed=4)
    b, _ = planes_split(images, ["Fetal abdomen"], seed=4)
    c, _ = planes_split(images, ["Fetal abdomen"], seed=5)
    assert a == b and a != c
    pos_groups = {im.group for im in images if im.plane == "Fetal abdomen"}
    for name in ("train", "val", "test"):
        assert pos_groups & set(a.subjects[name]), f"{name} has no positive group"
    with pytest.raises(FetaledgeError, match="cannot fill"):
        planes_split(_images(2, 0), ["Fetal abdomen"])


# ------------------------------------------------------------------------------------------ cache
def test_cache_from_a_plane_folder_and_raw_frames(tmp_path: Path) -> None:
    root = african_labels(tmp_path / "af", groups=12)
    m = prepare_planes_cache(root, tmp_path / "cache", keep_published_split=True, size=32,
                             positive_planes=["Fetal abdomen", "Fetal thorax"])
    assert m["source_kind"] == "planes" and (m["raw_height"], m["raw_width"]) == (32, 32)
    assert m["planes"]["positive_planes"] == ["Fetal abdomen", "Fetal thorax"] and m["planes"]["split"] == "published"
    fc = FrameCache(tmp_path / "cache")
    entries = {e["uuid"]: e for e in m["cases"]}
    test = fc.load("test")
    assert test.images.shape[1:] == (32, 32) and len(test.labels) == len(fc.split.cases["test"])
    for k, uuid in enumerate(test.uuids):
        e = entries[uuid]
        assert e["published_train"] is False and e["frames"] == 1
        assert test.labels[k] == int(e["plane"] in ("Fetal abdomen", "Fetal thorax"))
        png = np.asarray(Image.open(root / e["file"]))
        assert (e["raw_height"], e["raw_width"]) == png.shape[:2]
        assert np.array_equal(test.images[k], letterbox(to_grey(png), 32, 32))  # ONE path: grey, letterbox
    assert np.array_equal(raw_frames_at(fc, "test", np.array([2, 0])), test.images[[2, 0]])
    sweeps = list(iter_raw_sweeps(fc, "val"))
    assert all(sw.frames.shape == (1, 32, 32) and sw.sweep == 0 for sw in sweeps)
    sizes = {im.image.shape for im in iter_raw_images(fc, "train")}
    assert sizes <= {(h, w) for h, w, _ in SIZES}
    # resumable: a second run rewrites nothing
    stamp = (tmp_path / "cache" / "cases" / test.uuids[0] / "images.npy").stat().st_mtime_ns
    prepare_planes_cache(root, tmp_path / "cache", keep_published_split=True, size=32,
                         positive_planes=["Fetal abdomen", "Fetal thorax"])
    assert (tmp_path / "cache" / "cases" / test.uuids[0] / "images.npy").stat().st_mtime_ns == stamp


def test_positive_planes_are_checked(tmp_path: Path) -> None:
    root = african_labels(tmp_path / "af", groups=6)
    with pytest.raises(FetaledgeError, match="unknown positive plane"):
        prepare_planes_cache(root, tmp_path / "c", positive_planes=["Abdomen"])
    with pytest.raises(FetaledgeError, match="no image of positive plane"):
        prepare_planes_cache(root, tmp_path / "c", positive_planes=["Maternal cervix"])


def test_cli_prepare_dispatches_on_the_layout(tmp_path: Path) -> None:
    root = fetal_planes_db(tmp_path / "fpdb")
    r = CliRunner().invoke(main, ["data", "prepare", str(root), "--out", str(tmp_path / "c"), "--size", "24",
                                  "--positive-plane", "Fetal brain", "--keep-published-split"])
    assert r.exit_code == 0, r.output
    assert "fetal-planes-db: positive = Fetal brain; split: published" in r.output
    stats = CliRunner().invoke(main, ["data", "stats", str(tmp_path / "c"), "--json"])
    assert json.loads(stats.output)["subjects_shared_between_splits"] == []
    bad = CliRunner().invoke(main, ["data", "prepare", str(root), "--out", str(tmp_path / "d"),
                                    "--positive-plane", "Fetal abdomn"])
    assert bad.exit_code == 2 and "unknown positive plane" in bad.output and "Traceback" not in bad.output
    not_planes = CliRunner().invoke(main, ["data", "prepare", str(tmp_path / "empty"), "--out", str(tmp_path / "e"),
                                           "--keep-published-split"])
    assert not_planes.exit_code == 2 and "is not a plane dataset" in not_planes.output
