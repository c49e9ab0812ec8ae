"""``iqa_spec.json``: the contract between a bundle and whatever runs it (Python runtime, Android app).

Everything a device needs and nothing it must guess (DESIGN.md section 3). Parsing is strict: a missing
field, an unknown field, a wrong type, a bad value or a schema newer than this code is a ``FetaledgeError``
that names the field (``models[0].sha256: ...``), never a silent default. The Kotlin ``iqa-core``
(android_demo) applies the same rules. Numbers: an integer is accepted for a float field (``1`` for ``1.0``),
a float never for an integer field (``3.0`` is not ``3``), ``true``/``false`` are never numbers, and
non-finite values are rejected.

Schema version 2, in brief (every key required; ``null`` only where written)::

    {
      "schema_version": 2,
      "input": {"height": 562, "width": 744, "dtype": "uint8", "layout": "HW" | "HWC", "channels": 1 | 3,
                "other_sizes": "refuse" | "letterbox"},
      "preprocessing": {"folded_into_graph": true, "description": "..."}
                     | {"folded_into_graph": false, "description": "...", "pad_to_square": bool,
                        "pad_value": 0..255, "resize_height": int, "resize_width": int,
                        "interpolation": "nearest" | "bilinear" | "bicubic" | "area", "gray_to_rgb": bool,
                        "scale": float, "mean": [float], "std": [float], "output_layout": "NCHW" | "NHWC",
                        "output_dtype": "float32"},
      "models": [{"name": str, "file": "relative/path", "sha256": "64 hex",
                  "runtime": "onnxruntime" | "litert", "precision": "fp32" | "fp16" | "int8",
                  "threads": int >= 1,
                  "input":  {"name": str, "dtype": "float32" | "float16" | "int8" | "uint8", "shape": [int],
                             "quantization": null | {"scale": float > 0, "zero_point": int}},
                  "output": {... same ...}, "output_kind": "logit" | "probability"}],
      "decision": {"threshold": f, "enter_threshold": f, "exit_threshold": f, "min_run": int,
                   "smoothing_alpha": f},
      "labels": {"negative": str, "positive": str},
      "provenance": {... free-form JSON object ...}
    }

``input.other_sizes`` (new in schema 2) says what a frame of another size becomes: ``"refuse"`` (an error)
or ``"letterbox"`` (scale to fit preserving the aspect ratio, centred, zero padding: the exact rule is
:mod:`fetaledge.runtime.geometry`, ``docs/frame_geometry.md``). Schema 1 specs (no ``other_sizes``) are
still read, with ``other_sizes`` ``"refuse"``: what every schema-1 runtime did; writing one back keeps it
schema 1.

Schema version 3 adds one required top-level field, ``task``: what the bundle does with a frame::

    "task": {"kind": "classification", "measurement": null}
          | {"kind": "classification+measurement", "measurement": {
                "models": [ModelSpec, ...],            # segmentation models, in order of preference
                "structure": "ac" | "hc", "output": "mask_logits", "grid_height": int, "grid_width": int,
                "geometry": "letterbox", "spacing_mm": [x, y], "spacing_source": "spec" | "probe",
                "gestational_age": "hadlock1984" | "none", "frame_choice": "classifier",
                "field_of_view": "frame" | "nonzero_span",
                "params": {"threshold": f, "min_area_mm2": f, "max_residual": f, "max_cut_fraction": f,
                           "min_component_share": f, "min_points": int}}}

With a measurement, the classifier (``models``) still decides per frame and per sweep; ``frame_choice``
"classifier" says the frame measured is the one its decision logic chose, and a segmentation model of
``task.measurement.models`` (raw uint8 frame of ``input``'s size in, one mask logit per grid pixel out:
``output.shape`` ends with ``grid_height, grid_width``) measures it. The grid maps back to the frame by the
inverse letterbox (:class:`fetaledge.runtime.measure.FrameMap`); ``spacing_mm`` is the pixel spacing of frames
of the input size; ``spacing_source`` "probe" means the device passes each frame's spacing (the spec's value is
the fallback), "spec" that a per-frame spacing is refused. ``field_of_view`` is where the probe saw: "frame" (all
of it) or "nonzero_span" (the pixels between the first and the last non-zero pixel of their row and of their
column: the fan of a sector probe, whose outside is black; :func:`fetaledge.runtime.fov.field_of_view`); mask edges
on its border are "cut", not seen, so a structure the fan cuts is flagged "truncated" instead of measured short.
The fields mean exactly what they mean in a segmentation-only bundle's ``measurement.json``
(:mod:`fetaledge.runtime.measure_spec`).

Why the measurement is embedded here and not a pointer to ``measurement.json``: a combined bundle has one
contract, so the segmentation models carry sha256, runtime, tensors and quantization exactly like the classifier's
(checked by ``fetaledge verify`` and the app the same way), one strict parser (Python and Kotlin) rejects a bad
measurement section with the same field path, and a device cannot pair a spec with a measurement file of another
build. ``measurement.json`` stays the format of segmentation-only bundles (HC18), which have no classifier.

Schema 1 and 2 specs (no ``task``) are read as ``{"kind": "classification", "measurement": null}``; a ``task``
field in them is an error. Schema 3 is written.

Example:
    >>> spec = example_spec()
    >>> spec_from_dict(spec_to_dict(spec)) == spec
    True
"""

