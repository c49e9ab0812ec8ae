"""``measurement.json``: what a segmentation bundle measures and how, strictly typed (no torch).

It sits in a segmentation bundle and names the model (its file in the bundle) whose output is a mask::

    {"measurement_version": 1, "model": "seg_int8.onnx", "structure": "hc" | "ac", "output": "mask_logits",
     "grid_height": 96, "grid_width": 128, "geometry": "letterbox",
     "spacing_mm": [0.1, 0.1], "spacing_source": "spec" | "probe", "gestational_age": "hadlock1984" | "none",
     "params": {"threshold": 0.5, "min_area_mm2": 100.0, "max_residual": 0.03, "max_cut_fraction": 0.15,
                "min_component_share": 0.9, "min_points": 20}}

* ``output`` "mask_logits": the model returns one logit per grid pixel, (1, grid_height, grid_width).
* ``geometry`` "letterbox": the grid is the letterbox of the bundle's input frame (the graph folds it in), so
  the runtime maps edge points back with :meth:`FrameMap.letterbox`; a probe frame of another size that the
  spec letterboxes to the input (``input.other_sizes``) adds one more inverse letterbox.
* ``spacing_mm`` is the pixel spacing (x, y) of frames of the bundle's input size. ``spacing_source``
  "probe": the device passes each frame's spacing and the spec's value is only the fallback; "spec": the
  spec's value is the truth and a per-frame value is refused (a silent override would be a wrong number).
  A frame of another size has another spacing: it needs the probe's value.

Where it is used: segmentation-only bundles (HC18: no classifier, no decision logic) carry this file. A bundle that
classifies AND measures carries the same fields inside ``iqa_spec.json`` (schema 3, ``task.measurement``, with the
segmentation models' sha256 and tensors; :mod:`fetaledge.runtime.spec` says why embedded), and
:func:`fetaledge.runtime.measure_case.measurement_spec` turns that section into this type, so both measure through
one code path.

Example:
    >>> spec = example_measurement_spec()
    >>> MeasurementSpec.from_dict(spec.to_dict()) == spec
    True
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from fetaledge.errors import FetaledgeError
from fetaledge.fsio import read_json, write_json
from fetaledge.runtime.measure_params import MeasureParams

__all__ = ["MEASUREMENT_FILE", "MEASUREMENT_VERSION", "MeasurementSpec", "dump_measurement_spec",
           "example_measurement_spec", "load_measurement_spec"]

MEASUREMENT_FILE = "measurement.json"
MEASUREMENT_VERSION = 1
_CHOICES = {"structure": ("hc", "ac"), "output": ("mask_logits",), "geometry": ("letterbox",),
            "spacing_source": ("spec", "probe"), "gestational_age": ("hadlock1984", "none")}


def _bad(field: str, what: str, hint: str | None = None) -> FetaledgeError:
    return FetaledgeError(f"{MEASUREMENT_FILE}: {field}: {what}", hint=hint)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


@dataclass(frozen=True)
class MeasurementSpec:
    """The typed ``measurement.json`` (module docstring)."""

    model: str
    structure: str
    output: str
    grid_height: int
    grid_width: int
    geometry: str
    spacing_mm: tuple[float, float]
    spacing_source: str
    gestational_age: str
    params: MeasureParams
    measurement_version: int = MEASUREMENT_VERSION

    def __post_init__(self) -> None:
        if self.measurement_version != MEASUREMENT_VERSION:
            raise _bad("measurement_version", f"{self.measurement_version} is not supported "
                       f"(this runtime reads {MEASUREMENT_VERSION})", hint="update fetaledge or rebuild the bundle")
        if not (isinstance(self.model, str) and self.model.strip()):
            raise _bad("model", "must name the segmentation model's file in the bundle")
        for name, allowed in _CHOICES.items():
            if getattr(self, name) not in allowed:
                raise _bad(name, f"must be one of {', '.join(allowed)}, got {getattr(self, name)!r}")
        for name in ("grid_height", "grid_width"):
            v = getattr(self, name)
            if not _is_int(v) or v < 1:
                raise _bad(name, f"must be an integer >= 1, got {v!r}")
        sp = self.spacing_mm
        if len(sp) != 2 or not all(_is_num(v) and v > 0 for v in sp):
            raise _bad("spacing_mm", f"must be [x, y] pixel spacings > 0 mm, got {list(sp)}")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["spacing_mm"] = list(self.spacing_mm)
        return {"measurement_version": d.pop("measurement_version"), **d}

    @classmethod
    def from_dict(cls, d: Any) -> MeasurementSpec:
        """Strict: every key required, unknown keys and wrong types are errors naming the field."""
        if not isinstance(d, dict):
            raise _bad("(top level)", "must be a JSON object")
        names = [f.name for f in fields(cls)]
        for key in d:
            if key not in names:
                raise _bad(key, "unknown field", hint=f"the known fields are: {', '.join(names)}")
        for key in names:
            if key not in d:
                raise _bad(key, "required field is missing")
        version = d["measurement_version"]
        if not _is_int(version):
            raise _bad("measurement_version", f"must be an integer, got {version!r}")
        if version > MEASUREMENT_VERSION:
            raise _bad("measurement_version", f"{version} is newer than this runtime supports "
                       f"({MEASUREMENT_VERSION})", hint="update fetaledge (or the app), or rebuild the bundle")
        sp = d["spacing_mm"]
        if not isinstance(sp, list):
            raise _bad("spacing_mm", "must be an array [x, y]")
        p = d["params"]
        if not isinstance(p, dict):
            raise _bad("params", "must be an object")
        for key, want in (("threshold", _is_num), ("min_area_mm2", _is_num), ("max_residual", _is_num),
                          ("max_cut_fraction", _is_num), ("min_component_share", _is_num), ("min_points", _is_int)):
            if key in p and not want(p[key]):
                raise _bad(f"params.{key}", f"must be {'an integer' if want is _is_int else 'a number'}, "
                           f"got {p[key]!r}")
        try:
            params = MeasureParams.from_dict(p)
        except FetaledgeError as exc:
            raise _bad("params", exc.message, exc.hint) from None
        return cls(model=d["model"], structure=d["structure"], output=d["output"], grid_height=d["grid_height"],
                   grid_width=d["grid_width"], geometry=d["geometry"],
                   spacing_mm=tuple(float(v) if _is_num(v) else v for v in sp), spacing_source=d["spacing_source"],
                   gestational_age=d["gestational_age"], params=params, measurement_version=version)

    def spacing(self, frame_is_input_size: bool, probe_mm: tuple[float, float] | None = None) -> tuple[float, float]:
        """The (x, y) spacing to use for one frame (module docstring: spacing_source).

        Example:
            >>> example_measurement_spec().spacing(True)
            (0.1, 0.1)
            >>> example_measurement_spec().spacing(False, (0.2, 0.2))
            (0.2, 0.2)
        """
        if probe_mm is not None:
            if self.spacing_source == "spec":
                raise FetaledgeError("this bundle's measurement.json says spacing_source \"spec\": a per-frame "
                                     "spacing is refused", hint="build the bundle with spacing_source \"probe\"")
            if len(probe_mm) != 2 or not all(_is_num(v) and v > 0 for v in probe_mm):
                raise FetaledgeError(f"probe spacing must be (x, y) > 0 mm, got {probe_mm}")
            return float(probe_mm[0]), float(probe_mm[1])
        if not frame_is_input_size:
            raise FetaledgeError("a frame of another size than the bundle's input has another pixel spacing",
                                 hint="pass the probe's spacing (--spacing-mm)")
        return float(self.spacing_mm[0]), float(self.spacing_mm[1])


def load_measurement_spec(bundle: str | Path) -> MeasurementSpec:
    """Read a bundle folder's ``measurement.json`` (or the file itself)."""
    path = Path(bundle)
    if path.is_dir():
        path = path / MEASUREMENT_FILE
    return MeasurementSpec.from_dict(read_json(path, what="measurement spec"))


def dump_measurement_spec(spec: MeasurementSpec, path: str | Path) -> None:
    """Write atomically, validated on the way out."""
    data = spec.to_dict()
    MeasurementSpec.from_dict(data)
    write_json(Path(path), data)


def example_measurement_spec() -> MeasurementSpec:
    """The HC18 student's measurement: 96x128 grid, HC, Hadlock, spacing from the probe (0.1 mm fallback)."""
    return MeasurementSpec(model="seg_int8.onnx", structure="hc", output="mask_logits", grid_height=96, grid_width=128,
                           geometry="letterbox", spacing_mm=(0.1, 0.1), spacing_source="probe",
                           gestational_age="hadlock1984", params=MeasureParams())
