"""The one public verb: ``quantize(recipe, ...)`` dispatches to the backend the recipe names."""

from __future__ import annotations

import dataclasses
import importlib.metadata
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from quantize.artifact import QuantizedArtifact, sha256_of
from quantize.backends import get_backend, require
from quantize.census import onnx_census, tflite_census
from quantize.errors import QuantizeError
from quantize.graphcheck import check_artifact
from quantize.recipe import Recipe
from quantize.runners import onnx_io_specs, tflite_io_specs


class ValidationData(Protocol):
    """What a backend may read of the labelled validation data (``quantize.gate.ValidationSet`` is one).

    A protocol, not the gate's class, so that this module does not import ``quantize.gate`` (which quantizes
    through this module)."""

    inputs: np.ndarray
    labels: np.ndarray
    threshold: float
    metric_fn: Callable[[np.ndarray, np.ndarray, float], float]


@dataclasses.dataclass(frozen=True)
class QuantizeRequest:
    """Everything a backend's ``run`` may read; ``out_path`` is where it must write (atomically)."""

    calibration: np.ndarray
    out_path: Path
    fp32_onnx: Path | None = None
    torch_model: Any = None
    example_input: Any = None
    validation: ValidationData | None = None


def artifact_path(recipe: Recipe, out_dir: Path, name: str = "model") -> Path:
    """Where :func:`quantize` writes: ``<out_dir>/<name>.<backend>.int8<suffix>``."""
    return Path(out_dir) / f"{name}.{recipe.BACKEND}.int8{get_backend(recipe.BACKEND).SUFFIX}"


def _versions(distributions: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for dist in ("numpy", *distributions):
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out


def quantize(
    recipe: Recipe,
    *,
    calibration: np.ndarray,
    out_dir: Path,
    fp32_onnx: Path | None = None,
    torch_model: Any = None,
    example_input: Any = None,
    validation: ValidationData | None = None,
    name: str = "model",
) -> QuantizedArtifact:
    """Quantize a model to INT8 with the backend ``recipe`` names; write the artifact and its recipe JSON.

    ``calibration`` is an ``(N, ...)`` array whose rows are single model inputs (``calibration[i:i+1]`` is
    fed); pick the rows with :func:`quantize.select_calibration` and use the same ones for every backend. ONNX
    backends (``nncf``, ``onnxruntime``) need ``fp32_onnx``; ``litert`` needs ``torch_model`` and
    ``example_input``. ``validation`` is only read by NNCF's accuracy-control mode. The artifact is checked by
    loading it in its runtime; the result carries its I/O tensors, op census, size, sha256 and tool versions.

    Example:
        >>> from quantize.backends.ort import ORTRecipe
        >>> art = quantize(ORTRecipe(per_channel=True), fp32_onnx=Path("student.onnx"),
        ...                calibration=frames[idx], out_dir=Path("out"))  # doctest: +SKIP
        >>> art.path.name, art.recipe_path.name  # doctest: +SKIP
        ('model.onnxruntime.int8.onnx', 'model.onnxruntime.int8.onnx.recipe.json')
    """
    if not isinstance(recipe, Recipe):
        raise QuantizeError(f"recipe must be a Recipe (e.g. NNCFRecipe()), got {type(recipe).__name__}")
    backend = get_backend(recipe.BACKEND)
    require(recipe.BACKEND)
    calibration = np.asarray(calibration)
    if calibration.ndim < 1 or calibration.shape[0] == 0:
        raise QuantizeError(f"calibration must be a non-empty (N, ...) array, got shape {calibration.shape}")
    out_path = artifact_path(recipe, out_dir, name)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    request = QuantizeRequest(
        calibration=calibration,
        out_path=out_path,
        fp32_onnx=None if fp32_onnx is None else Path(fp32_onnx),
        torch_model=torch_model,
        example_input=example_input,
        validation=validation,
    )
    start = time.perf_counter()
    notes = backend.run(recipe, request)
    seconds = time.perf_counter() - start
    if backend.RUNTIME == "onnxruntime":
        inputs, outputs = onnx_io_specs(out_path)
        ops = onnx_census(out_path)
    else:
        inputs, outputs = tflite_io_specs(out_path)
        ops = tflite_census(out_path)
    problems = check_artifact(out_path, ops, recipe.keep_float, recipe.max_float_ops)
    if problems:
        out_path.unlink()  # a refused graph must not lie where a good artifact would
        raise QuantizeError(f"{out_path.name} is not an acceptable INT8 graph: " + "; ".join(problems),
                            hint="see quantize.graphcheck; per-tensor activations / keep_float / max_float_ops")
    recipe_path = recipe.save(Path(f"{out_path}.recipe.json"))
    return QuantizedArtifact(
        path=out_path,
        recipe=recipe,
        recipe_path=recipe_path,
        backend=recipe.BACKEND,
        runtime=backend.RUNTIME,
        size_bytes=out_path.stat().st_size,
        sha256=sha256_of(out_path),
        inputs=inputs,
        outputs=outputs,
        ops=ops,
        n_calibration=int(calibration.shape[0]),
        seconds=round(seconds, 3),
        versions=_versions(backend.DISTRIBUTIONS),
        notes=tuple(notes),
    )