from __future__ import annotations

import copy
import math
import re
import types
import typing
from dataclasses import dataclass, fields, is_dataclass
from pathlib import Path
from typing import Any, Literal, Union

from fetaledge.errors import FetaledgeError
from fetaledge.fsio import read_json, write_json
from fetaledge.runtime.decision import DecisionParams
from fetaledge.runtime.measure_params import MeasureParams

__all__ = [
    "SCHEMA_VERSION",
    "ExplicitPreprocessing",
    "FoldedPreprocessing",
    "InputSpec",
    "IqaSpec",
    "Labels",
    "MeasurementTask",
    "ModelSpec",
    "Quantization",
    "TaskSpec",
    "TensorSpec",
    "dump_spec",
    "example_measure_spec",
    "example_spec",
    "load_spec",
    "spec_from_dict",
    "spec_to_dict",
]

SCHEMA_VERSION = 3
READABLE_SCHEMA_VERSIONS = (1, 2, 3)
#: The first schema with ``task`` (older specs are classification bundles).
TASK_SCHEMA_VERSION = 3
SPEC_FILE_NAME = "iqa_spec.json"

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_INT_RANGES = {"int8": (-128, 127), "uint8": (0, 255)}


def _err(message: str, hint: str | None = None) -> FetaledgeError:
    return FetaledgeError(message, hint=hint)


def _bad(field_path: str, what: str, hint: str | None = None) -> FetaledgeError:
    """Every validation error reads ``<field path>: <what is wrong>``; parents prefix their own path."""
    return FetaledgeError(f"{field_path}: {what}", hint=hint)


def _nonempty(name: str, value: str) -> None:
    if not value.strip():
        raise _bad(name, "must be a non-empty string")


@dataclass(frozen=True)
class InputSpec:
    """The raw frame the device hands to the classifier."""

    height: int
    width: int
    dtype: Literal["uint8"]
    layout: Literal["HW", "HWC"]
    channels: int
    other_sizes: Literal["refuse", "letterbox"] = "refuse"  # JSON: required in schema 2 (no silent default)

    def __post_init__(self) -> None:
        for name in ("height", "width"):
            if getattr(self, name) < 1:
                raise _bad(name, f"must be >= 1, got {getattr(self, name)}")
        if self.channels not in (1, 3):
            raise _bad("channels", f"must be 1 or 3, got {self.channels}")
        if self.layout == "HW" and self.channels != 1:
            raise _bad("channels", f"layout HW means 1 channel, got {self.channels}", hint="use layout HWC")


