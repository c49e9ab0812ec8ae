"""The measurement goldens (tests/goldens/measure, shared with android_demo iqa-core): Python reproduces them, and
they are what the generator writes today."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from fetaledge.golden_measure import FILE_NAME, build_cases, rle_decode, rle_encode, run_case

GOLDEN = Path(__file__).resolve().parent / "goldens" / "measure" / FILE_NAME
HC18 = Path(__file__).resolve().parents[2] / "shared" / "data" / "real" / "hc18"
DOC = json.loads(GOLDEN.read_text())


def _close(a, b, tol: float) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=tol)


def assert_matches(got: dict, want: dict, tol: float) -> None:
    for key in ("status", "reasons", "points"):
        assert got[key] == want[key], key
    for key in ("circumference_mm", "area_mm2", "residual", "cut_fraction", "component_share"):
        assert _close(got[key], want[key], tol), (key, got[key], want[key])
    if want["ellipse_mm"] is not None:
        for k, v in want["ellipse_mm"].items():
            assert _close(got["ellipse_mm"][k], v, tol), k
    assert (got["gestational_age"] or {}).get("label") == (want["gestational_age"] or {}).get("label")


@pytest.mark.parametrize("case", DOC["cases"], ids=[c["name"] for c in DOC["cases"]])
def test_python_reproduces_each_golden(case):
    from fetaledge.golden_measure import _expected

    got = _expected(run_case(case), case["structure"])
    assert_matches(got, case["expected"], DOC["tolerance_mm"])


def test_goldens_cover_every_decision_and_real_masks():
    statuses = {c["expected"]["status"] for c in DOC["cases"]}
    reasons = {r for c in DOC["cases"] for r in c["expected"]["reasons"]}
    assert statuses == {"ok", "rescan", "none"}
    assert reasons >= {"no_foreground", "too_few_edge_points", "small", "poor_fit", "truncated", "fragmented"}
    real = [c for c in DOC["cases"] if c["name"].startswith("hc18_")]
    assert len(real) >= 10 and "CC BY 4.0" in DOC["attribution"]
    for c in real:  # the measurement of a real ground-truth mask lies within 1.5 mm of the HC18 reference
        assert abs(c["expected"]["circumference_mm"] - c["reference_mm"]) < 1.5


def test_rle_round_trip():
    import numpy as np

    m = np.random.default_rng(0).random((13, 17)) > 0.6
    assert (rle_decode(rle_encode(m), m.shape) == m).all()
    assert rle_encode(np.ones((2, 2), bool)) == [0, 4]


@pytest.mark.skipif(not HC18.is_dir(), reason="HC18 not in ../shared/data/real/hc18")
def test_generator_writes_the_committed_goldens():
    fresh = build_cases(HC18)
    assert [c["name"] for c in fresh["cases"]] == [c["name"] for c in DOC["cases"]]
    for new, old in zip(fresh["cases"], DOC["cases"], strict=True):
        assert new["mask_rle"] == old["mask_rle"], new["name"]
        assert_matches(new["expected"], old["expected"], DOC["tolerance_mm"])
