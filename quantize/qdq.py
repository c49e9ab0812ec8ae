"""Lossless rewrites of a QDQ ONNX graph into the form a runtime's integer kernels fuse.

ONNX Runtime fuses ``DQ -> Conv -> Q`` into ``QLinearConv`` only when the conv's input and output activations have
the same 8-bit type. NNCF's symmetric activations are int8 after a signed tensor and uint8 after a ReLU, so every
conv between the two (the projection conv of an inverted residual block, the expansion conv after a residual add)
stays float with its weights dequantized on every call. An int8 tensor with zero point ``z`` and the uint8 tensor
with zero point ``z + 128`` and the same scale hold the same real values on the same grid (int8 ``[-128, 127]`` is
uint8 ``[0, 255]`` shifted), so moving every activation to one type changes no number the graph computes.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from quantize.errors import QuantizeError

ActivationDtype = Literal["uint8", "int8"]


def unify_activation_dtype(model: Any, dtype: ActivationDtype) -> int:
    """Move every activation QuantizeLinear / DequantizeLinear pair of ``model`` (an ``onnx.ModelProto``, edited in
    place) to ``dtype`` by shifting its zero point by 128; weights (DequantizeLinear of an initializer) stay as they
    are. Returns how many zero-point initializers were rewritten.

    Example:
        >>> import onnx
        >>> m = onnx.load("model.nncf.int8.onnx")       # doctest: +SKIP
        >>> unify_activation_dtype(m, "uint8")           # doctest: +SKIP
        25
    """
    from onnx import numpy_helper

    if dtype not in ("uint8", "int8"):
        raise QuantizeError(f"activation dtype must be 'uint8' or 'int8', got {dtype!r}")
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    target = np.uint8 if dtype == "uint8" else np.int8
    # Zero points used by a DequantizeLinear of a weight initializer keep their type (weights are int8 by design).
    weight_zps = {n.input[2] for n in graph.node
                  if n.op_type == "DequantizeLinear" and len(n.input) > 2 and n.input[0] in inits}
    activation_zps = {n.input[2] for n in graph.node
                      if n.op_type in ("QuantizeLinear", "DequantizeLinear") and len(n.input) > 2
                      and n.input[0] not in inits and n.input[2] in inits}
    shared = activation_zps & weight_zps
    if shared:
        raise QuantizeError(f"zero-point initializers shared by weights and activations: {sorted(shared)[:3]}; "
                            "cannot change the activation type without changing the weights")
    changed = 0
    for name in sorted(activation_zps):
        zp = numpy_helper.to_array(inits[name])
        if zp.dtype == target:
            continue
        if zp.dtype not in (np.int8, np.uint8):
            raise QuantizeError(f"zero point {name} is {zp.dtype}; only 8-bit activations can be moved to {dtype}")
        shifted = zp.astype(np.int16) + (128 if target == np.uint8 else -128)
        inits[name].CopyFrom(numpy_helper.from_array(shifted.astype(target), name))
        changed += 1
    if changed:
        # Shape inference wrote the old 8-bit type of the quantized tensors; ORT would refuse the mismatch.
        quantized = {n.output[0] for n in graph.node if n.op_type == "QuantizeLinear"}
        keep = [v for v in graph.value_info if v.name not in quantized]
        del graph.value_info[:]
        graph.value_info.extend(keep)
    return changed