@dataclass(frozen=True)
class FoldedPreprocessing:
    """Preprocessing is part of the model graph: the device passes raw frames as described by ``input``."""

    folded_into_graph: Literal[True]
    description: str

    def __post_init__(self) -> None:
        _nonempty("description", self.description)


@dataclass(frozen=True)
class ExplicitPreprocessing:
    """Preprocessing the device must apply itself, in this order: pad to square (centred, ``pad_value``),
    resize, gray to RGB, ``x * scale``, ``(x - mean[c]) / std[c]``, lay out as ``output_layout``."""

    folded_into_graph: Literal[False]
    description: str
    pad_to_square: bool
    pad_value: int
    resize_height: int
    resize_width: int
    interpolation: Literal["nearest", "bilinear", "bicubic", "area"]
    gray_to_rgb: bool
    scale: float
    mean: tuple[float, ...]
    std: tuple[float, ...]
    output_layout: Literal["NCHW", "NHWC"]
    output_dtype: Literal["float32"]

    def __post_init__(self) -> None:
        _nonempty("description", self.description)
        if not 0 <= self.pad_value <= 255:
            raise _bad("pad_value", f"must be in 0..255, got {self.pad_value}")
        for name in ("resize_height", "resize_width"):
            if getattr(self, name) < 1:
                raise _bad(name, f"must be >= 1, got {getattr(self, name)}")
        if not (math.isfinite(self.scale) and self.scale > 0):
            raise _bad("scale", f"must be a finite number > 0, got {self.scale}")
        if len(self.mean) not in (1, 3):
            raise _bad("mean", f"must hold 1 or 3 values, got {len(self.mean)}")
        if len(self.std) != len(self.mean):
            raise _bad("std", f"must hold as many values as mean ({len(self.mean)}), got {len(self.std)}")
        if not all(math.isfinite(v) for v in self.mean):
            raise _bad("mean", f"every value must be finite, got {list(self.mean)}")
        if not all(math.isfinite(v) and v > 0 for v in self.std):
            raise _bad("std", f"every value must be a finite number > 0, got {list(self.std)}")


@dataclass(frozen=True)
class Quantization:
    """Affine quantization of an integer tensor: ``real = scale * (q - zero_point)``."""

    scale: float
    zero_point: int

    def __post_init__(self) -> None:
        if not (math.isfinite(self.scale) and self.scale > 0):
            raise _bad("scale", f"must be a finite number > 0, got {self.scale}")


@dataclass(frozen=True)
class TensorSpec:
    """One model input or output tensor. ``shape`` uses -1 for a dynamic dimension."""

    name: str
    dtype: Literal["float32", "float16", "int8", "uint8"]
    shape: tuple[int, ...]
    quantization: Quantization | None

    def __post_init__(self) -> None:
        _nonempty("name", self.name)
        if not self.shape or any(d < 1 and d != -1 for d in self.shape):
            raise _bad("shape", f"must be a non-empty list of sizes >= 1 or -1, got {list(self.shape)}")
        q = self.quantization
        if q is not None:
            if self.dtype not in _INT_RANGES:
                raise _bad("quantization", f"must be null for a {self.dtype} tensor")
            lo, hi = _INT_RANGES[self.dtype]
            if not lo <= q.zero_point <= hi:
                what = f"must be in {lo}..{hi} for {self.dtype}, got {q.zero_point}"
                raise _bad("quantization.zero_point", what)


@dataclass(frozen=True)
class ModelSpec:
    """One model file of the bundle and how to run it."""

    name: str
    file: str
    sha256: str
    runtime: Literal["onnxruntime", "litert"]
    precision: Literal["fp32", "fp16", "int8"]
    threads: int
    input: TensorSpec
    output: TensorSpec
    output_kind: Literal["logit", "probability"]

    def __post_init__(self) -> None:
        _nonempty("name", self.name)
        parts = self.file.split("/")
        if "\\" in self.file or any(x in ("", ".", "..") for x in parts):
            what = f"must be a relative path in the bundle (no '..', '.', '//', leading '/'): {self.file!r}"
            raise _bad("file", what)
        if not _HEX64.match(self.sha256):
            raise _bad("sha256", f"must be 64 lowercase hex characters, got {self.sha256!r}")
        if self.threads < 1:
            raise _bad("threads", f"must be >= 1, got {self.threads}")
        if self.output.dtype in _INT_RANGES and self.output.quantization is None:
            what = f"must not be null for a {self.output.dtype} output (devices dequantize it)"
            raise _bad("output.quantization", what)


