"""The torch-free measurement: mask -> ellipse -> circumference in mm, its geometry and its quality flag."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from fetaledge.errors import FetaledgeError
from fetaledge.runtime.contour import edge_points, label_components, largest_component
from fetaledge.runtime.ellipse import EllipseFitError, fit_ellipse, ramanujan
from fetaledge.runtime.geometry import letterbox
from fetaledge.runtime.measure import FrameMap, MeasureParams, measure_mask

HC18 = Path(__file__).resolve().parents[2] / "shared" / "data" / "real" / "hc18"


def render(h: int, w: int, cx: float, cy: float, a: float, b: float, angle: float,
           frame_map: FrameMap | None = None) -> np.ndarray:
    """A 0/1 mask: output pixels whose centre (mapped to frame coordinates by ``frame_map``) is inside."""
    v, u = np.mgrid[0:h, 0:w]
    x, y = u + 0.5, v + 0.5
    if frame_map is not None:
        x, y = x * frame_map.sx + frame_map.ox, y * frame_map.sy + frame_map.oy
    c, s = math.cos(angle), math.sin(angle)
    dx, dy = x - cx, y - cy
    p = (dx * c + dy * s) / a
    q = (-dx * s + dy * c) / b
    return (p * p + q * q < 1.0).astype(np.float64)


@pytest.mark.parametrize("a,b,angle", [(60.0, 45.0, 0.0), (80.0, 50.0, 0.7), (120.0, 100.0, -1.2),
                                       (40.0, 30.0, 1.5707963)])
def test_fit_recovers_axes_centre_and_angle_of_rendered_ellipses(a, b, angle):
    m = render(300, 320, 161.3, 148.7, a, b, angle)
    r = measure_mask(m, FrameMap.identity(300, 320), 1.0)
    e = r.ellipse_mm
    assert r.status == "ok", r.reasons
    assert abs(e.a / a - 1) < 0.005 and abs(e.b / b - 1) < 0.005
    assert abs(e.cx - 161.3) < 0.1 and abs(e.cy - 148.7) < 0.1
    turn = (e.angle - angle + math.pi / 2) % math.pi - math.pi / 2  # an axis has no direction
    assert abs(turn) < 0.02
    assert abs(r.circumference_mm / ramanujan(a, b) - 1) < 0.005


def test_exact_points_give_exact_ellipse_and_bad_point_sets_fail():
    t = np.linspace(0, 2 * np.pi, 50, endpoint=False)
    pts = np.stack([3 + 7 * np.cos(t) * np.cos(0.3) - 2 * np.sin(t) * np.sin(0.3),
                    -4 + 7 * np.cos(t) * np.sin(0.3) + 2 * np.sin(t) * np.cos(0.3)], axis=1)
    e = fit_ellipse(pts)
    assert (round(e.a, 9), round(e.b, 9), round(e.angle, 9)) == (7.0, 2.0, 0.3)
    with pytest.raises(EllipseFitError, match=">= 6"):
        fit_ellipse(pts[:5])
    with pytest.raises(EllipseFitError):
        fit_ellipse(np.stack([np.arange(10.0), 2 * np.arange(10.0)], axis=1))  # collinear


def test_phantom_ellipses_measure_within_half_a_percent_of_the_analytic_circumference():
    """The phantom draws its sections as ``Ellipse.rho(fan) < 1`` on the 562x744 grid (pixel index = centre):
    on clean whole masks the measured circumference is the analytic Ramanujan one within 0.5 %."""
    from fetaledge.data.phantom_render import Ellipse, Fan

    fan = Fan()
    rng = np.random.default_rng(7)
    worst = 0.0
    for _ in range(6):
        a = rng.uniform(70, 130)
        sec = Ellipse(rng.uniform(330, 410), rng.uniform(330, 380), a, a * rng.uniform(0.8, 0.98),
                      rng.uniform(-0.6, 0.6))
        inside = sec.rho(fan) < 1.0
        assert not (inside & ~fan.mask).any()  # clean: wholly inside the fan
        r = measure_mask(inside.astype(float), FrameMap.identity(*inside.shape), 0.28, fov=fan.mask)
        assert r.status == "ok", r.reasons
        worst = max(worst, abs(r.circumference_mm / (ramanujan(sec.a, sec.b) * 0.28) - 1))
    assert worst < 0.005


def test_an_ellipse_cut_by_the_fan_edge_is_fitted_on_its_seen_arc_and_flagged():
    from fetaledge.data.phantom_render import Ellipse, Fan

    fan = Fan()
    sec = Ellipse(150.0, 330.0, 110.0, 90.0, 0.3)  # crosses the left fan edge
    inside = (sec.rho(fan) < 1.0) & fan.mask
    truth = ramanujan(110.0, 90.0)
    r = measure_mask(inside.astype(float), FrameMap.identity(*inside.shape), 1.0, fov=fan.mask)
    assert 0.15 < r.cut_fraction < 0.6
    assert r.status == "rescan" and "truncated" in r.reasons
    assert abs(r.circumference_mm / truth - 1) < 0.01  # the cut edge is left out of the fit
    # Without the fan the cut edge counts as boundary: the fit is then of the wrong shape.
    blind = measure_mask(inside.astype(float), FrameMap.identity(), 1.0)
    assert abs(blind.circumference_mm / truth - 1) > 0.03
    # A slight cut is measured and passes.
    small = Ellipse(161.0, 330.0, 80.0, 70.0, 0.0)
    inside = (small.rho(fan) < 1.0) & fan.mask
    r = measure_mask(inside.astype(float), FrameMap.identity(*inside.shape), 1.0, fov=fan.mask)
    assert 0 < r.cut_fraction < 0.15 and r.status == "ok"
    assert abs(r.circumference_mm / ramanujan(80.0, 70.0) - 1) < 0.005


def test_mm_through_the_letterbox_of_an_800x540_frame_equals_the_direct_computation():
    """An HC18-sized frame (540x800, 0.1 mm pixels) letterboxed to a 112x160 and to a 128x128 model grid: the
    ellipse drawn in the model grid, measured through the inverse geometry, gives the frame's millimetres."""
    cx, cy, a, b, angle, mm = 402.0, 263.0, 180.0, 140.0, 0.4, 0.1
    direct = measure_mask(render(540, 800, cx, cy, a, b, angle), FrameMap.identity(540, 800), mm)
    assert abs(direct.circumference_mm / (ramanujan(a, b) * mm) - 1) < 0.002
    for out in ((112, 160), (128, 128)):
        fm = FrameMap.letterbox(540, 800, *out)
        small = measure_mask(render(*out, cx, cy, a, b, angle, fm), fm, mm)
        assert small.status == "ok", small.reasons
        assert abs(small.circumference_mm / direct.circumference_mm - 1) < 0.005
        assert abs(small.ellipse_px.cx - cx) < 1.0 and abs(small.ellipse_px.cy - cy) < 1.0
    # Anisotropic: 128x128 from 540x800 is the same scale on both axes (square pad); a stretched map is not.
    fm = FrameMap(4.0, 2.0, 0.0, 0.0, 540, 800)
    stretched = measure_mask(render(270, 200, cx, cy, a, b, angle, fm), fm, mm)
    assert abs(stretched.circumference_mm / direct.circumference_mm - 1) < 0.005


