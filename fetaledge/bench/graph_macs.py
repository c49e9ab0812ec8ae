"""Multiply-accumulates of a whole exported ONNX graph, preprocessing included.

The raw-frame graph starts with the folded resample (two dense matmuls per stage: letterbox/resize as
``A @ X @ B``) before the CNN; a MAC count of the CNN alone misses them. This counts every Conv,
ConvTranspose, MatMul, Gemm (and their QLinear / integer forms in INT8 graphs) from the graph's inferred
shapes; element-wise ops are not MACs and are left out.

Example:
    >>> graph_macs(Path("student.onnx"))["total"]  # doctest: +SKIP
    180512768
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from fetaledge.errors import FetaledgeError

_CONV = {"Conv": (0, 1), "QLinearConv": (0, 3), "ConvInteger": (0, 1)}
_MATMUL = {"MatMul": (0, 1), "MatMulInteger": (0, 1), "QLinearMatMul": (0, 3), "Gemm": (0, 1)}


def _shapes(model: Any) -> dict[str, tuple[int, ...]]:
    import onnx

    inferred = onnx.shape_inference.infer_shapes(model)
    g = inferred.graph
    out: dict[str, tuple[int, ...]] = {}
    for vi in [*g.input, *g.value_info, *g.output]:
        dims = vi.type.tensor_type.shape.dim
        out[vi.name] = tuple(d.dim_value if d.HasField("dim_value") else -1 for d in dims)
    for init in g.initializer:
        out[init.name] = tuple(init.dims)
    return out


def graph_macs(path: Path) -> dict[str, Any]:
    """``total`` MACs of one inference of the ONNX model at ``path``, ``by_op`` type, and ``unresolved``: the
    nodes whose shapes inference could not give (counted as 0, listed so the total is not trusted blindly)."""
    try:
        import onnx
    except ImportError as exc:  # pragma: no cover - core dependency of the export stage
        raise FetaledgeError("counting graph MACs needs onnx", hint="pip install onnx") from exc
    model = onnx.load(str(path))
    shapes = _shapes(model)
    by_op: dict[str, int] = {}
    unresolved: list[str] = []
    for node in model.graph.node:
        op = node.op_type
        if op not in _CONV and op not in _MATMUL:
            continue
        try:
            if op in _CONV:
                w = shapes[node.input[_CONV[op][1]]]
                y = shapes[node.output[0]]
                if min(w) < 0 or min(y) < 0:
                    raise KeyError(node.name)
                macs = int(np.prod(y)) * int(np.prod(w[1:]))  # each output: Cin/groups x kh x kw MACs
            else:
                a = shapes[node.input[_MATMUL[op][0]]]
                y = shapes[node.output[0]]
                trans_a = any(at.name == "transA" and at.i for at in node.attribute)
                k = a[-2] if trans_a and len(a) >= 2 else a[-1]
                if k < 0 or not y or min(y) < 0:
                    raise KeyError(node.name)
                macs = int(np.prod(y)) * k  # each output element (batch dims broadcast): K MACs
        except (KeyError, IndexError):
            unresolved.append(node.name or op)
            continue
        by_op[op] = by_op.get(op, 0) + macs
    return {"total": sum(by_op.values()), "by_op": by_op, "unresolved": unresolved,
            "how": "Conv/MatMul/Gemm (and QLinear/Integer forms) from onnx shape inference; element-wise ops excluded"}
