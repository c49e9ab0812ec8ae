"""The measurement of a combined bundle, torch-free: the field of view by the spec's rule, and which frames
``fetaledge infer`` measures (the classifier's chosen frame of each usable sweep, and the case's)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from fetaledge.data.phantom import PhantomConfig, render_case
from fetaledge.data.phantom_render import Fan
from fetaledge.errors import FetaledgeError
from fetaledge.runtime.biometry import measure_logits
from fetaledge.runtime.fov import field_of_view
from fetaledge.runtime.measure_case import measure_chosen_frames, measurement_spec
from fetaledge.runtime.spec import example_measure_spec


def test_nonzero_span_recovers_the_phantoms_fan() -> None:
    fan = Fan()
    frames, _, _ = render_case(PhantomConfig(cases=1, frames_per_sweep=10, seed=5), 0, fan)
    for f in frames[::7]:
        fov = field_of_view(f, "nonzero_span")
        assert fov.shape == f.shape and not (fov & ~fan.mask).any(), "nothing outside the fan"
        assert (fan.mask & ~fov).sum() < 0.001 * fan.mask.sum(), "only black speckle on the fan's border is lost"
    assert field_of_view(frames[0], "frame") is None
    with pytest.raises(FetaledgeError, match="unknown field_of_view rule 'fan'"):
        field_of_view(frames[0], "fan")


def test_the_measurement_task_measures_like_measurement_json() -> None:
    spec = example_measure_spec()
    task = spec.task.measurement
    ms = measurement_spec(task, task.models[0])
    assert ms.spacing(True) == (0.28, 0.28) and ms.grid_width == 128 and ms.structure == "ac"
    yy, xx = np.mgrid[0:96, 0:128]
    logits = np.where(((xx + 0.5 - 64) / 30) ** 2 + ((yy + 0.5 - 48) / 24) ** 2 <= 1, 9.0, -9.0)
    b = measure_logits(ms, logits, (spec.input.height, spec.input.width))
    # grid -> 562x744 frame: the letterbox scale is 744/128 = 5.8125 px per grid pixel, 0.28 mm per px
    a, bb = 30 * 5.8125 * 0.28, 24 * 5.8125 * 0.28
    ram = np.pi * (3 * (a + bb) - np.sqrt((3 * a + bb) * (a + 3 * bb)))
    assert b.measurement.status == "ok" and abs(b.measurement.circumference_mm / ram - 1) < 0.01


class _Fake:
    """Stands in for FrameMeasurer: records which frames were measured."""

    def __init__(self) -> None:
        self.model = SimpleNamespace(name="seg-fake")
        self.note = None
        self.seen: list[int] = []

    def measure(self, frame: np.ndarray, spacing_mm=None):
        self.seen.append(int(frame[0, 0]))
        m = SimpleNamespace(status="ok", reasons=(), circumference_mm=100.0 + frame[0, 0],
                            to_dict=lambda: {"ellipse_px": None})
        return SimpleNamespace(structure="ac", measurement=m, gestational_age=None, note=None)


def test_only_chosen_frames_are_measured_and_the_case_reuses_its_sweeps() -> None:
    fake = _Fake()
    sweeps = [{"verdict": {"frame": 3}}, {"verdict": {"frame": -1}}, {"verdict": {"frame": 0}}]
    r = measure_chosen_frames(fake, lambda i: np.full((2, 2), i, np.uint8), sweeps, case_frame=23,
                              offsets=[0, 10, 20])
    assert [None if s is None else s["frame"] for s in r["sweeps"]] == [3, None, 20]
    assert fake.seen == [3, 20, 23], "sweeps' chosen frames, then a case frame no sweep chose, each measured once"
    assert r["case"]["frame"] == 23
    fake2 = _Fake()
    r2 = measure_chosen_frames(fake2, lambda i: np.full((2, 2), i, np.uint8), sweeps, case_frame=3,
                               offsets=[0, 10, 20])
    assert fake2.seen == [3, 20] and r2["case"]["circumference_mm"] == 103.0
    r3 = measure_chosen_frames(_Fake(), lambda i: np.zeros((2, 2), np.uint8), [{"verdict": {"frame": -1}}], -1, [0])
    assert r3["sweeps"] == [None] and r3["case"] is None