@pytest.mark.skipif(not HC18.is_dir(), reason="HC18 sample not in ../shared/data/real/hc18")
def test_a_real_hc18_mask_letterboxed_to_the_model_grid_measures_as_at_full_size():
    from fetaledge.data.hc18 import filled_mask, read_hc18

    item = read_hc18(HC18)[0]
    full = filled_mask(item.annotation)
    direct = measure_mask(full, FrameMap.identity(*full.shape), item.pixel_mm)
    assert abs(direct.circumference_mm - item.hc_mm) < 1.5  # the drawn outline is ~3 px wide (report)
    soft = letterbox(full.astype(np.uint8) * 255, 112, 160).astype(np.float64) / 255.0
    via = measure_mask(soft, FrameMap.letterbox(540, 800, 112, 160), item.pixel_mm)
    assert via.status == "ok"
    assert abs(via.circumference_mm - direct.circumference_mm) / direct.circumference_mm < 0.005


def test_composed_maps_equal_one_map_and_the_padding_is_outside_the_view():
    inner = FrameMap.letterbox(562, 744, 128, 128)
    outer = FrameMap.letterbox(540, 800, 562, 744)
    both = inner.then(outer)
    pts = np.array([[0.0, 0.0], [64.0, 64.0], [127.5, 3.25]])
    assert np.allclose(both.apply(pts), outer.apply(inner.apply(pts)))
    view = FrameMap.letterbox(540, 800, 112, 160).view(112, 160)
    assert not view[:2].any() and not view[-2:].any() and view[2:-2].all()  # 10 frame rows = 2 output rows


