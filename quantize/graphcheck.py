"""Checks an INT8 graph must pass before it counts as an artifact: integer where its recipe says it is.

* **Vector activation scales** (ONNX): a QuantizeLinear on an activation with a per-channel scale. ONNX Runtime
  fuses Q/DQ around a Conv into QLinearConv only with scalar activation scales; with vector ones the conv runs in
  float with its weights dequantized on every call (NNCF's CPU config did this to 37 of 49 convs: INT8 3x slower
  than fp32).
* **Mixed activation types around a conv** (ONNX): ``DQ(int8) -> Conv -> Q(uint8)`` or the reverse. ORT fuses a
  conv into QLinearConv only when its input and output activations have the same 8-bit type; NNCF's symmetric
  activations (int8 after a signed tensor, uint8 after a ReLU) left 17 of 49 convs of the student in float this way.
  ``quantize.qdq.unify_activation_dtype`` removes it losslessly.
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


#: Ops ORT fuses into an integer kernel between a DequantizeLinear input and a QuantizeLinear output.
_FUSABLE = frozenset({"Conv", "MatMul", "Gemm", "Add", "Mul"})
#: Elementwise clamps ORT folds into the output quantization (ReLU / ReLU6 before a Q).
_CLAMPS = frozenset({"Relu", "Clip"})


def mixed_activation_types(model: Any) -> list[str]:
    """Names of compute nodes whose activation input (a DequantizeLinear of a tensor) and output (the
    QuantizeLinear after it, through at most one Relu/Clip) have different 8-bit types. ORT's x86 graph rewrites
    turn some such int8 pairs into uint8 itself, but not all (17 of the student's 33 stayed float), so any counts."""
    graph = model.graph
    inits = constant_arrays(graph)
    producer = {o: n for n in graph.node for o in n.output}
    consumers: dict[str, list[Any]] = {}
    for n in graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)

    def zp_dtype(node: Any) -> Any:
        return inits[node.input[2]].dtype if len(node.input) > 2 and node.input[2] in inits else np.dtype(np.uint8)

    def output_q(node: Any) -> Any:
        nxt = consumers.get(node.output[0], [])
        if len(nxt) == 1 and nxt[0].op_type in _CLAMPS:
            nxt = consumers.get(nxt[0].output[0], [])
        return nxt[0] if len(nxt) == 1 and nxt[0].op_type == "QuantizeLinear" else None

    bad = []
    for n in graph.node:
        if n.op_type not in _FUSABLE:
            continue
        ins = [producer.get(i) for i in n.input]
        in_types = {zp_dtype(p) for p in ins
                    if p is not None and p.op_type == "DequantizeLinear" and p.input[0] not in inits}
        q = output_q(n)
        if in_types and q is not None and (len(in_types) > 1 or zp_dtype(q) not in in_types):
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
        model = onnx.load(str(path))
        bad = vector_activation_scales(model)
        if bad:
            problems.append(
                f"{len(bad)} activation QuantizeLinear nodes have per-channel (vector) scales, which ONNX Runtime "
                f"cannot fuse into integer ops (they run in float): {', '.join(bad[:4])}"
                + (" ..." if len(bad) > 4 else "")
            )
        mixed = mixed_activation_types(model)
        if mixed:
            problems.append(
                f"{len(mixed)} ops have int8 and uint8 activations on their two sides; ONNX Runtime's integer "
                f"fusion wants one type (NNCF's mix left 17 of 49 student convs in float): {', '.join(mixed[:4])}"
                + (" ..." if len(mixed) > 4 else "")
                + "; quantize.qdq.unify_activation_dtype moves every activation to one type without changing a value"
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