@dataclass(frozen=True)
class Labels:
    """Human-readable names of the two classes (the UI shows them)."""

    negative: str
    positive: str

    def __post_init__(self) -> None:
        _nonempty("negative", self.negative)
        _nonempty("positive", self.positive)


Preprocessing = Union[FoldedPreprocessing, ExplicitPreprocessing]  # noqa: UP007 (runtime alias, py3.10)


@dataclass(frozen=True)
class MeasurementTask:
    """The measurement of a combined bundle (module docstring, schema 3): segmentation models + how to measure."""

    models: tuple[ModelSpec, ...]
    structure: Literal["ac", "hc"]
    output: Literal["mask_logits"]
    grid_height: int
    grid_width: int
    geometry: Literal["letterbox"]
    spacing_mm: tuple[float, ...]
    spacing_source: Literal["spec", "probe"]
    gestational_age: Literal["hadlock1984", "none"]
    frame_choice: Literal["classifier"]
    field_of_view: Literal["frame", "nonzero_span"]
    params: MeasureParams

    def __post_init__(self) -> None:
        if not self.models:
            raise _bad("models", "must list at least one segmentation model")
        for name in ("grid_height", "grid_width"):
            if getattr(self, name) < 1:
                raise _bad(name, f"must be >= 1, got {getattr(self, name)}")
        if len(self.spacing_mm) != 2 or not all(v > 0 for v in self.spacing_mm):
            raise _bad("spacing_mm", f"must be [x, y] pixel spacings > 0 mm, got {list(self.spacing_mm)}")
        for k, m in enumerate(self.models):
            if tuple(m.output.shape[-2:]) != (self.grid_height, self.grid_width):
                raise _bad(f"models[{k}].output.shape", f"{list(m.output.shape)} does not end with the grid "
                           f"{self.grid_height}x{self.grid_width}")
            if m.output_kind != "logit":
                raise _bad(f"models[{k}].output_kind", f"must be \"logit\" (mask_logits), got \"{m.output_kind}\"")

    def model(self, name: str) -> ModelSpec:
        """The segmentation model called ``name``; an error listing the names otherwise."""
        for m in self.models:
            if m.name == name:
                return m
        raise _err(f"no segmentation model {name!r} in the spec; it has: {', '.join(m.name for m in self.models)}")


@dataclass(frozen=True)
class TaskSpec:
    """What the bundle does with a frame: classify it, or classify and measure the chosen frame."""

    kind: Literal["classification", "classification+measurement"]
    measurement: MeasurementTask | None

    def __post_init__(self) -> None:
        if self.kind == "classification+measurement" and self.measurement is None:
            raise _bad("measurement", "must not be null for kind \"classification+measurement\"")
        if self.kind == "classification" and self.measurement is not None:
            raise _bad("measurement", "must be null for kind \"classification\"")


#: The task of every schema-1/2 spec.
CLASSIFICATION = TaskSpec("classification", None)


