"""Domain-free INT8 quantization: NNCF, ONNX Runtime and LiteRT backends behind one verb, plus an accuracy
gate.

This package never imports its host application. Backends live one per module in ``quantize.backends`` and
import their heavy dependencies only when used; a missing one raises :class:`MissingExtraError` with the ``pip
install`` line that fixes it.

Example:
    >>> import numpy as np
    >>> from pathlib import Path
    >>> from quantize import quantize, select_calibration
    >>> from quantize.backends.nncf_onnx import NNCFRecipe
    >>> idx = select_calibration(labels, groups, n=300, seed=0)  # doctest: +SKIP
    >>> art = quantize(NNCFRecipe(fast_bias_correction=False), fp32_onnx=Path("student.onnx"),
    ...                calibration=frames[idx], out_dir=Path("int8"))  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from quantize.api import artifact_path, quantize
from quantize.artifact import OpRecord, QuantizedArtifact, TensorSpec
from quantize.backends import backends, get_backend, missing_extra
from quantize.calibration import select_calibration
from quantize.errors import MissingExtraError, QuantizeError, RecipeError
from quantize.gate import Attempt, GatedResult, GateResult, ValidationSet, evaluate_gate, quantize_gated
from quantize.recipe import Recipe, load_recipe, recipe_from_dict, recipe_from_json
from quantize.runners import run_artifact, run_onnx, run_tflite

__all__ = [
    "Attempt",
    "GateResult",
    "GatedResult",
    "MissingExtraError",
    "OpRecord",
    "QuantizeError",
    "QuantizedArtifact",
    "Recipe",
    "RecipeError",
    "TensorSpec",
    "ValidationSet",
    "artifact_path",
    "backends",
    "evaluate_gate",
    "get_backend",
    "load_recipe",
    "missing_extra",
    "quantize",
    "quantize_gated",
    "recipe_from_dict",
    "recipe_from_json",
    "run_artifact",
    "run_onnx",
    "run_tflite",
    "select_calibration",
]


def __getattr__(name: str) -> Any:
    """``quantize.NNCFRecipe`` etc.: the recipe classes of whichever backend modules are present."""
    for module in backends().values():
        if module.RECIPE.__name__ == name:
            return module.RECIPE
    raise AttributeError(f"module 'quantize' has no attribute {name!r}")
