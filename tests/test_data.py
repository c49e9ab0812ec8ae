"""The ACOUSLIC-AI reader, the phantom, the frame cache, the split and every bad input of the data stage."""

from __future__ import annotations

import csv
import hashlib
import math
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

sitk = pytest.importorskip("SimpleITK")

from fetaledge.cli import main  # noqa: E402
from fetaledge.data import layout as L  # noqa: E402
from fetaledge.data.acouslic import AcouslicDataset  # noqa: E402
from fetaledge.data.cache import FrameCache, prepare_cache  # noqa: E402
from fetaledge.data.phantom import PhantomConfig, render_case, write_phantom, write_stack  # noqa: E402
from fetaledge.data.splits import make_split  # noqa: E402
from fetaledge.errors import FetaledgeError  # noqa: E402

FPS = 12  # frames per sweep of the test phantom (the real set has 140)


@pytest.fixture(scope="module")
def phantom(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ph") / "phantom"
    result = CliRunner().invoke(
        main, ["data", "phantom", "--out", str(out), "--cases", "4", "--seed", "1", "--frames-per-sweep", str(FPS)]
    )
    assert result.exit_code == 0, result.output
    return out


def copy_of(phantom: Path, tmp_path: Path) -> Path:
    """A copy of the phantom made of hard links (each full copy is ~240 MB of disk).

    Change a file of it only through `rewrite` or `write_stack` (temp + rename): both give the file its own inode,
    so the module's phantom stays intact.
    """
    dst = tmp_path / "copy"
    shutil.copytree(phantom, dst, copy_function=os.link)
    return dst


def rewrite(victim: Path, data: bytes) -> None:
    """Replace a hard-linked file's content without touching the other links."""
    victim.unlink()
    victim.write_bytes(data)


def run(args: list[str]):
    return CliRunner().invoke(main, args)


def assert_clean_error(result, *needles: str) -> None:
    """One clear line, non-zero exit, no traceback."""
    assert result.exit_code != 0
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    lines = [ln for ln in result.output.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, result.output
    for n in needles:
        assert n in lines[0], lines[0]


# ---------------------------------------------------------------- phantom: same layout and formats as the real set


def test_phantom_has_real_layout_shapes_dtypes_spacing_labels(phantom: Path) -> None:
    rows = list(csv.DictReader((phantom / L.CSV_PATH).read_text().splitlines()))
    assert tuple(rows[0].keys()) == L.CSV_COLUMNS
    assert len(rows) == 4
    subjects = [r["subject_id"] for r in rows]
    assert len(set(subjects)) < len(subjects), "some subject must have two scans"
    for r in rows:
        img = sitk.ReadImage(str(phantom / L.IMAGES_DIR / f"{r['uuid']}.mha"))
        msk = sitk.ReadImage(str(phantom / L.MASKS_DIR / f"{r['uuid']}.mha"))
        for im in (img, msk):
            assert im.GetSize() == (L.FRAME_WIDTH, L.FRAME_HEIGHT, 6 * FPS)
            assert im.GetPixelIDValue() == sitk.sitkUInt8
            assert im.GetSpacing()[:2] == pytest.approx((0.28, 0.28))
        m = sitk.GetArrayViewFromImage(msk)
        assert set(np.unique(m)) <= {0, 1, 2}
        a = sitk.GetArrayViewFromImage(img)
        assert a[:, :100, :100].max() == 0, "pixels outside the fan are 0, as in the real frames"
        # An AC value exactly for the sweeps that carry mask labels, in the real range of values.
        for k in range(6):
            labelled = m[k * FPS : (k + 1) * FPS].any()
            ac = r[f"sweep_{k + 1}_ac_mm"]
            assert bool(ac) == bool(labelled)
            if ac:
                assert 100 < float(ac) < 400


def test_phantom_is_deterministic_per_seed() -> None:
    cfg = PhantomConfig(cases=1, seed=7, frames_per_sweep=10)
    a = render_case(cfg, 0)
    b = render_case(cfg, 0)
    c = render_case(PhantomConfig(cases=1, seed=8, frames_per_sweep=10), 0)
    digest = [hashlib.sha256(x[0].tobytes()).hexdigest() for x in (a, b, c)]
    assert digest[0] == digest[1] != digest[2]
    assert np.array_equal(a[1], b[1])


@pytest.mark.slow
def test_phantom_written_in_parallel_equals_serial(tmp_path: Path) -> None:
    cfg = PhantomConfig(cases=3, seed=3, frames_per_sweep=10)
    done: list[int] = []
    write_phantom(tmp_path / "serial", cfg, workers=1)
    write_phantom(tmp_path / "parallel", cfg, progress=done.append, workers=2)

    def digests(root: Path) -> dict[str, str]:
        return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(root.rglob("*")) if p.is_file()}

    serial = digests(tmp_path / "serial")
    assert len(serial) == 2 * 3 + 2  # images + masks per case, the CSV, phantom.json
    assert digests(tmp_path / "parallel") == serial
    assert sum(done) == 3 * 6 * 10


def test_phantom_positive_frames_are_a_minority_with_optimal_and_suboptimal() -> None:
    frames, masks, acs = render_case(PhantomConfig(cases=1, seed=3, frames_per_sweep=60), 0)
    labels = masks.reshape(len(masks), -1).max(axis=1).reshape(6, 60)
    annotated = [k for k in range(6) if not math.isnan(acs[k])]
    assert annotated
    rate = (labels[annotated] > 0).mean()
    assert 0.02 < rate < 0.25
    assert {1, 2} <= set(np.unique(labels[annotated]).tolist())


# ---------------------------------------------------------------- reader, cache, split


def test_reader_streams_sweeps_with_labels_from_masks(phantom: Path) -> None:
    ds = AcouslicDataset(phantom)
    case = next(ds.cases())
    assert case.frames_per_sweep == FPS
    msk = sitk.GetArrayFromImage(sitk.ReadImage(str(case.mask_path)))
    for k in range(6):
        sw = case.read_sweep(k)
        assert sw.frames.shape == (FPS, L.FRAME_HEIGHT, L.FRAME_WIDTH) and sw.frames.dtype == np.uint8
        expect = msk[k * FPS : (k + 1) * FPS].reshape(FPS, -1).max(axis=1)
        assert np.array_equal(sw.labels, expect)


def test_prepare_then_stats_no_subject_shared(phantom: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    r = run(["data", "prepare", str(phantom), "--out", str(cache)])
    assert r.exit_code == 0, r.output
    r = run(["data", "stats", str(cache)])
    assert r.exit_code == 0, r.output
    assert "subjects shared between splits: 0" in r.output
    for split in ("train", "val", "test"):
        assert split in r.output
    fc = FrameCache(cache)
    subj = {s: set(v) for s, v in fc.split.subjects.items()}
    assert not (subj["train"] & subj["val"]) and not (subj["train"] & subj["test"]) and not (subj["val"] & subj["test"])
    val = fc.load("val")
    assert val.images.dtype == np.uint8 and val.images.shape[1:] == (224, 224)
    # Only annotated sweeps are kept by default (the paper's setting).
    for e in fc.manifest["cases"]:
        assert e["sweeps"] == [k for k, ac in enumerate(e["sweep_ac_mm"]) if ac is not None]


def test_prepare_all_sweeps_option(phantom: Path, tmp_path: Path) -> None:
    m = prepare_cache(phantom, tmp_path / "c", sweeps="all", size=64)
    assert all(e["frames"] == 6 * FPS for e in m["cases"])


def test_prepare_resumes_after_interruption_and_skips_done_cases(phantom: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    calls = {"n": 0}

    def boom(n: int) -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        prepare_cache(phantom, cache, size=64, progress=boom)
    assert not (cache / "manifest.json").exists()
    done = sorted(p.name for p in (cache / "cases").iterdir())
    assert all(not n.startswith(".") for n in done), "no temporary folder left behind"
    assert all((cache / "cases" / n / "done.json").is_file() for n in done)
    mtimes = {n: (cache / "cases" / n / "images.npy").stat().st_mtime_ns for n in done}
    prepare_cache(phantom, cache, size=64)
    assert len(FrameCache(cache).manifest["cases"]) == 4
    for n, t in mtimes.items():
        assert (cache / "cases" / n / "images.npy").stat().st_mtime_ns == t, "finished cases are not redone"


def test_split_is_by_subject_seeded_and_disjoint() -> None:
    subjects = {f"c{i}": f"s{i // 2}" for i in range(40)}
    a, b = make_split(subjects, seed=3), make_split(subjects, seed=3)
    assert a.to_json() == b.to_json()
    assert make_split(subjects, seed=4).to_json() != a.to_json()
    for s1 in a.subjects:
        for s2 in a.subjects:
            if s1 != s2:
                assert not set(a.subjects[s1]) & set(a.subjects[s2])
    for name, cases in a.cases.items():
        assert {subjects[c] for c in cases} == set(a.subjects[name])
    assert [len(a.subjects[k]) for k in ("train", "val", "test")] == [14, 2, 4]
    with pytest.raises(FetaledgeError, match="cannot fill"):
        make_split({"a": "s1", "b": "s2"})


# ---------------------------------------------------------------- bad input: one clear line, no half-written cache


def _stack(frames: int, h: int = L.FRAME_HEIGHT, w: int = L.FRAME_WIDTH, value: int = 0) -> np.ndarray:
    return np.full((frames, h, w), value, np.uint8)


def test_missing_folder(tmp_path: Path) -> None:
    assert_clean_error(run(["data", "prepare", str(tmp_path / "nope"), "--out", str(tmp_path / "c")]),
                       "data folder not found")


def test_missing_mha(phantom: Path, tmp_path: Path) -> None:
    src = copy_of(phantom, tmp_path)
    victim = next((src / L.MASKS_DIR).iterdir())
    victim.unlink()
    assert_clean_error(run(["data", "prepare", str(src), "--out", str(tmp_path / "c")]), "mask not found",
                       victim.name)
    assert not (tmp_path / "c" / "manifest.json").exists()


def test_truncated_mha(phantom: Path, tmp_path: Path) -> None:
    src = copy_of(phantom, tmp_path)
    victim = sorted((src / L.IMAGES_DIR).iterdir())[1]
    data = victim.read_bytes()
    rewrite(victim, data[: len(data) // 2])
    assert_clean_error(run(["data", "prepare", str(src), "--out", str(tmp_path / "c")]), "truncated", victim.name)


def test_garbage_mha(phantom: Path, tmp_path: Path) -> None:
    src = copy_of(phantom, tmp_path)
    victim = sorted((src / L.IMAGES_DIR).iterdir())[0]
    rewrite(victim, b"this is not a MetaImage at all\n" * 10)
    assert_clean_error(run(["data", "prepare", str(src), "--out", str(tmp_path / "c")]), victim.name)


def test_image_mask_frame_count_mismatch(phantom: Path, tmp_path: Path) -> None:
    src = copy_of(phantom, tmp_path)
    victim = sorted((src / L.MASKS_DIR).iterdir())[0]
    write_stack(_stack(6 * (FPS - 1)), victim)
    assert_clean_error(run(["data", "prepare", str(src), "--out", str(tmp_path / "c")]), "but mask is")


def test_image_mask_size_mismatch(phantom: Path, tmp_path: Path) -> None:
    src = copy_of(phantom, tmp_path)
    victim = sorted((src / L.MASKS_DIR).iterdir())[0]
    write_stack(_stack(6 * FPS, h=500), victim)
    assert_clean_error(run(["data", "prepare", str(src), "--out", str(tmp_path / "c")]), "but mask is")


def test_frame_count_not_multiple_of_six(phantom: Path, tmp_path: Path) -> None:
    src = copy_of(phantom, tmp_path)
    uid = sorted((src / L.IMAGES_DIR).iterdir())[0].stem
    write_stack(_stack(6 * FPS + 1), src / L.IMAGES_DIR / f"{uid}.mha")
    write_stack(_stack(6 * FPS + 1), src / L.MASKS_DIR / f"{uid}.mha")
    assert_clean_error(run(["data", "prepare", str(src), "--out", str(tmp_path / "c")]), "not a multiple of 6")


def test_csv_row_without_images(phantom: Path, tmp_path: Path) -> None:
    src = copy_of(phantom, tmp_path)
    csv_path = src / L.CSV_PATH
    rewrite(csv_path, csv_path.read_bytes() + b"00000000-dead-beef-0000-000000000000,ghost,200.0,,,,,\n")
    assert_clean_error(run(["data", "prepare", str(src), "--out", str(tmp_path / "c")]),
                       "00000000-dead-beef-0000-000000000000", "has no image")


def test_unwritable_output(phantom: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where a folder should be")
    assert_clean_error(run(["data", "prepare", str(phantom), "--out", str(blocker / "cache")]),
                       "cannot create output folder")
    assert_clean_error(run(["data", "phantom", "--out", str(blocker / "ph"), "--cases", "1"]),
                       "cannot create output folder")


def test_bad_input_leaves_a_good_cache_intact(phantom: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    prepare_cache(phantom, cache, size=64)
    before = (cache / "manifest.json").read_bytes()
    src = copy_of(phantom, tmp_path)
    victim = sorted((src / L.IMAGES_DIR).iterdir())[2]
    rewrite(victim, victim.read_bytes()[:1000])
    assert_clean_error(run(["data", "prepare", str(src), "--out", str(cache), "--size", "64"]), "truncated")
    assert (cache / "manifest.json").read_bytes() == before
    FrameCache(cache).load("train")