@dataclass(frozen=True)
class IqaSpec:
    """The whole ``iqa_spec.json``."""

    schema_version: int
    input: InputSpec
    preprocessing: Preprocessing
    models: tuple[ModelSpec, ...]
    decision: DecisionParams
    labels: Labels
    provenance: dict[str, Any]
    task: TaskSpec = CLASSIFICATION  # JSON: required in schema 3, absent (classification) before

    def __post_init__(self) -> None:
        if self.schema_version not in READABLE_SCHEMA_VERSIONS:
            raise _bad("schema_version", f"must be {SCHEMA_VERSION}, got {self.schema_version}")
        if self.schema_version < TASK_SCHEMA_VERSION and self.task != CLASSIFICATION:
            raise _bad("task", f"a measurement needs schema_version {TASK_SCHEMA_VERSION}",
                       hint=f"set schema_version {TASK_SCHEMA_VERSION}")
        if self.schema_version == 1 and self.input.other_sizes != "refuse":
            raise _bad("input.other_sizes", "schema_version 1 bundles refuse other sizes", hint="use schema_version 2")
        if not self.models:
            raise _bad("models", "must list at least one model")
        for key in ("name", "file"):
            seen: set[str] = set()
            for k, m in enumerate(self.models):
                value = getattr(m, key)
                if value in seen:
                    raise _bad(f"models[{k}].{key}", f"{value!r} is used by an earlier model too")
                seen.add(value)
        if self.task.measurement is not None:
            taken = {m.name for m in self.models} | {m.file for m in self.models}
            for k, m in enumerate(self.task.measurement.models):
                for key in ("name", "file"):
                    value = getattr(m, key)
                    if value in taken:
                        raise _bad(f"task.measurement.models[{k}].{key}", f"{value!r} is used by an earlier "
                                   "model too")
                    taken.add(value)
                shape = m.input.shape
                if len(shape) < 2 or any(d not in (want, -1) for d, want in zip(
                        shape[-2:], (self.input.height, self.input.width), strict=True)):
                    raise _bad(f"task.measurement.models[{k}].input.shape", f"{list(shape)} does not end with the "
                               f"input frame {self.input.height}x{self.input.width}")
        pre = self.preprocessing
        if isinstance(pre, ExplicitPreprocessing):
            want = 3 if pre.gray_to_rgb else self.input.channels
            if len(pre.mean) != want:
                raise _bad("preprocessing.mean", f"must hold {want} values (channels), got {len(pre.mean)}")

    def model(self, name: str) -> ModelSpec:
        """The model called ``name``; an error listing the names otherwise."""
        for m in self.models:
            if m.name == name:
                return m
        raise _err(f"no model {name!r} in the spec; it has: {', '.join(m.name for m in self.models)}")


