"""Op census of an artifact: every operator with the dtypes it computes on, and which ones stayed float.

``onnx_census`` reads QDQ ONNX with the ``onnx`` package; ``tflite_census`` parses the .tflite flatbuffer with
the schema bundled in ``ai_edge_litert``. Both are imported lazily.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from quantize.artifact import FLOAT_DTYPES, OpRecord
from quantize.errors import MissingExtraError

_QDQ = ("QuantizeLinear", "DequantizeLinear")
_FUSABLE_ACTIVATIONS = ("Relu", "Clip")
ONNX_PIP = "pip install onnx"
LITERT_PIP = "pip install 'fetaledge[litert]'  (or: pip install ai-edge-litert)"


def _is_float(dtypes: Iterable[str]) -> bool:
    return any(d in FLOAT_DTYPES for d in dtypes)


def _import_onnx(backend: str = "census") -> Any:
    try:
        import onnx
    except ImportError as exc:
        raise MissingExtraError(backend, "onnx", ONNX_PIP, str(exc)) from exc
    return onnx


def constant_arrays(graph: Any) -> dict[str, Any]:
    """Name -> numpy array of every constant of an ONNX graph: its initializers and its Constant nodes' values."""
    from onnx import numpy_helper

    consts = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value":
                    consts[node.output[0]] = numpy_helper.to_array(attr.t)
    return consts


def onnx_census(path: Path) -> tuple[OpRecord, ...]:
    """List the operators of an ONNX model (QDQ-aware, see :class:`~quantize.artifact.OpRecord`).

    Example:
        >>> ops = onnx_census(Path("model.int8.onnx"))  # doctest: +SKIP
        >>> [op.op_type for op in ops if op.is_float]  # doctest: +SKIP
        ['Cast', 'Div', 'Sub']
    """
    onnx = _import_onnx()
    model = onnx.load(str(path))
    with contextlib.suppress(Exception):  # without inferred types the census says "unknown"
        model = onnx.shape_inference.infer_shapes(model)
    graph = model.graph

    def dtype_name(elem_type: int) -> str:
        try:
            return onnx.helper.tensor_dtype_to_np_dtype(elem_type).name
        except Exception:  # noqa: BLE001
            return "unknown"

    types: dict[str, str] = {}
    for vi in [*graph.input, *graph.output, *graph.value_info]:
        types[vi.name] = dtype_name(vi.type.tensor_type.elem_type)
    constants: set[str] = set()
    for init in graph.initializer:
        types[init.name] = dtype_name(init.data_type)
        constants.add(init.name)
    producer: dict[str, Any] = {}
    consumers: dict[str, list[Any]] = {}
    for node in graph.node:
        for out in node.output:
            producer[out] = node
        for inp in node.input:
            consumers.setdefault(inp, []).append(node)
        if node.op_type == "Constant":
            constants.update(node.output)
            for attr in node.attribute:
                if attr.name == "value":
                    types[node.output[0]] = dtype_name(attr.t.data_type)

    def quantized_dtype(q_node: Any) -> str:
        # QuantizeLinear's output type is its zero point's type (uint8 when the zero point is absent).
        if len(q_node.input) > 2 and q_node.input[2]:
            return types.get(q_node.input[2], "unknown")
        return types.get(q_node.output[0], "uint8")

    def effective_input(name: str) -> tuple[str, bool]:
        """(dtype, is_constant) of an input, looking through a DequantizeLinear."""
        node = producer.get(name)
        if node is not None and node.op_type == "DequantizeLinear":
            return types.get(node.input[0], "unknown"), node.input[0] in constants
        return types.get(name, "unknown"), name in constants

    def all_consumers_quantize(name: str) -> str | None:
        users = consumers.get(name, [])
        if users and all(u.op_type == "QuantizeLinear" for u in users):
            return quantized_dtype(users[0])
        return None

    def effective_output(name: str) -> str:
        q = all_consumers_quantize(name)
        if q is not None:
            return q
        users = consumers.get(name, [])
        if len(users) == 1 and users[0].op_type in _FUSABLE_ACTIVATIONS:  # Conv -> Relu -> Q fuses
            q = all_consumers_quantize(users[0].output[0])
            if q is not None:
                return q
        return types.get(name, "unknown")

    records: list[OpRecord] = []
    for idx, node in enumerate(graph.node):
        if node.op_type in _QDQ or node.op_type == "Constant":
            continue
        ins = [effective_input(i) for i in node.input if i]
        data_in = [d for d, const in ins if not const]
        outs = [effective_output(o) for o in node.output if o]
        if node.op_type in _FUSABLE_ACTIVATIONS and all(o not in FLOAT_DTYPES for o in outs):
            src = producer.get(node.input[0])
            if (
                src is not None
                and src.op_type not in _QDQ
                and effective_output(src.output[0]) not in FLOAT_DTYPES
            ):
                data_in = outs[:1]  # the activation is fused into its integer producer
                ins = [(outs[0], False)]
        records.append(
            OpRecord(
                name=node.name or f"{node.op_type}_{idx}",
                op_type=node.op_type,
                input_dtypes=tuple(d for d, _ in ins),
                output_dtypes=tuple(outs),
                is_float=_is_float(data_in) or _is_float(outs),
            )
        )
    return tuple(records)


