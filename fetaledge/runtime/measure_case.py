"""The measurement of a combined bundle (``iqa_spec.json`` schema 3, ``task.measurement``): per sweep, the frame the
classifier's decision logic chose is measured by the bundle's segmentation model (no torch).

:class:`FrameMeasurer` opens the first segmentation model this install can run (the spec lists them in order of
preference: INT8 first, the fp32 fallback after) and turns one raw frame into a :class:`Biometry` (mask ->
ellipse -> circumference in mm, quality flag, Hadlock gestational age) through the same code as a
segmentation-only bundle (:func:`fetaledge.runtime.biometry.measure_logits`). :func:`measure_chosen_frames` is what
``fetaledge infer`` adds to a case: one measurement per usable sweep and the case's, at the chosen frames.

Example:
    >>> m = FrameMeasurer("bundle", load_bundle("bundle"))                 # doctest: +SKIP
    >>> m.measure(frame).measurement.circumference_mm                      # doctest: +SKIP
    231.4
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fetaledge.errors import FetaledgeError
from fetaledge.runtime.biometry import Biometry, measure_logits
from fetaledge.runtime.engines import LiteRTEngine, OrtEngine, RuntimeMissing
from fetaledge.runtime.fov import field_of_view
from fetaledge.runtime.geometry import fit_frame
from fetaledge.runtime.measure_spec import MeasurementSpec
from fetaledge.runtime.spec import IqaSpec, MeasurementTask, ModelSpec, TensorSpec

__all__ = ["FrameMeasurer", "has_measurement", "measure_chosen_frames", "measurement_spec"]


def has_measurement(spec: IqaSpec) -> bool:
    """True when the bundle measures its chosen frames (schema 3, kind "classification+measurement")."""
    return spec.task.measurement is not None


def measurement_spec(task: MeasurementTask, model: ModelSpec) -> MeasurementSpec:
    """The ``measurement.json`` equivalent of ``task`` for one of its models (same meaning, one code path)."""
    return MeasurementSpec(model=model.file, structure=task.structure, output=task.output,
                           grid_height=task.grid_height, grid_width=task.grid_width, geometry=task.geometry,
                           spacing_mm=(float(task.spacing_mm[0]), float(task.spacing_mm[1])),
                           spacing_source=task.spacing_source, gestational_age=task.gestational_age,
                           params=task.params)


def _grid(y: np.ndarray, t: TensorSpec, hw: tuple[int, int]) -> np.ndarray:
    v = np.asarray(y)
    if v.size != hw[0] * hw[1]:
        raise FetaledgeError(f"segmentation output {t.name} has {v.size} values, the spec's grid is "
                             f"{hw[0]}x{hw[1]}", hint="rebuild the bundle: model and spec disagree")
    v = v.reshape(hw).astype(np.float64)
    if t.quantization is not None:
        v = t.quantization.scale * (v - t.quantization.zero_point)
    return v


class _OrtGrid(OrtEngine):
    def logits(self, frame: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
        x = frame[None].astype(np.uint8, copy=False)
        return _grid(self.session.run(None, {self.input_name: x})[0], self.spec.output, hw)


class _LiteRTGrid(LiteRTEngine):
    def logits(self, frame: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
        self.it.set_tensor(self.inp, frame[None].astype(np.uint8, copy=False))
        self.it.invoke()
        return _grid(self.it.get_tensor(self.out), self.spec.output, hw)


_GRID_ENGINES = {"onnxruntime": _OrtGrid, "litert": _LiteRTGrid}


class FrameMeasurer:
    """The bundle's segmentation model (``model`` if named, else the first that runs here) + the measurement.

    ``skipped`` lists the models passed over (runtime not installed, or refused to load) with the reason.
    """

    def __init__(self, bundle_dir: Path | str, spec: IqaSpec, threads: int | None = None,
                 model: str | None = None) -> None:
        if spec.task.measurement is None:
            raise FetaledgeError(f"bundle {bundle_dir} does not measure (task.kind {spec.task.kind!r})",
                                 hint="build it with the segment stage (fetaledge build; config segment.enabled)")
        self.root, self.spec, self.task = Path(bundle_dir), spec, spec.task.measurement
        self.skipped: list[str] = []
        wanted = [self.task.model(model)] if model else list(self.task.models)
        for m in wanted:
            try:
                self.engine = _GRID_ENGINES[m.runtime](self.root / m.file, m, threads)
            except (RuntimeMissing, FetaledgeError) as exc:
                if model:
                    raise
                self.skipped.append(f"{m.name} ({m.runtime}): {exc.message}")
                continue
            self.model, self.mspec = m, measurement_spec(self.task, m)
            return
        raise FetaledgeError(f"bundle {bundle_dir}: no segmentation model runs here: " + "; ".join(self.skipped),
                             hint="pip install onnxruntime")

    @property
    def note(self) -> str | None:
        """Why a model other than the first segmentation model measures (None when the first does)."""
        return None if not self.skipped else (f"measuring with fallback model {self.model.name!r}: "
                                              + "; ".join(self.skipped))

    def measure(self, frame: np.ndarray, spacing_mm: tuple[float, float] | None = None) -> Biometry:
        """One raw grey frame (any size the spec's ``input.other_sizes`` allows) -> its biometry, in its pixels."""
        inp = self.spec.input
        frame = np.asarray(frame)
        if frame.dtype != np.uint8 or frame.ndim != 2:
            raise FetaledgeError(f"a frame to measure must be (H, W) uint8, got {frame.shape} {frame.dtype}")
        fitted = np.ascontiguousarray(fit_frame(frame, inp.height, inp.width, inp.other_sizes))
        logits = self.engine.logits(fitted, (self.task.grid_height, self.task.grid_width))
        fov = field_of_view(frame, self.task.field_of_view)
        return measure_logits(self.mspec, logits, (inp.height, inp.width), frame.shape, spacing_mm, fov)


def _row(b: Biometry, frame: int) -> dict[str, Any]:
    m = b.measurement
    return {"frame": frame, "structure": b.structure, "circumference_mm": m.circumference_mm, "status": m.status,
            "reasons": list(m.reasons),
            "gestational_age": None if b.gestational_age is None else b.gestational_age.to_dict(),
            "note": b.note, "measurement": m.to_dict()}


def measure_chosen_frames(measurer: FrameMeasurer, frame_at: Callable[[int], np.ndarray],
                          sweeps: Sequence[dict[str, Any]], case_frame: int, offsets: Sequence[int],
                          spacing_mm: tuple[float, float] | None = None) -> dict[str, Any]:
    """Measure each usable sweep's chosen frame (``sweeps[k]["verdict"]``, frame index in the sweep) and the case's.

    ``frame_at(i)`` reads frame ``i`` of the case (all sweeps concatenated); ``offsets[k]`` is sweep ``k``'s first
    frame. A sweep the decision logic called RESCAN gets ``None`` (no frame was chosen, nothing is measured).
    Returns ``{"model", "note", "sweeps": [row | None], "case": row | None}``; a row's ``frame`` is in the case.
    """
    rows: list[dict[str, Any] | None] = []
    by_frame: dict[int, dict[str, Any]] = {}
    for k, s in enumerate(sweeps):
        f = int(s["verdict"]["frame"])
        if f < 0:
            rows.append(None)
            continue
        i = int(offsets[k]) + f
        by_frame[i] = _row(measurer.measure(frame_at(i), spacing_mm), i)
        rows.append(by_frame[i])
    case = None
    if case_frame >= 0:
        case = by_frame.get(case_frame) or _row(measurer.measure(frame_at(case_frame), spacing_mm), case_frame)
    return {"model": measurer.model.name, "note": measurer.note, "sweeps": rows, "case": case}
