"""A segmentation bundle folder: the model (raw frame in the graph) + ``measurement.json``, written atomically.

What ``fetaledge infer --bundle`` measures single frames with (:mod:`fetaledge.runtime.measure_infer`): a model
without a classifier (HC18). ``fetaledge build`` writes the combined kind, classifier + segmentation model in one
bundle (``iqa_spec.json`` schema 3, ``task.measurement``: :mod:`fetaledge.seg_build`).

Example:
    >>> write_seg_bundle(Path("bundle_seg"), Path("seg.int8.onnx"), example_measurement_spec())  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

from fetaledge.errors import FetaledgeError
from fetaledge.fsio import atomic_path, sha256_file, write_json
from fetaledge.runtime.measure_spec import MEASUREMENT_FILE, MeasurementSpec, dump_measurement_spec

__all__ = ["write_seg_bundle"]


def write_seg_bundle(out_dir: Path, model: Path, spec: MeasurementSpec, provenance: dict | None = None) -> Path:
    """Copy ``model`` into ``out_dir`` as ``spec.model`` and write ``measurement.json`` (+ ``provenance.json``)."""
    model = Path(model)
    if not model.is_file():
        raise FetaledgeError(f"segmentation model not found: {model}", hint="export the student first")
    if "/" in spec.model or spec.model in ("", ".", ".."):
        raise FetaledgeError(f"measurement.json model must be a file name in the bundle, got {spec.model!r}")
    with atomic_path(Path(out_dir)) as tmp:
        tmp.mkdir()
        shutil.copyfile(model, tmp / spec.model)
        dump_measurement_spec(spec, tmp / MEASUREMENT_FILE)
        write_json(tmp / "provenance.json", {"model_sha256": sha256_file(tmp / spec.model),
                                             "measurement": dataclasses.asdict(spec), **(provenance or {})})
    return Path(out_dir)
