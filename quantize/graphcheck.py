"""Checks an INT8 graph must pass before it counts as an artifact: integer where its recipe says it is.

* **Vector activation scales** (ONNX): a QuantizeLinear on an activation with a per-channel scale. ONNX Runtime
  fuses Q/DQ around a Conv into QLinearConv only with scalar activation scales; with vector ones the conv runs in
  float with its weights dequantized on every call (NNCF's CPU config did this to 37 of 49 convs: INT8 3x slower
  than fp32).
* **Float ops beyond the recipe's budget**: compute operators that stayed floating point outside the recipe's
  ``keep_float`` scopes, more than ``Recipe.max_float_ops`` allows (None: no budget).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from quantize.artifact import OpRecord
from quantize.census import _import_onnx, constant_arrays
from quantize.scopes import in_scope, node_module

#: Operators that move or reshape data without arithmetic: float is free there.
DATA_MOVEMENT = frozenset({
    "Cast", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose", "Concat", "Slice", "Gather", "Shape",
    "Identity", "Pad", "Split", "Expand", "RESHAPE", "SQUEEZE", "EXPAND_DIMS", "TRANSPOSE", "CONCATENATION",
    "SLICE", "STRIDED_SLICE", "GATHER", "PAD", "PADV2", "SHAPE", "CAST", "QUANTIZE", "DEQUANTIZE",
})


def vector_activation_scales(model: Any) -> list[str]:
    """Names of QuantizeLinear nodes that quantize an activation (not an initializer) with a non-scalar scale."""
    graph = model.graph
    inits = constant_arrays(graph)
    bad = []
    for n in graph.node:
        if n.op_type != "QuantizeLinear" or n.input[0] in inits:
            continue
        scale = inits.get(n.input[1])
        if scale is not None and np.size(scale) > 1:
            bad.append(n.name or n.output[0])
    return bad


def unexpected_float_ops(ops: tuple[OpRecord, ...], keep_float: tuple[str, ...]) -> list[OpRecord]:
    """Float compute ops outside the ``keep_float`` scopes (ONNX node names map to scopes; .tflite names do not,
    so there every float compute op counts)."""
    out = []
    for op in ops:
        if not op.is_float or op.op_type in DATA_MOVEMENT:
            continue
        if op.name.startswith("/") and any(in_scope(node_module(op.name), s) for s in keep_float):
            continue
        out.append(op)
    return out


def check_artifact(path: Path, ops: tuple[OpRecord, ...], keep_float: tuple[str, ...] = (),
                   max_float_ops: int | None = None) -> list[str]:
    """Every reason ``path`` is not an acceptable INT8 graph (empty: it is).

    Example:
        >>> check_artifact(Path("model.nncf.int8.onnx"), onnx_census(Path("model.nncf.int8.onnx")))  # doctest: +SKIP
        ['16 activation QuantizeLinear nodes have per-channel (vector) scales ...']
    """
    problems = []
    if Path(path).suffix.lower() == ".onnx":
        onnx = _import_onnx("graph check")
        bad = vector_activation_scales(onnx.load(str(path)))
        if bad:
            problems.append(
                f"{len(bad)} activation QuantizeLinear nodes have per-channel (vector) scales, which ONNX Runtime "
                f"cannot fuse into integer ops (they run in float): {', '.join(bad[:4])}"
                + (" ..." if len(bad) > 4 else "")
            )
    if max_float_ops is not None:
        extra = unexpected_float_ops(ops, keep_float)
        if len(extra) > max_float_ops:
            kinds: dict[str, int] = {}
            for op in extra:
                kinds[op.op_type] = kinds.get(op.op_type, 0) + 1
            problems.append(
                f"{len(extra)} float compute ops outside keep_float (budget max_float_ops={max_float_ops}): "
                + ", ".join(f"{k} x{v}" for k, v in sorted(kinds.items()))
            )
    return problems