# --------------------------------------------------------------------------------------------- parsing
def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _convert(tp: Any, value: Any, path: str) -> Any:
    if tp == Preprocessing:
        return _parse_preprocessing(value, path)
    origin = typing.get_origin(tp)
    if origin is Literal:
        choices = typing.get_args(tp)
        if any(type(value) is type(c) and value == c for c in choices):
            return value
        allowed = ", ".join(_json_repr(c) for c in choices)
        raise _bad(path, f"must be one of {allowed}, got {_json_repr(value)}")
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        non_none = [a for a in args if a is not type(None)]
        if len(non_none) == 1:
            return _convert(non_none[0], value, path)
        raise TypeError(f"no generic rule for {tp}")  # pragma: no cover (preprocessing is special-cased)
    if origin is tuple:
        if not isinstance(value, list):
            raise _bad(path, f"must be an array, got {_type_name(value)}")
        (item, _ellipsis) = typing.get_args(tp)
        return tuple(_convert(item, v, f"{path}[{k}]") for k, v in enumerate(value))
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise _bad(path, f"must be an object, got {_type_name(value)}")
        return copy.deepcopy(value)
    if tp is bool:
        if not isinstance(value, bool):
            raise _bad(path, f"must be true or false, got {_type_name(value)}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _bad(path, f"must be an integer, got {_json_repr(value)}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _bad(path, f"must be a number, got {_type_name(value)}")
        if not math.isfinite(value):
            raise _bad(path, f"must be a finite number, got {value}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise _bad(path, f"must be a string, got {_type_name(value)}")
        return value
    if isinstance(tp, type) and is_dataclass(tp):
        return _parse_dataclass(tp, value, path)
    raise TypeError(f"no rule to parse {tp!r}")  # pragma: no cover (a programming error)


def _json_repr(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    return repr(value) if not isinstance(value, (list, dict)) else _type_name(value)


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _parse_dataclass(cls: type, value: Any, path: str) -> Any:
    if not isinstance(value, dict):
        raise _bad(path, f"must be an object, got {_type_name(value)}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in fields(cls)]
    for key in value:
        if key not in names:
            known = ", ".join(names)
            raise _bad(_join(path, key), "unknown field", hint=f"the known fields here are: {known}")
    for name in names:
        if name not in value:
            raise _bad(_join(path, name), "required field is missing")
    kwargs = {n: _convert(hints[n], value[n], _join(path, n)) for n in names}
    try:
        return cls(**kwargs)
    except FetaledgeError as exc:
        if cls is MeasureParams:  # its checks name the parameter in the message, not as a field path
            raise _bad(path, exc.message, exc.hint) from None
        raise _err(_join(path, exc.message), exc.hint) from None


def _parse_preprocessing(value: Any, path: str) -> Preprocessing:
    if not isinstance(value, dict):
        raise _bad(path, f"must be an object, got {_type_name(value)}")
    folded = value.get("folded_into_graph")
    if folded is True:
        return _parse_dataclass(FoldedPreprocessing, value, path)
    if folded is False:
        return _parse_dataclass(ExplicitPreprocessing, value, path)
    if "folded_into_graph" not in value:
        raise _bad(_join(path, "folded_into_graph"), "required field is missing")
    raise _bad(_join(path, "folded_into_graph"), f"must be true or false, got {_json_repr(folded)}")


def spec_from_dict(data: Any, source: str = SPEC_FILE_NAME) -> IqaSpec:
    """Validate a decoded JSON object and build the typed spec. Errors start with ``source: field: ...``.

    The schema version is checked first, so a spec from a newer fetaledge says so instead of listing the
    fields this version does not know.

    Example:
        >>> spec_from_dict({"schema_version": 4})  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        fetaledge.errors.FetaledgeError: iqa_spec.json: schema_version: 4 is newer than this runtime ...
    """
    if not isinstance(data, dict):
        raise _err(f"{source}: the top level must be a JSON object, got {_type_name(data)}")
    try:
        if "schema_version" not in data:
            raise _bad("schema_version", "required field is missing")
        version = data["schema_version"]
        if isinstance(version, bool) or not isinstance(version, int):
            raise _bad("schema_version", f"must be an integer, got {_json_repr(version)}")
        if version > SCHEMA_VERSION:
            raise _bad(
                "schema_version",
                f"{version} is newer than this runtime supports ({SCHEMA_VERSION})",
                hint=f"update fetaledge (or the app) to a version that reads schema {version}, "
                "or rebuild the bundle with this one",
            )
        if version < 1:
            raise _bad("schema_version", f"must be >= 1, got {version}")
        if version == 1 and isinstance(data.get("input"), dict):
            if "other_sizes" in data["input"]:
                raise _bad("input.other_sizes", "unknown field in schema_version 1 (added in 2)",
                           hint="set schema_version 2")
            data = {**data, "input": {**data["input"], "other_sizes": "refuse"}}
        if version < TASK_SCHEMA_VERSION:
            if "task" in data:
                raise _bad("task", f"unknown field in schema_version {version} (added in {TASK_SCHEMA_VERSION})",
                           hint=f"set schema_version {TASK_SCHEMA_VERSION}")
            data = {**data, "task": {"kind": "classification", "measurement": None}}
        return _parse_dataclass(IqaSpec, data, "")
    except FetaledgeError as exc:
        raise _err(f"{source}: {exc.message}", exc.hint) from None


def spec_to_dict(spec: IqaSpec) -> dict[str, Any]:
    """The JSON form of a spec (field order as declared; tuples become lists).

    Example:
        >>> spec_to_dict(example_spec())["schema_version"]
        3
    """

    def enc(v: Any) -> Any:
        if is_dataclass(v) and not isinstance(v, type):
            return {f.name: enc(getattr(v, f.name)) for f in fields(v)}
        if isinstance(v, (list, tuple)):
            return [enc(x) for x in v]
        if isinstance(v, dict):
            return {str(k): enc(x) for k, x in v.items()}
        return v

    if not isinstance(spec, IqaSpec):
        raise _err(f"spec_to_dict needs an IqaSpec, got {type(spec).__name__}")
    out = enc(spec)
    if spec.schema_version == 1:  # schema 1 has no other_sizes (it always refused)
        del out["input"]["other_sizes"]
    if spec.schema_version < TASK_SCHEMA_VERSION:  # no task before schema 3 (always classification)
        del out["task"]
    return out


def load_spec(path: str | Path) -> IqaSpec:
    """Read and validate an ``iqa_spec.json``.

    Example:
        >>> spec = load_spec("bundle/iqa_spec.json")  # doctest: +SKIP
        >>> spec.decision.threshold  # doctest: +SKIP
        0.4213
    """
    path = Path(path)
    return spec_from_dict(read_json(path, what="bundle spec"), source=str(path))


def dump_spec(spec: IqaSpec, path: str | Path) -> None:
    """Write ``spec`` as JSON atomically (validated again on the way out, so only loadable specs are written).

    Example:
        >>> dump_spec(example_spec(), "/tmp/iqa_spec.json")  # doctest: +SKIP
    """
    data = spec_to_dict(spec)
    spec_from_dict(copy.deepcopy(data), source=str(path))
    write_json(Path(path), data)


def example_spec(sha256: str = "0" * 64) -> IqaSpec:
    """A small valid spec (ONNX INT8 student, preprocessing folded into the graph) for tests and docs.

    Example:
        >>> example_spec().models[0].runtime
        'onnxruntime'
    """
    return IqaSpec(
        schema_version=SCHEMA_VERSION,
        input=InputSpec(height=562, width=744, dtype="uint8", layout="HW", channels=1, other_sizes="refuse"),
        preprocessing=FoldedPreprocessing(
            folded_into_graph=True,
            description="pad to square (zeros, centred), resize 224 bilinear, gray->RGB, CLIP mean/std",
        ),
        models=(
            ModelSpec(
                name="student_int8",
                file="student_int8.onnx",
                sha256=sha256,
                runtime="onnxruntime",
                precision="int8",
                threads=1,
                input=TensorSpec("frame", "uint8", (1, 562, 744), None),
                output=TensorSpec("logit", "float32", (1, 1), None),
                output_kind="logit",
            ),
        ),
        decision=DecisionParams.from_threshold(0.42),
        labels=Labels(negative="no abdominal plane", positive="abdominal plane"),
        provenance={"example": True},
    )


def example_measure_spec(sha256: str = "0" * 64) -> IqaSpec:
    """:func:`example_spec` with a measurement (schema 3): an INT8 segmentation model on a 96x128 grid, AC.

    Example:
        >>> spec = example_measure_spec()
        >>> spec.task.kind, spec.task.measurement.models[0].output.shape
        ('classification+measurement', (1, 96, 128))
        >>> spec_from_dict(spec_to_dict(spec)) == spec
        True
    """
    base = example_spec(sha256)
    seg = ModelSpec(name="seg_int8", file="seg_int8.onnx", sha256=sha256, runtime="onnxruntime", precision="int8",
                    threads=1, input=TensorSpec("frame", "uint8", (1, 562, 744), None),
                    output=TensorSpec("mask_logits", "float32", (1, 96, 128), None), output_kind="logit")
    task = TaskSpec("classification+measurement", MeasurementTask(
        models=(seg,), structure="ac", output="mask_logits", grid_height=96, grid_width=128, geometry="letterbox",
        spacing_mm=(0.28, 0.28), spacing_source="probe", gestational_age="hadlock1984", frame_choice="classifier",
        field_of_view="nonzero_span", params=MeasureParams()))
    return IqaSpec(schema_version=SCHEMA_VERSION, input=base.input, preprocessing=base.preprocessing,
                   models=base.models, decision=base.decision, labels=base.labels, provenance=base.provenance,
                   task=task)
