"""measurement.json (strict, versioned), spacing rules, and one frame's biometry through the bundle geometry."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from fetaledge.errors import FetaledgeError
from fetaledge.runtime.biometry import frame_map_for, measure_logits
from fetaledge.runtime.measure import FrameMap, measure_mask
from fetaledge.runtime.measure_spec import (
    MeasurementSpec,
    dump_measurement_spec,
    example_measurement_spec,
    load_measurement_spec,
)

BASE = example_measurement_spec().to_dict()


def test_round_trip_through_a_file(tmp_path):
    dump_measurement_spec(example_measurement_spec(), tmp_path / "measurement.json")
    assert load_measurement_spec(tmp_path) == example_measurement_spec()


@pytest.mark.parametrize("edit,field", [
    (lambda d: d.pop("grid_width"), "grid_width: required field is missing"),
    (lambda d: d.update(extra=1), "extra: unknown field"),
    (lambda d: d.update(structure="bpd"), "structure: must be one of hc, ac"),
    (lambda d: d.update(grid_height=96.0), "grid_height: must be an integer"),
    (lambda d: d.update(spacing_mm=[0.1]), "spacing_mm: must be [x, y]"),
    (lambda d: d.update(spacing_mm=[0.1, -1]), "spacing_mm: must be [x, y]"),
    (lambda d: d["params"].update(min_points=20.0), "params.min_points: must be an integer"),
    (lambda d: d["params"].pop("threshold"), "params: measurement parameters: unknown [], missing ['threshold']"),
    (lambda d: d.update(measurement_version=2), "measurement_version: 2 is newer than this runtime supports (1)"),
    (lambda d: d.update(spacing_source="guess"), "spacing_source: must be one of spec, probe"),
])
def test_every_bad_field_is_one_clear_error(edit, field):
    d = copy.deepcopy(BASE)
    edit(d)
    with pytest.raises(FetaledgeError) as info:
        MeasurementSpec.from_dict(d)
    assert str(info.value).startswith(f"measurement.json: {field}"), str(info.value)


def test_spacing_sources():
    probe = example_measurement_spec()
    fixed = MeasurementSpec.from_dict({**BASE, "spacing_source": "spec"})
    assert probe.spacing(True) == (0.1, 0.1) and probe.spacing(True, (0.2, 0.3)) == (0.2, 0.3)
    assert fixed.spacing(True) == (0.1, 0.1)
    with pytest.raises(FetaledgeError, match="refused"):
        fixed.spacing(True, (0.2, 0.2))
    with pytest.raises(FetaledgeError, match="another pixel spacing"):
        probe.spacing(False)


def test_biometry_maps_through_both_letterboxes_and_refuses_ga_outside_hadlock():
    spec = example_measurement_spec()
    yy, xx = np.mgrid[0:96, 0:128]
    logits = np.where(((xx + 0.5 - 64) / 20) ** 2 + ((yy + 0.5 - 48) / 16) ** 2 < 1, 9.0, -9.0)
    b = measure_logits(spec, logits[None], input_hw=(540, 800))
    direct = measure_mask(1 / (1 + np.exp(-logits)), FrameMap.letterbox(540, 800, 96, 128), 0.1)
    assert b.measurement.circumference_mm == pytest.approx(direct.circumference_mm)
    assert b.gestational_age is None and "outside the 14-42 weeks" in b.note  # ~ 71 mm: first trimester
    # A 562x744 probe frame letterboxed to the bundle's 540x800 input, with its own spacing.
    fm = frame_map_for(spec, (540, 800), (562, 744))
    inner, outer = FrameMap.letterbox(540, 800, 96, 128), FrameMap.letterbox(562, 744, 540, 800)
    assert fm.frame_h == 562 and fm == inner.then(outer)
    b2 = measure_logits(spec, logits, input_hw=(540, 800), frame_hw=(562, 744), probe_mm=(0.28, 0.28))
    assert b2.gestational_age is not None and 14 <= b2.gestational_age.weeks <= 42
    assert b2.to_dict()["gestational_age"]["label"] == b2.gestational_age.label
    with pytest.raises(FetaledgeError, match="96x128"):
        measure_logits(spec, np.zeros((64, 64)), input_hw=(540, 800))
