"""Helpers shared by the ONNX-in/ONNX-out backends (not a backend itself: the leading underscore hides it)."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import numpy as np

from quantize.artifact import TensorSpec
from quantize.errors import MissingExtraError, QuantizeError
from quantize.runners import onnx_io_specs, to_input_dtype


def import_or_explain(module: str, backend: str, pip: str) -> Any:
    """``importlib.import_module(module)``, or a :class:`MissingExtraError` carrying the fixing pip line."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(backend, module, pip, str(exc)) from exc


def fp32_input_spec(fp32_onnx: Path | None, backend: str) -> TensorSpec:
    """The single input of the fp32 ONNX model (a clear error when the file is missing or multi-input)."""
    if fp32_onnx is None:
        raise QuantizeError(f"backend {backend!r} quantizes an fp32 ONNX model", hint="pass fp32_onnx=PATH")
    path = Path(fp32_onnx)
    if not path.is_file():
        raise QuantizeError(f"fp32 ONNX model not found: {path}")
    inputs, _ = onnx_io_specs(path)
    if len(inputs) != 1:
        raise QuantizeError(
            f"{path} has {len(inputs)} inputs; the quantize library handles single-input models"
        )
    return inputs[0]


def calibration_feeds(spec: TensorSpec, calibration: np.ndarray) -> list[dict[str, np.ndarray]]:
    """One ``{input_name: sample}`` feed per calibration row, converted to the model's input dtype."""
    return [{spec.name: to_input_dtype(calibration[i : i + 1], spec)} for i in range(calibration.shape[0])]
