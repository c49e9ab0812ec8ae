"""Bundle writer: models + ``iqa_spec.json`` + goldens + report, as a folder and a .zip of it.

The folder is assembled under a temporary name and renamed into place, the .zip likewise, so a failed build
never leaves a half-written bundle where a good one was.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fetaledge.fsio import atomic_path, ensure_writable_dir, write_json
from fetaledge.runtime.bundle import sha256_file
from fetaledge.runtime.decision import DecisionParams
from fetaledge.runtime.engines import open_engine
from fetaledge.runtime.goldens import save_golden_frames
from fetaledge.runtime.introspect import describe
from fetaledge.runtime.manifest import MANIFEST_NAME, manifest_document
from fetaledge.runtime.measure_params import MeasureParams
from fetaledge.runtime.numeric import sigmoid_array
from fetaledge.runtime.spec import (
    CLASSIFICATION,
    SCHEMA_VERSION,
    SPEC_FILE_NAME,
    FoldedPreprocessing,
    InputSpec,
    IqaSpec,
    Labels,
    MeasurementTask,
    ModelSpec,
    TaskSpec,
    dump_spec,
)

GOLDEN_FRAMES = "goldens/frames.json"
# INT8 kernels differ between ISAs (x86 u8s8 vs ARM s8s8 dot products, requantisation rounding): measured
# arm64 (qemu) vs x86 drift of the shipped NNCF INT8 student 1.1e-3 and 3.4e-3 in two builds. 1e-2 stays well
# inside the decision hysteresis (enter/exit = threshold +- 0.05) and far below what a wrong model or wrong
# preprocessing gives (> 0.05).
PROB_TOLERANCE = {"fp32": 1e-4, "int8": 1e-2, "fp16": 1e-3}


@dataclass(frozen=True)
class ShippedModel:
    """A model file chosen for the bundle."""

    name: str
    source: Path
    runtime: str  # "onnxruntime" | "litert"
    precision: str  # "fp32" | "int8"

    @property
    def file(self) -> str:
        return f"models/{self.name}{self.source.suffix}"


@dataclass(frozen=True)
class SegShipment:
    """The measurement a bundle ships (the segment stage's models, in order of preference) and its goldens' frames."""

    models: tuple[ShippedModel, ...]
    structure: str
    spacing_mm: tuple[float, float]
    grid: tuple[int, int]
    field_of_view: str
    golden_frames: np.ndarray
    golden_sources: list[str]
    spacing_source: str = "probe"
    params: MeasureParams = MeasureParams()


def _measurement_task(root: Path, seg: SegShipment, threads: int) -> MeasurementTask:
    """Copy the segmentation models into ``root`` and describe them for ``task.measurement``."""
    models = []
    for s in seg.models:
        shutil.copyfile(s.source, root / s.file)
        inp, outp = describe(root / s.file, s.runtime)
        models.append(ModelSpec(s.name, s.file, sha256_file(root / s.file), s.runtime, s.precision, threads, inp,
                                outp, "logit"))
    return MeasurementTask(models=tuple(models), structure=seg.structure, output="mask_logits",  # type: ignore[arg-type]
                           grid_height=seg.grid[0], grid_width=seg.grid[1], geometry="letterbox",
                           spacing_mm=tuple(seg.spacing_mm), spacing_source=seg.spacing_source,  # type: ignore
                           gestational_age="hadlock1984", frame_choice="classifier",
                           field_of_view=seg.field_of_view, params=seg.params)  # type: ignore[arg-type]


def _golden_frames(root: Path, spec: IqaSpec, frames: np.ndarray, sources: list[str]) -> dict[str, Any]:
    """Write raw frames as .npy and the probability each shipped model gives them (run in this runtime)."""
    entries = save_golden_frames(root, "frames", frames, sources)
    for m in spec.models:
        eng = open_engine(root, m)
        for e, frame in zip(entries, frames, strict=True):
            y = eng(frame)
            p = float(y if m.output_kind == "probability" else sigmoid_array(y))
            e["expected"][m.name] = {"probability": p, "tolerance": PROB_TOLERANCE[m.precision],
                                     "good": p >= spec.decision.threshold}
    return {"format": 1, "description": "raw frames -> probability per shipped model (this runtime, 1 frame at "
            "a time); 'good' = probability >= decision.threshold", "frames": entries}


def _golden_sweep(root: Path, spec: IqaSpec, sweep: np.ndarray, source: str) -> None:
    """A recorded phantom sweep scored by the primary model, with the decisions it must produce."""
    from fetaledge.runtime.goldens import GoldenCase, golden_document

    m = spec.models[0]
    eng = open_engine(root, m)
    probs = [float(v) for v in sigmoid_array([eng(f) for f in sweep])] if m.output_kind == "logit" else [
        float(eng(f)) for f in sweep]
    doc = golden_document(GoldenCase(f"bundle_sweep_{m.name}", f"{source} scored by {m.name}", spec.decision,
                                     [probs]))
    doc["model"] = m.name
    doc["frames_file"] = "goldens/sweep_frames.npy"
    np.save(root / "goldens" / "sweep_frames.npy", sweep)
    (root / "goldens" / "sweep.json").write_text(json.dumps(doc, indent=1) + "\n")


def write_bundle(out: Path, *, shipped: list[ShippedModel], raw_hw: tuple[int, int], decision: DecisionParams,
                 threads: int, provenance: dict[str, Any], report: dict[str, Any], report_md: str,
                 golden_frames: np.ndarray, golden_sources: list[str], golden_sweep: np.ndarray,
                 golden_sweep_source: str, make_zip: bool = True, other_sizes: str = "refuse",
                 labels: tuple[str, str] | None = None, build_config: dict[str, Any] | None = None,
                 measurement: SegShipment | None = None) -> Path:
    """Assemble a bundle folder (and ``<out>.zip``) atomically.

    ``other_sizes`` goes to ``iqa_spec.json`` ``input.other_sizes``: ``"refuse"`` frames of another size than
    ``raw_hw``, or ``"letterbox"`` them (``fetaledge.runtime.geometry``, ``docs/frame_geometry.md``).
    ``labels`` (negative, positive) name the classes (default: the ACOUSLIC abdominal plane). ``build_config``
    (the resolved :class:`fetaledge.config.BuildConfig` as JSON) is saved as ``build_config.json``.
    ``measurement`` (the segment stage's models) makes the spec's task "classification+measurement" and adds the
    measurement goldens (:mod:`fetaledge.runtime.measure_goldens`). The goldens' ``manifest.json`` is written last,
    over every file under ``goldens/`` (frames, sweep and measurement goldens included).

    Example:
        >>> write_bundle(Path("bundle"), shipped=[...], raw_hw=(562, 744), ...)  # doctest: +SKIP
    """
    from fetaledge.golden_cases import write_goldens

    out = Path(out)
    ensure_writable_dir(out.parent)
    with atomic_path(out) as tmp:
        (tmp / "models").mkdir(parents=True)
        models = []
        for s in shipped:
            shutil.copyfile(s.source, tmp / s.file)
            inp, outp = describe(tmp / s.file, s.runtime)
            models.append(ModelSpec(s.name, s.file, sha256_file(tmp / s.file), s.runtime, s.precision, threads,
                                    inp, outp, "logit"))
        spec = IqaSpec(
            schema_version=SCHEMA_VERSION,
            input=InputSpec(raw_hw[0], raw_hw[1], "uint8", "HW", 1, other_sizes),  # type: ignore[arg-type]
            preprocessing=FoldedPreprocessing(
                True, "in the graph: zero-pad to square (centred), antialiased triangle resample to the model size, "
                "grey->RGB, normalisation; pass the raw 8-bit grey frame"),
            models=tuple(models),
            decision=decision,
            labels=Labels(*(labels or ("no abdominal plane", "abdominal plane (AC measurable)"))),
            provenance=provenance,
            task=CLASSIFICATION if measurement is None else TaskSpec(
                "classification+measurement", _measurement_task(tmp, measurement, threads)),
        )
        dump_spec(spec, tmp / SPEC_FILE_NAME)
        write_goldens(tmp / "goldens")  # the decision-logic goldens shared with android_demo
        write_json(tmp / GOLDEN_FRAMES, _golden_frames(tmp, spec, golden_frames, golden_sources))
        _golden_sweep(tmp, spec, golden_sweep, golden_sweep_source)
        if measurement is not None:
            from fetaledge.runtime.measure_goldens import write_measure_goldens

            write_measure_goldens(tmp, spec, measurement.golden_frames, measurement.golden_sources)
        write_json(tmp / "goldens" / MANIFEST_NAME, manifest_document(tmp / "goldens"))
        write_json(tmp / "report.json", report)
        (tmp / "report.md").write_text(report_md)
        if build_config is not None:
            write_json(tmp / "build_config.json", build_config)
    if make_zip:
        with atomic_path(out.with_suffix(".zip"), suffix=".zip") as ztmp, zipfile.ZipFile(
            ztmp, "w", zipfile.ZIP_DEFLATED
        ) as z:
            for f in sorted(out.rglob("*")):
                if f.is_file():
                    z.write(f, f.relative_to(out.parent))
    return out
