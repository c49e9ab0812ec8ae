"""Change the dtype of a quantized .tflite model's inputs/outputs by editing the flatbuffer.

litert-torch's static PT2E conversion folds the boundary quantize/dequantize into the model, so its inputs and
outputs come out as int8 with a scale and zero point. Devices often want uint8 (camera frames) or float32 (a
logit). TensorFlow's ``modify_model_interface`` tool only goes the other way round (float boundary ->
integer), and the TFLite converter's ``inference_input_type`` needs TensorFlow, so this module rewrites the
boundary itself: it adds a QUANTIZE (float32/uint8 -> int8) after an input or a DEQUANTIZE/QUANTIZE (int8 ->
float32 or uint8) before an output, and points the subgraph and its signature at the new tensor. Arithmetic is
unchanged: uint8 keeps the scale and shifts the zero point by 128, so results are bit-identical.
"""

from __future__ import annotations

from typing import Any, Literal

from quantize.census import _import_tflite_schema
from quantize.errors import QuantizeError

IODtype = Literal["int8", "uint8", "float32"]
_OP_VERSION = 2


def _opcode_index(model: Any, schema: Any, fbu: Any, code: int) -> int:
    for i, oc in enumerate(model.operatorCodes):
        if fbu.get_builtin_code_from_operator_code(oc) == code:
            return i
    oc = schema.OperatorCodeT()
    oc.builtinCode = code
    oc.deprecatedBuiltinCode = min(code, 127)
    oc.version = _OP_VERSION
    model.operatorCodes.append(oc)
    return len(model.operatorCodes) - 1


def _qparams(tensor: Any) -> tuple[float, int] | None:
    q = tensor.quantization
    if q is None or q.scale is None or len(q.scale) != 1:
        return None
    return float(q.scale[0]), int(q.zeroPoint[0])


def _boundary_tensor(schema: Any, sg: Any, like: Any, dtype: IODtype, qp: tuple[float, int] | None) -> int:
    t = schema.TensorT()
    t.shape = list(like.shape) if like.shape is not None else None
    t.shapeSignature = list(like.shapeSignature) if like.shapeSignature is not None else None
    t.buffer = 0
    t.name = like.name
    like.name = (like.name.decode() if isinstance(like.name, bytes) else str(like.name)) + "_int8"
    if dtype == "uint8" and qp is not None:
        t.type = schema.TensorType.UINT8
        q = schema.QuantizationParametersT()
        q.scale = [qp[0]]
        q.zeroPoint = [qp[1] + 128]
        t.quantization = q
    else:
        t.type = schema.TensorType.FLOAT32
    sg.tensors.append(t)
    return len(sg.tensors) - 1


def _describe(schema: Any, tensor: Any) -> str:
    names = {v: k.lower() for k, v in vars(schema.TensorType).items() if isinstance(v, int)}
    qp = _qparams(tensor)
    return names.get(tensor.type, "unknown") + (
        f" (scale {qp[0]:.6g}, zero point {qp[1]})" if qp else " (raw)"
    )


def set_io_dtypes(tflite: bytes, input_dtype: IODtype, output_dtype: IODtype) -> tuple[bytes, list[str]]:
    """Return the model with every input of ``input_dtype`` and every output of ``output_dtype``, plus notes.

    An input/output already of the requested dtype is left alone (a raw uint8 frame input stays raw uint8). A
    conversion that would need a scale the model does not have (e.g. a float input asked to become int8) is a
    :class:`~quantize.errors.QuantizeError` that says what the tensor is.

    Example:
        >>> data, notes = set_io_dtypes(open("m.tflite", "rb").read(), "uint8", "float32")  # doctest: +SKIP
    """
    schema, fbu = _import_tflite_schema("litert")
    model = fbu.read_model_from_bytearray(bytearray(tflite))
    sg = model.subgraphs[0]
    int8 = schema.TensorType.INT8
    want = {"int8": int8, "uint8": schema.TensorType.UINT8, "float32": schema.TensorType.FLOAT32}
    notes: list[str] = []
    remap_in: dict[int, int] = {}
    remap_out: dict[int, int] = {}

    for pos, t_index in enumerate(list(sg.inputs)):
        tensor = sg.tensors[t_index]
        if tensor.type == want[input_dtype]:
            continue
        qp = _qparams(tensor)
        if tensor.type != int8 or qp is None:
            raise QuantizeError(
                f"model input {pos} is {_describe(schema, tensor)}; it cannot be presented as {input_dtype}",
                hint=f"set the recipe's input_dtype to the tensor's own dtype ({_describe(schema, tensor)})",
            )
        new = _boundary_tensor(schema, sg, tensor, input_dtype, qp)
        op = schema.OperatorT()
        op.opcodeIndex = _opcode_index(model, schema, fbu, schema.BuiltinOperator.QUANTIZE)
        op.inputs, op.outputs = [new], [t_index]
        sg.operators.insert(0, op)
        sg.inputs[pos] = new
        remap_in[t_index] = new
        notes.append(f"input {pos}: int8 -> {input_dtype} through an added QUANTIZE op")

    for pos, t_index in enumerate(list(sg.outputs)):
        tensor = sg.tensors[t_index]
        if tensor.type == want[output_dtype]:
            continue
        qp = _qparams(tensor)
        if tensor.type != int8 or qp is None:
            raise QuantizeError(
                f"model output {pos} is {_describe(schema, tensor)}; "
                f"it cannot be presented as {output_dtype}",
                hint="set the recipe's output_dtype to the tensor's own dtype",
            )
        new = _boundary_tensor(schema, sg, tensor, output_dtype, qp)
        op_name = "DEQUANTIZE" if output_dtype == "float32" else "QUANTIZE"
        code = getattr(schema.BuiltinOperator, op_name)
        op = schema.OperatorT()
        op.opcodeIndex = _opcode_index(model, schema, fbu, code)
        op.inputs, op.outputs = [t_index], [new]
        sg.operators.append(op)
        sg.outputs[pos] = new
        remap_out[t_index] = new
        notes.append(f"output {pos}: int8 -> {output_dtype} through an added {op_name} op")

    if not remap_in and not remap_out:
        return bytes(tflite), notes
    for sig in model.signatureDefs or []:
        if sig.subgraphIndex not in (0, None):
            continue
        for tmap in sig.inputs or []:
            tmap.tensorIndex = remap_in.get(tmap.tensorIndex, tmap.tensorIndex)
        for tmap in sig.outputs or []:
            tmap.tensorIndex = remap_out.get(tmap.tensorIndex, tmap.tensorIndex)
    return bytes(fbu.convert_object_to_bytearray(model)), notes
