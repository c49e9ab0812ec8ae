"""Goldens of the measurement (``tests/goldens/measure/measure_cases.json``), shared by pytest and iqa-core.

Each case is a mask (run-length coded), the geometry that maps it to the raw frame, the pixel spacing, the
measurement parameters, and what :func:`fetaledge.runtime.measure.measure_mask` returns: the decision (status,
reasons, edge-point counts) that Kotlin must reproduce exactly, and the numbers (mm, ellipse, residual) it must
reproduce within ``tolerance``. Real cases are HC18 ground-truth masks (CC BY 4.0; the attribution is in the
file; masks only, never the images), measured at full size and letterboxed to a student's 96x128 grid (the
letterboxed mask's grey levels / 255 as probabilities: sub-pixel edges). Synthetic cases cover "no
measurement", a fragmented mask, an ellipse cut by the ACOUSLIC-shaped fan edge, a small and a non-elliptic one.

Run-length code: the row-major flattened bool mask as alternating run lengths, starting with a run of False.

    python -m fetaledge.golden_measure --hc18 ../shared/data/real/hc18 --out tests/goldens/measure

Example:
    >>> rle_encode(np.array([[0, 1, 1], [1, 0, 0]], bool))
    [1, 3, 2]
    >>> rle_decode([1, 3, 2], (2, 3)).astype(int).tolist()
    [[0, 1, 1], [1, 0, 0]]
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

import numpy as np

from fetaledge.errors import FetaledgeError
from fetaledge.fsio import write_json
from fetaledge.runtime.geometry import letterbox
from fetaledge.runtime.gestation import OutOfRange, gestational_age
from fetaledge.runtime.measure import FrameMap, Measurement, MeasureParams, measure_mask

__all__ = ["GRID", "HC18_CASES", "TOLERANCE_MM", "build_cases", "case_mask", "rle_decode", "rle_encode",
           "run_case"]

#: The student grid the real masks are letterboxed to (benchmarks/hc18.py).
GRID = (96, 128)
#: Chosen across the pixel-size range (0.05 .. 0.25 mm) and head sizes of the training set.
HC18_CASES = ("000_HC", "010_HC", "100_HC", "193_HC", "339_HC", "501_HC")
#: Python and Kotlin sum in different orders (numpy pairwise / BLAS vs sequential): agreement within this.
TOLERANCE_MM = 1e-6
FILE_NAME = "measure_cases.json"


def rle_encode(mask: np.ndarray) -> list[int]:
    flat = np.asarray(mask, bool).ravel()
    change = np.flatnonzero(np.diff(np.concatenate([[False], flat, [False]]).astype(np.int8)))
    bounds = np.concatenate([[0], change, [flat.size]])
    runs = np.diff(bounds).tolist()
    return [int(r) for r in runs[:-1]] if runs and runs[-1] == 0 else [int(r) for r in runs]


def rle_decode(runs: list[int], shape: tuple[int, int]) -> np.ndarray:
    flat = np.zeros(shape[0] * shape[1], bool)
    pos, val = 0, False
    for r in runs:
        if r < 0 or pos + r > flat.size:
            raise FetaledgeError(f"run-length code overflows a {shape} mask")
        flat[pos:pos + r] = val
        pos += r
        val = not val
    return flat.reshape(shape)


def case_mask(case: dict[str, Any]) -> np.ndarray:
    """The mask a case measures: the decoded bool mask, or its letterbox to ``grid`` / 255 when ``soft``."""
    mask = rle_decode(case["mask_rle"], tuple(case["mask_shape"]))
    if case["soft_grid"] is None:
        return mask.astype(np.float64)
    return letterbox(mask.astype(np.uint8) * 255, *case["soft_grid"]).astype(np.float64) / 255.0


def _map_of(case: dict[str, Any]) -> FrameMap:
    m = case["frame_map"]
    return FrameMap(m["sx"], m["sy"], m["ox"], m["oy"], m["frame_h"], m["frame_w"])


def run_case(case: dict[str, Any]) -> Measurement:
    fov = None if case["fov_rle"] is None else rle_decode(case["fov_rle"], tuple(case["fov_shape"]))
    return measure_mask(case_mask(case), _map_of(case), tuple(case["spacing_mm"]),
                        MeasureParams.from_dict(case["params"]), fov)


def _expected(m: Measurement, structure: str) -> dict[str, Any]:
    ga: dict[str, Any] | None = None
    if m.circumference_mm is not None:
        try:
            g = gestational_age(structure, m.circumference_mm)
            ga = {"weeks": g.weeks, "label": g.label}
        except OutOfRange:
            ga = {"weeks": None, "label": "out_of_range"}
    return {"status": m.status, "reasons": list(m.reasons), "points": m.points,
            "circumference_mm": m.circumference_mm,
            "ellipse_mm": None if m.ellipse_mm is None else m.ellipse_mm.to_dict(),
            "area_mm2": m.area_mm2, "residual": m.residual, "cut_fraction": m.cut_fraction,
            "component_share": m.component_share, "gestational_age": ga}


def _case(name: str, mask: np.ndarray, frame_map: FrameMap, spacing: tuple[float, float], *,
          soft_grid: tuple[int, int] | None = None, fov: np.ndarray | None = None, structure: str = "hc",
          note: str = "", reference_mm: float | None = None) -> dict[str, Any]:
    fm = frame_map
    case: dict[str, Any] = {
        "name": name, "note": note, "mask_shape": list(mask.shape), "mask_rle": rle_encode(mask),
        "soft_grid": None if soft_grid is None else list(soft_grid),
        "frame_map": {"sx": fm.sx, "sy": fm.sy, "ox": fm.ox, "oy": fm.oy, "frame_h": fm.frame_h,
                      "frame_w": fm.frame_w},
        "spacing_mm": list(spacing), "params": MeasureParams().to_dict(),
        "fov_shape": None if fov is None else list(fov.shape), "fov_rle": None if fov is None else rle_encode(fov),
        "structure": structure, "reference_mm": reference_mm,
    }
    case["expected"] = _expected(run_case(case), structure)
    return case


def _ellipse(h: int, w: int, cx: float, cy: float, a: float, b: float, angle: float) -> np.ndarray:
    v, u = np.mgrid[0:h, 0:w]
    c, s = math.cos(angle), math.sin(angle)
    dx, dy = u + 0.5 - cx, v + 0.5 - cy
    p, q = (dx * c + dy * s) / a, (-dx * s + dy * c) / b
    return p * p + q * q < 1.0


def build_cases(hc18_root: Path) -> dict[str, Any]:
    """Every case, HC18 masks read from ``hc18_root`` (the real cases need it; see the module docstring)."""
    from fetaledge.data.hc18 import HC18_ATTRIBUTION, filled_mask, read_hc18
    from fetaledge.data.phantom_render import Fan

    items = {it.name: it for it in read_hc18(hc18_root)}
    cases = []
    for name in HC18_CASES:
        it = items[name]
        mask = filled_mask(it.annotation)
        h, w = mask.shape
        sp = (it.pixel_mm, it.pixel_mm)
        cases.append(_case(f"hc18_{name}_full", mask, FrameMap.identity(h, w), sp, reference_mm=it.hc_mm,
                           note="HC18 ground-truth mask at full size"))
        cases.append(_case(f"hc18_{name}_grid{GRID[0]}x{GRID[1]}", mask, FrameMap.letterbox(h, w, *GRID), sp,
                           soft_grid=GRID, reference_mm=it.hc_mm,
                           note="the same mask letterboxed to the student grid, grey/255 as probabilities"))
    fm = FrameMap.letterbox(540, 800, *GRID)
    cases.append(_case("empty_grid", np.zeros(GRID, bool), fm, (0.1, 0.1), note="no foreground: no measurement"))
    two = _ellipse(200, 200, 70, 100, 40, 35, 0.2) | _ellipse(200, 200, 160, 100, 22, 20, 0.0)
    cases.append(_case("fragmented", two, FrameMap.identity(200, 200), (0.5, 0.5), structure="ac",
                       note="two blobs: the largest is measured, flagged fragmented"))
    fan = Fan()
    yy, xx = fan.y, fan.x
    c, s = math.cos(0.3), math.sin(0.3)
    p, q = ((xx - 150) * c + (yy - 330) * s) / 110, (-(xx - 150) * s + (yy - 330) * c) / 90
    cut = (p * p + q * q < 1.0) & fan.mask
    cases.append(_case("fan_truncated", cut, FrameMap.identity(*cut.shape), (0.28, 0.28), fov=fan.mask,
                       structure="ac", note="abdomen cut by the ACOUSLIC-shaped fan edge: fitted on the seen arc"))
    cases.append(_case("anisotropic_map", _ellipse(120, 100, 52, 61, 30, 22, 0.5), FrameMap(4.0, 2.0, -3.0, 1.5,
                       240, 400), (0.2, 0.25), structure="ac", note="different x/y scales and spacings"))
    cases.append(_case("small", _ellipse(200, 200, 100, 100, 12, 10, 0.0), FrameMap.identity(200, 200),
                       (0.5, 0.5), note="94 mm2 < min_area_mm2"))
    crescent = _ellipse(200, 200, 100, 100, 60, 60, 0.0) & ~_ellipse(200, 200, 130, 100, 55, 55, 0.0)
    cases.append(_case("crescent", crescent, FrameMap.identity(200, 200), (1.0, 1.0), note="not an ellipse"))
    dot = np.zeros((20, 20), bool)
    dot[5:7, 5:7] = True
    cases.append(_case("dot", dot, FrameMap.identity(20, 20), (1.0, 1.0), note="too few edge points"))
    return {"about": "fetaledge measurement goldens: python -m fetaledge.golden_measure regenerates them; "
                     "read by tests/test_measure_goldens.py and android_demo iqa-core MeasureGoldenTest.kt",
            "attribution": HC18_ATTRIBUTION + " (ground-truth masks of the hc18_* cases only, run-length coded)",
            "rle": "row-major flattened bool mask as alternating run lengths, starting with a run of False",
            "tolerance_mm": TOLERANCE_MM, "cases": cases}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Regenerate the measurement goldens.")
    ap.add_argument("--hc18", type=Path, required=True, help="HC18 folder (training_set/ + CSV)")
    ap.add_argument("--out", type=Path, default=Path("tests/goldens/measure"))
    args = ap.parse_args(argv)
    doc = build_cases(args.hc18)
    write_json(args.out / FILE_NAME, doc)
    print(f"wrote {len(doc['cases'])} cases to {args.out / FILE_NAME}")


if __name__ == "__main__":
    main()
