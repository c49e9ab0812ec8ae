"""The measurement goldens of a bundle that measures: raw frames and what each segmentation model measures on them.

``goldens/measure.json`` (+ ``goldens/measure/frame_NNN.npy``), written by the bundle writer with the shipped models
in this runtime and checked by ``fetaledge verify`` (:func:`check_measure_goldens`) wherever the bundle goes: the
ok / rescan / none decision exactly, and the circumference within the model's tolerance (:data:`MM_TOLERANCE`).
numpy + the inference runtime only.

Example:
    >>> doc = write_measure_goldens(root, spec, frames, sources)      # doctest: +SKIP
    >>> check_measure_goldens(root, spec, problems := [])["frames"]    # doctest: +SKIP
    6
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from fetaledge.errors import FetaledgeError
from fetaledge.runtime.goldens import save_golden_frames
from fetaledge.runtime.measure_case import FrameMeasurer
from fetaledge.runtime.spec import IqaSpec

__all__ = ["MEASURE_GOLDENS", "MM_TOLERANCE", "check_measure_goldens", "write_measure_goldens"]

MEASURE_GOLDENS = "goldens/measure.json"
# fp32: ONNX Runtime's float kernels differ between ISAs by ~1e-6 in the logits, far below 0.05 mm of edge shift.
# INT8: requantisation rounding differs between x86 and ARM kernels (the classifier's INT8 drift is ~1e-3 in p);
# 1 mm is a third of the HC18 student's error and far below what a wrong model or spacing gives (> 10 mm).
MM_TOLERANCE = {"fp32": 0.05, "fp16": 0.2, "int8": 1.0}


def write_measure_goldens(root: Path, spec: IqaSpec, frames: np.ndarray, sources: list[str],
                          threads: int | None = None) -> dict[str, Any]:
    """Save ``frames`` under ``root/goldens/measure`` and what every segmentation model measures on them."""
    task = spec.task.measurement
    if task is None:
        raise FetaledgeError("write_measure_goldens: the spec does not measure (task.measurement is null)")
    entries = save_golden_frames(root, "measure", frames, sources)
    for m in task.models:
        meas = FrameMeasurer(root, spec, threads, model=m.name)
        for e, frame in zip(entries, frames, strict=True):
            b = meas.measure(frame)
            e["expected"][m.name] = {"status": b.measurement.status, "circumference_mm": b.measurement.circumference_mm,
                                     "tolerance_mm": MM_TOLERANCE[m.precision]}
    doc = {"format": 1, "description": "raw frames -> what each segmentation model measures (this runtime, one frame "
           "at a time, the spec's spacing): the status exactly, circumference_mm within tolerance_mm",
           "frames": entries}
    (root / MEASURE_GOLDENS).write_text(json.dumps(doc, indent=1) + "\n")
    return doc


def check_measure_goldens(root: Path, spec: IqaSpec, problems: list[str], threads: int | None = None
                          ) -> dict[str, Any]:
    """Every segmentation model that runs here against ``goldens/measure.json``; problems appended, report returned."""
    task = spec.task.measurement
    if task is None:
        return {"checked": False, "reason": "the bundle does not measure"}
    path = Path(root) / MEASURE_GOLDENS
    if not path.is_file():
        problems.append(f"{MEASURE_GOLDENS} is missing (the spec's task measures)")
        return {"checked": False, "reason": "no measurement goldens"}
    doc = json.loads(path.read_text())
    report: dict[str, Any] = {"checked": True, "frames": len(doc["frames"]), "models": {}, "skipped": []}
    for m in task.models:
        try:
            meas = FrameMeasurer(root, spec, threads, model=m.name)
        except FetaledgeError as exc:
            report["skipped"].append({"model": m.name, "runtime": m.runtime, "reason": exc.message})
            continue
        worst, flips = 0.0, 0
        for e in doc["frames"]:
            exp = e["expected"].get(m.name)
            if exp is None:
                problems.append(f"{MEASURE_GOLDENS} has no expectation for model {m.name}")
                break
            got = meas.measure(np.load(Path(root) / e["file"])).measurement
            if got.status != exp["status"]:
                flips += 1
                problems.append(f"{m.name} on {e['file']}: measurement {got.status}, golden {exp['status']}")
                continue
            if exp["circumference_mm"] is not None and got.circumference_mm is not None:
                d = abs(got.circumference_mm - exp["circumference_mm"])
                worst = max(worst, d)
                if d > exp["tolerance_mm"]:
                    problems.append(f"{m.name} on {e['file']}: {got.circumference_mm:.3f} mm, golden "
                                    f"{exp['circumference_mm']:.3f} mm (tolerance {exp['tolerance_mm']} mm)")
        report["models"][m.name] = {"max_abs_mm": worst, "status_flips": flips}
    if not report["models"]:
        problems.append("no segmentation model of the bundle runs here: "
                        + "; ".join(f"{s['model']}: {s['reason']}" for s in report["skipped"]))
    return report
