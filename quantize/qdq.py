"""Lossless rewrites of a QDQ ONNX graph into the form a runtime's integer kernels fuse.

ONNX Runtime fuses ``DQ -> Conv -> Q`` into ``QLinearConv`` only when the conv's input and output activations have
the same 8-bit type. NNCF's symmetric activations are int8 after a signed tensor and uint8 after a ReLU, so every
conv between the two (the projection conv of an inverted residual block, the expansion conv after a residual add)
stays float with its weights dequantized on every call. An int8 tensor with zero point ``z`` and the uint8 tensor
with zero point ``z + 128`` and the same scale hold the same real values on the same grid (int8 ``[-128, 127]`` is
uint8 ``[0, 255]`` shifted), so moving every activation to one type changes no number the graph computes.

``DQ -> Conv -> Clip -> Q`` (a ReLU6 block as NNCF writes it) does not fuse either: ONNX Runtime drops the Clip
only when the quantized range lies inside the clip range, and ``255 * (6 / 255)`` in float32 is 6.0000001, so
on arm64 30 of 46 quantized convs ran in float (134.9 M instructions a frame on cortex-a76, as many as fp32).
:func:`remove_saturated_clips` drops such a Clip where the quantizer saturates at its bounds anyway.
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


def _clip_bounds(node: Any, consts: dict[str, np.ndarray]) -> tuple[float, float] | None:
    """(low, high) of a Clip or Relu whose bounds are constants, else None."""
    if node.op_type == "Relu":
        return 0.0, float("inf")
    bounds = [-float("inf"), float("inf")]
    for a in node.attribute:  # opset < 11 keeps them as attributes
        if a.name in ("min", "max"):
            bounds[a.name == "max"] = float(a.f)
    for k, name in enumerate(node.input[1:3]):
        if not name:
            continue
        if name not in consts:
            return None
        bounds[k] = float(consts[name].ravel()[0])
    return bounds[0], bounds[1]


def remove_saturated_clips(model: Any) -> int:
    """Drop every Clip / Relu of ``model`` (an ``onnx.ModelProto``, edited in place) whose only reader is a
    per-tensor QuantizeLinear that saturates at the clip's bounds: ``Q(clip(x)) == Q(x)`` for every ``x``, since
    ``Q(high)`` is already the largest code and ``Q(low)`` the smallest. Returns how many were dropped.

    Example:
        >>> import onnx
        >>> m = onnx.load("model.nncf.int8.onnx")       # doctest: +SKIP
        >>> remove_saturated_clips(m)                    # doctest: +SKIP
        31
    """
    from onnx import numpy_helper

    graph = model.graph
    consts = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    for n in graph.node:
        if n.op_type == "Constant" and n.attribute and n.attribute[0].name == "value":
            consts[n.output[0]] = numpy_helper.to_array(n.attribute[0].t)
    readers: dict[str, list[Any]] = {}
    for n in graph.node:
        for name in n.input:
            readers.setdefault(name, []).append(n)
    outputs = {o.name for o in graph.output}
    drop = []
    for n in graph.node:
        if n.op_type not in ("Clip", "Relu") or n.output[0] in outputs:
            continue
        after = readers.get(n.output[0], [])
        bounds = _clip_bounds(n, consts)
        if bounds is None or len(after) != 1 or after[0].op_type != "QuantizeLinear" or len(after[0].input) < 3:
            continue
        q = after[0]
        if q.input[1] not in consts or q.input[2] not in consts:
            continue
        scale, zp = consts[q.input[1]], consts[q.input[2]]
        if scale.size != 1 or zp.dtype not in (np.int8, np.uint8):
            continue
        info = np.iinfo(zp.dtype)
        s, z = float(scale.ravel()[0]), int(zp.ravel()[0])
        low, high = bounds
        # ONNX QuantizeLinear rounds half to even, as np.rint does
        saturates_low = low == -float("inf") or np.rint(np.float32(low) / np.float32(s)) + z <= info.min
        saturates_high = high == float("inf") or np.rint(np.float32(high) / np.float32(s)) + z >= info.max
        if saturates_low and saturates_high:
            q.input[0] = n.input[0]
            drop.append(n)
    for n in drop:
        graph.node.remove(n)
    # the bounds the dropped nodes read, where nothing else reads them (ORT warns about unused initializers)
    bounds = {name for n in drop for name in n.input[1:] if name}
    used = {name for n in graph.node for name in n.input} | {o.name for o in graph.output}
    unused = [i for i in graph.initializer if i.name in bounds - used]
    for i in unused:
        graph.initializer.remove(i)
    return len(drop)