def executed_onnx_ops(model: Path, level: str = "all") -> dict[str, int]:
    """Op types (with counts) of the graph ONNX Runtime executes for ``model`` after its graph optimizations
    (``level`` "extended" or "all"): Q/DQ fused into QLinear* where ORT could, float ops where it could not.

    Example:
        >>> executed_onnx_ops(Path("model.nncf.int8.onnx"))["QLinearConv"]  # doctest: +SKIP
        46
    """
    import tempfile

    onnx = _import_onnx()
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise MissingExtraError("census", "onnxruntime", "pip install onnxruntime", str(exc)) from exc
    levels = {"extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
              "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL}
    with tempfile.TemporaryDirectory() as td:
        opts = ort.SessionOptions()
        opts.graph_optimization_level = levels[level]
        opts.optimized_model_filepath = str(Path(td) / "opt.onnx")
        opts.intra_op_num_threads = 1
        ort.InferenceSession(str(model), opts, providers=["CPUExecutionProvider"])
        ops: dict[str, int] = {}
        for n in onnx.load(opts.optimized_model_filepath).graph.node:
            ops[n.op_type] = ops.get(n.op_type, 0) + 1
    return ops


def _import_tflite_schema(backend: str = "census") -> tuple[Any, Any]:
    try:
        from ai_edge_litert import schema_py_generated as schema
        from ai_edge_litert.tools import flatbuffer_utils
    except ImportError as exc:
        raise MissingExtraError(backend, "ai_edge_litert", LITERT_PIP, str(exc)) from exc
    return schema, flatbuffer_utils


def _enum_names(enum_cls: Any) -> dict[int, str]:
    return {v: k for k, v in vars(enum_cls).items() if not k.startswith("_") and isinstance(v, int)}


def tflite_census(path: Path) -> tuple[OpRecord, ...]:
    """List the operators of a .tflite file with their tensor dtypes (constants excluded from ``is_float``).

    Example:
        >>> ops = tflite_census(Path("model.int8.tflite"))  # doctest: +SKIP
        >>> ops[0].op_type, ops[0].input_dtypes  # doctest: +SKIP
        ('CONV_2D', ('int8', 'int8', 'int32'))
    """
    schema, fbu = _import_tflite_schema()
    model = fbu.read_model_from_bytearray(bytearray(Path(path).read_bytes()))
    op_names = _enum_names(schema.BuiltinOperator)
    type_names = {k: v.lower() for k, v in _enum_names(schema.TensorType).items()}
    records: list[OpRecord] = []
    for sg_index, sg in enumerate(model.subgraphs):
        prefix = "" if sg_index == 0 else f"subgraph{sg_index}/"

        def is_const(t: int, sg: Any = sg) -> bool:
            buf = model.buffers[sg.tensors[t].buffer] if sg.tensors[t].buffer < len(model.buffers) else None
            return buf is not None and buf.data is not None and len(buf.data) > 0

        def tname(t: int, sg: Any = sg) -> str:
            name = sg.tensors[t].name
            return name.decode() if isinstance(name, bytes) else str(name)

        for op in sg.operators or []:
            opcode = model.operatorCodes[op.opcodeIndex]
            code = fbu.get_builtin_code_from_operator_code(opcode)
            op_type = op_names.get(code, f"BUILTIN_{code}")
            if op_type == "CUSTOM" and opcode.customCode:
                custom = opcode.customCode
                op_type = f"CUSTOM:{custom.decode() if isinstance(custom, bytes) else custom}"
            inputs = [t for t in (op.inputs or []) if t >= 0]
            outputs = [t for t in (op.outputs or []) if t >= 0]
            in_dtypes = tuple(type_names.get(sg.tensors[t].type, "unknown") for t in inputs)
            out_dtypes = tuple(type_names.get(sg.tensors[t].type, "unknown") for t in outputs)
            data_in = [type_names.get(sg.tensors[t].type, "") for t in inputs if not is_const(t)]
            records.append(
                OpRecord(
                    name=prefix + (tname(outputs[0]) if outputs else op_type),
                    op_type=op_type,
                    input_dtypes=in_dtypes,
                    output_dtypes=out_dtypes,
                    is_float=_is_float(data_in) or _is_float(out_dtypes),
                )
            )
    return tuple(records)
