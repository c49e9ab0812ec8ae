"""One frame's biometry from a segmentation bundle: mask logits -> measurement -> gestational age (no torch).

Ties :mod:`fetaledge.runtime.measure_spec` (what to measure, spacing rules), the inverse frame geometry and
:mod:`fetaledge.runtime.gestation` together: what ``fetaledge infer`` and the app show next to a frame.

Example:
    >>> import numpy as np
    >>> from fetaledge.runtime.measure_spec import example_measurement_spec
    >>> yy, xx = np.mgrid[0:96, 0:128]
    >>> logits = np.where((xx - 64) ** 2 + (yy - 48) ** 2 < 30 ** 2, 8.0, -8.0)
    >>> b = measure_logits(example_measurement_spec(), logits, input_hw=(540, 800), probe_mm=(0.25, 0.25))
    >>> b.measurement.status, round(b.measurement.circumference_mm), b.gestational_age.label
    ('ok', 294, '32w3d')
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from fetaledge.errors import FetaledgeError
from fetaledge.runtime.gestation import GestationalAge, OutOfRange, gestational_age
from fetaledge.runtime.measure import FrameMap, Measurement, measure_mask
from fetaledge.runtime.measure_spec import MeasurementSpec

__all__ = ["Biometry", "frame_map_for", "measure_logits"]


@dataclass(frozen=True)
class Biometry:
    """The measurement of one frame, its structure, and the gestational age (None with a note when refused)."""

    structure: str
    measurement: Measurement
    gestational_age: GestationalAge | None
    note: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"structure": self.structure, "measurement": self.measurement.to_dict(),
                "gestational_age": None if self.gestational_age is None else self.gestational_age.to_dict(),
                "note": self.note}


def frame_map_for(spec: MeasurementSpec, input_hw: tuple[int, int], frame_hw: tuple[int, int] | None = None
                  ) -> FrameMap:
    """Grid -> bundle input (the letterbox in the graph), then -> the probe's frame when it had another size."""
    inner = FrameMap.letterbox(*input_hw, spec.grid_height, spec.grid_width)
    if frame_hw is None or tuple(frame_hw) == tuple(input_hw):
        return inner
    return inner.then(FrameMap.letterbox(*frame_hw, *input_hw))


def measure_logits(spec: MeasurementSpec, logits: np.ndarray, input_hw: tuple[int, int],
                   frame_hw: tuple[int, int] | None = None, probe_mm: tuple[float, float] | None = None,
                   fov: np.ndarray | None = None) -> Biometry:
    """Measure one frame's mask logits (grid_height, grid_width) (or with a leading 1) as ``spec`` says."""
    grid = np.asarray(logits, np.float64)
    if grid.ndim == 3 and grid.shape[0] == 1:
        grid = grid[0]
    if grid.shape != (spec.grid_height, spec.grid_width):
        raise FetaledgeError(f"mask logits of shape {grid.shape}, measurement.json says "
                             f"{spec.grid_height}x{spec.grid_width}", hint="use the bundle's segmentation model")
    same = frame_hw is None or tuple(frame_hw) == tuple(input_hw)
    spacing = spec.spacing(same, probe_mm)
    prob = 1.0 / (1.0 + np.exp(-np.clip(grid, -60.0, 60.0)))
    m = measure_mask(prob, frame_map_for(spec, input_hw, frame_hw), spacing, spec.params, fov)
    ga, note = None, None
    if m.circumference_mm is not None and spec.gestational_age == "hadlock1984":
        try:
            ga = gestational_age(spec.structure, m.circumference_mm)
        except OutOfRange as exc:
            note = exc.message
    return Biometry(spec.structure, m, ga, note)
