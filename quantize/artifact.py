"""What a backend hands back: the artifact file, its recipe, its I/O tensors and an op census."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import Any

from quantize.recipe import Recipe

FLOAT_DTYPES = ("float32", "float16", "float64", "bfloat16")


@dataclasses.dataclass(frozen=True)
class TensorSpec:
    """One model input or output as the runtime sees it.

    ``scale``/``zero_point`` are set only for quantized integer tensors: real = (q - zero_point) * scale. A
    raw integer tensor (e.g. a uint8 frame that the graph casts to float itself) has both ``None``.
    """

    name: str
    dtype: str
    shape: tuple[int, ...]
    scale: float | None = None
    zero_point: int | None = None

    @property
    def is_integer(self) -> bool:
        return self.dtype.startswith(("int", "uint"))

    @property
    def is_quantized(self) -> bool:
        return self.scale is not None

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "shape": list(self.shape)}


@dataclasses.dataclass(frozen=True)
class OpRecord:
    """One operator of the artifact's graph with the dtypes it really computes on.

    For QDQ ONNX, an input that comes out of a DequantizeLinear is reported with the integer dtype fed into
    that DequantizeLinear (the runtime fuses the pair into an integer kernel); QuantizeLinear/DequantizeLinear
    nodes themselves are not listed. ``is_float`` is true when any non-constant input or output is floating
    point.
    """

    name: str
    op_type: str
    input_dtypes: tuple[str, ...]
    output_dtypes: tuple[str, ...]
    is_float: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            **dataclasses.asdict(self),
            "input_dtypes": list(self.input_dtypes),
            "output_dtypes": list(self.output_dtypes),
        }


@dataclasses.dataclass(frozen=True)
class QuantizedArtifact:
    """An INT8 model on disk plus everything needed to run, audit and reproduce it.

    ``recipe_path`` is ``<artifact>.recipe.json`` beside ``path``. ``ops`` is the op census; ``float_ops`` the
    operators that stayed floating point; ``n_integer_ops`` how many compute on integers (0 means the artifact
    is not INT8 at all, whatever its name says).
    """

    path: Path
    recipe: Recipe
    recipe_path: Path
    backend: str
    runtime: str
    size_bytes: int
    sha256: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    ops: tuple[OpRecord, ...]
    n_calibration: int
    seconds: float
    versions: dict[str, str]
    notes: tuple[str, ...] = ()

    @property
    def float_ops(self) -> tuple[OpRecord, ...]:
        return tuple(op for op in self.ops if op.is_float)

    @property
    def n_integer_ops(self) -> int:
        return sum(1 for op in self.ops if not op.is_float)

    def op_counts(self) -> dict[str, int]:
        """How many times each operator type occurs."""
        counts: dict[str, int] = {}
        for op in self.ops:
            counts[op.op_type] = counts.get(op.op_type, 0) + 1
        return dict(sorted(counts.items()))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (the full op list included)."""
        return {
            "path": str(self.path),
            "recipe_path": str(self.recipe_path),
            "backend": self.backend,
            "runtime": self.runtime,
            "recipe": self.recipe.to_dict(),
            "size_bytes": self.size_bytes,
            "sha256": self.sha256,
            "inputs": [t.to_dict() for t in self.inputs],
            "outputs": [t.to_dict() for t in self.outputs],
            "op_counts": self.op_counts(),
            "float_ops": [f"{op.op_type}:{op.name}" for op in self.float_ops],
            "n_integer_ops": self.n_integer_ops,
            "ops": [op.to_dict() for op in self.ops],
            "n_calibration": self.n_calibration,
            "seconds": self.seconds,
            "versions": dict(self.versions),
            "notes": list(self.notes),
        }


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