def test_empty_mask_gives_no_measurement_not_a_number():
    for m in (np.zeros((112, 160)), np.full((64, 64), 0.49)):
        r = measure_mask(m, FrameMap.letterbox(540, 800, 112, 160), 0.1)
        assert r.status == "none" and r.circumference_mm is None and r.reasons == ("no_foreground",)
        assert r.to_dict()["circumference_mm"] is None


def test_quality_flags_small_fragmented_not_an_ellipse_and_too_few_points():
    fm = FrameMap.identity(200, 200)
    tiny = render(200, 200, 100, 100, 12, 10, 0)
    assert measure_mask(tiny, fm, 0.5).reasons == ("small",)  # 94 mm2 < 100 mm2
    two = render(200, 200, 70, 100, 40, 35, 0) + render(200, 200, 160, 100, 22, 20, 0)
    r = measure_mask(two, fm, 1.0)
    assert r.status == "rescan" and "fragmented" in r.reasons
    assert abs(r.circumference_mm / ramanujan(40, 35) - 1) < 0.005  # the largest one is measured
    crescent = render(200, 200, 100, 100, 60, 60, 0) * (1 - render(200, 200, 130, 100, 55, 55, 0))
    assert "poor_fit" in measure_mask(crescent, fm, 1.0).reasons
    dot = np.zeros((20, 20))
    dot[5:7, 5:7] = 1
    assert measure_mask(dot, FrameMap.identity(), 1.0).reasons == ("too_few_edge_points",)


def test_probability_maps_put_the_edge_where_p_crosses_the_threshold():
    p = np.zeros((3, 6))
    p[:, 2] = 0.9
    p[:, 3] = 0.3
    e = edge_points(p, 0.5)
    right = e.points[e.points[:, 0] > 3.0]
    assert np.allclose(right[:, 0], 2.5 + (0.9 - 0.5) / (0.9 - 0.3))


def test_components_four_versus_eight_connectivity_and_ties():
    fg = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 0]], bool)
    assert label_components(fg, diagonal=True)[1] == [2]
    assert label_components(fg, diagonal=False)[1] == [1, 1]
    tie = np.array([[0, 1, 0, 1]], bool)
    comp, n, total = largest_component(tie)
    assert comp.tolist() == [[False, True, False, False]] and (n, total) == (1, 2)


def test_bad_inputs_fail_with_one_clear_error():
    fm = FrameMap.identity()
    with pytest.raises(FetaledgeError, match="2-D"):
        measure_mask(np.zeros((2, 3, 4)), fm, 0.1)
    with pytest.raises(FetaledgeError, match="spacing"):
        measure_mask(np.zeros((4, 4)), fm, 0.0)
    with pytest.raises(FetaledgeError, match="divide 0/255"):
        measure_mask(np.full((4, 4), 255.0), fm, 0.1)
    with pytest.raises(FetaledgeError, match="field-of-view"):
        measure_mask(np.zeros((4, 4)), FrameMap.identity(4, 4), 0.1, fov=np.ones((5, 5), bool))
    with pytest.raises(FetaledgeError, match="unknown"):
        MeasureParams.from_dict({**MeasureParams().to_dict(), "extra": 1})
    with pytest.raises(FetaledgeError, match="threshold"):
        MeasureParams(threshold=1.5)


@pytest.mark.parametrize("module", ["fetaledge.runtime.ellipse", "fetaledge.runtime.contour",
                                    "fetaledge.runtime.measure", "fetaledge.runtime.gestation"])
def test_docstring_examples_run(module):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0


def test_the_measurement_runs_with_torch_unimportable():
    import subprocess
    import sys

    script = (
        "import importlib.abc, sys\n"
        "class Block(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('torch', 'torchvision', 'nncf', 'timm', 'onnxruntime'):\n"
        "            raise ImportError(name + ' is blocked')\n"
        "sys.meta_path.insert(0, Block())\n"
        "import numpy as np\n"
        "from fetaledge.runtime.measure import FrameMap, measure_mask\n"
        "from fetaledge.runtime.gestation import gestational_age\n"
        "yy, xx = np.mgrid[0:64, 0:64]\n"
        "m = measure_mask(((xx - 32) ** 2 + (yy - 32) ** 2 < 400).astype(float), FrameMap.identity(), 1.0)\n"
        "print(m.status, gestational_age('hc', 175.0).label)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=Path(__file__).resolve().parents[1],
                         capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok 20w0d"
