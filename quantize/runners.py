"""Built-in runners: feed a batch of samples through an ONNX or .tflite artifact, one sample at a time.

Inputs are ``(N, ...)`` arrays whose rows are single samples with the model's own batch dimension of 1 kept,
i.e. ``inputs[i:i+1]`` is what the model sees. A float array fed to a quantized integer input is quantized
with the tensor's scale and zero point; an integer array of the input's own dtype is passed unchanged.
Quantized integer outputs are dequantized. The result is always float32 of shape ``(N, *output_shape[1:])``.
No torch import here: this is what a device-side Python runtime can use.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from quantize.artifact import TensorSpec
from quantize.census import LITERT_PIP, _import_onnx
from quantize.errors import MissingExtraError, QuantizeError

_ORT_TYPES = {
    "tensor(float)": "float32",
    "tensor(float16)": "float16",
    "tensor(double)": "float64",
    "tensor(uint8)": "uint8",
    "tensor(int8)": "int8",
    "tensor(int16)": "int16",
    "tensor(uint16)": "uint16",
    "tensor(int32)": "int32",
    "tensor(int64)": "int64",
    "tensor(bool)": "bool",
}


def _as_rows(inputs: np.ndarray) -> np.ndarray:
    arr = np.asarray(inputs)
    if arr.ndim == 0 or arr.shape[0] == 0:
        raise QuantizeError(f"runner inputs must be a non-empty (N, ...) array, got shape {arr.shape}")
    return arr


def to_input_dtype(x: np.ndarray, spec: TensorSpec) -> np.ndarray:
    """Convert one sample to what ``spec`` expects (quantize floats for quantized integer tensors)."""
    target = np.dtype(spec.dtype)
    if x.dtype == target:
        return x
    if target.kind == "f":
        return x.astype(target)
    if target.kind in "iu":
        info = np.iinfo(target)
        if x.dtype.kind == "f" and spec.scale is not None and spec.zero_point is not None:
            q = np.round(x / spec.scale) + spec.zero_point
            return np.clip(q, info.min, info.max).astype(target)
        as_int = x.astype(target)
        if np.array_equal(as_int.astype(np.float64), x.astype(np.float64)):
            return as_int
        raise QuantizeError(
            f"input {spec.name!r} is raw {spec.dtype} but the data are {x.dtype} values outside that type",
            hint=f"pass {spec.dtype} data (e.g. raw frames), not normalised floats",
        )
    raise QuantizeError(f"input {spec.name!r} has unsupported dtype {spec.dtype}")


def from_output(y: np.ndarray, spec: TensorSpec) -> np.ndarray:
    """Dequantize an output tensor if it is quantized; always return float32."""
    if spec.scale is not None and spec.zero_point is not None:
        real = (y.astype(np.float32) - np.float32(spec.zero_point)) * np.float32(spec.scale)
        return real.astype(np.float32)
    return y.astype(np.float32)


# --- ONNX Runtime -----------------------------------------------------------------------------------------
def _ort() -> Any:
    try:
        import onnxruntime
    except ImportError as exc:
        raise MissingExtraError("onnxruntime", "onnxruntime", "pip install onnxruntime", str(exc)) from exc
    return onnxruntime


#: Session config that selects ONNX Runtime's exact integer kernels on x86. The default U8S8 kernels of x86 CPUs
#: without VNNI go through VPMADDUBSW, whose int16 intermediate saturates; ARM's SDOT kernels (and VNNI) accumulate
#: in int32 exactly. So an artifact meant for ARM is scored here with this option, or it looks worse than it is.
EXACT_X86 = {"session.x64quantprecision": "1"}

#: Scoring kernels: "default" (what this host runs) or "exact" (int32-exact kernels, what ARM dot-product cores run).
KERNELS = ("default", "exact")


def kernel_config(kernels: str) -> dict[str, str]:
    """The ONNX Runtime session config for ``kernels`` ("default" or "exact")."""
    if kernels not in KERNELS:
        raise QuantizeError(f"unknown kernels {kernels!r}; known: {', '.join(KERNELS)}")
    return dict(EXACT_X86) if kernels == "exact" else {}


def onnx_session(model: Path | bytes, threads: int = 1, session_config: dict[str, str] | None = None) -> Any:
    """An ``onnxruntime.InferenceSession`` on CPU with ``threads`` intra-op threads (0 = ORT's default) and
    optional session config entries (e.g. :data:`EXACT_X86`)."""
    ort = _ort()
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = int(threads)
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    for key, value in (session_config or {}).items():
        opts.add_session_config_entry(key, value)
    source = model if isinstance(model, (bytes, bytearray)) else str(model)
    return ort.InferenceSession(source, sess_options=opts, providers=["CPUExecutionProvider"])


def _onnx_boundary_qparams(model: Path | bytes) -> dict[str, tuple[float, int]]:
    """Scale/zero point of integer graph inputs (read by a DequantizeLinear) and outputs (made by
    QuantizeLinear)."""
    onnx = _import_onnx("onnxruntime")
    from onnx import numpy_helper

    proto = (
        onnx.load_from_string(bytes(model))
        if isinstance(model, (bytes, bytearray))
        else onnx.load(str(model))
    )
    graph = proto.graph
    consts = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    io_names = {i.name for i in graph.input} | {o.name for o in graph.output}
    found: dict[str, tuple[float, int]] = {}
    for node in graph.node:
        boundary = None
        if node.op_type == "DequantizeLinear" and node.input[0] in io_names:
            boundary = node.input[0]
        elif node.op_type == "QuantizeLinear" and node.output[0] in io_names:
            boundary = node.output[0]
        if boundary is None or node.input[1] not in consts:
            continue
        scale = float(np.asarray(consts[node.input[1]]).ravel()[0])
        zp = 0
        if len(node.input) > 2 and node.input[2] in consts:
            zp = int(np.asarray(consts[node.input[2]]).ravel()[0])
        found[boundary] = (scale, zp)
    return found


def onnx_io_specs(
    model: Path | bytes, session: Any = None
) -> tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]]:
    """(inputs, outputs) of an ONNX model as :class:`TensorSpec` (qparams only for integer boundary
    tensors)."""
    sess = session or onnx_session(model)
    ins = [(a.name, _ORT_TYPES.get(a.type, a.type), a.shape) for a in sess.get_inputs()]
    outs = [(a.name, _ORT_TYPES.get(a.type, a.type), a.shape) for a in sess.get_outputs()]
    qparams: dict[str, tuple[float, int]] = {}
    if any(d in ("int8", "uint8") for _, d, _ in ins + outs):
        qparams = _onnx_boundary_qparams(model)

    def spec(name: str, dtype: str, shape: Any) -> TensorSpec:
        dims = tuple(d if isinstance(d, int) else -1 for d in shape)
        scale, zp = qparams.get(name, (None, None))
        return TensorSpec(name=name, dtype=dtype, shape=dims, scale=scale, zero_point=zp)

    return tuple(spec(*a) for a in ins), tuple(spec(*a) for a in outs)


def run_onnx(path: Path | bytes, inputs: np.ndarray, threads: int = 1, kernels: str = "default") -> np.ndarray:
    """Run every row of ``inputs`` through the ONNX model's first input and return its first output
    (``kernels="exact"``: ONNX Runtime's int32-exact x86 kernels, see :data:`EXACT_X86`).

    Example:
        >>> scores = run_onnx(Path("model.int8.onnx"), frames, threads=1)  # doctest: +SKIP
        >>> scores.shape  # doctest: +SKIP
        (300, 1)
    """
    arr = _as_rows(inputs)
    sess = onnx_session(path, threads, kernel_config(kernels))
    in_specs, out_specs = onnx_io_specs(path, sess)
    if len(in_specs) != 1:
        raise QuantizeError(f"run_onnx supports single-input models; this one has {len(in_specs)} inputs")
    name = in_specs[0].name
    out = [
        from_output(
            sess.run([out_specs[0].name], {name: to_input_dtype(arr[i : i + 1], in_specs[0])})[0],
            out_specs[0],
        )
        for i in range(arr.shape[0])
    ]
    return np.concatenate(out, axis=0)


# --- LiteRT ------------------------------------------------------------------------------------------------
def _interpreter_cls() -> Any:
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError as exc:
        raise MissingExtraError("litert", "ai_edge_litert", LITERT_PIP, str(exc)) from exc
    return Interpreter


def tflite_interpreter(path: Path | bytes, threads: int = 1) -> Any:
    """An allocated ``ai_edge_litert`` Interpreter (default XNNPACK delegate) with ``threads`` threads."""
    cls = _interpreter_cls()
    if isinstance(path, (bytes, bytearray)):
        it = cls(model_content=bytes(path), num_threads=int(threads))
    else:
        it = cls(model_path=str(path), num_threads=int(threads))
    it.allocate_tensors()
    return it


def _tflite_spec(d: dict[str, Any]) -> TensorSpec:
    scale, zp = d.get("quantization", (0.0, 0))
    quantized = bool(scale) and np.dtype(d["dtype"]).kind in "iu"
    return TensorSpec(
        name=str(d["name"]),
        dtype=np.dtype(d["dtype"]).name,
        shape=tuple(int(s) for s in d["shape"]),
        scale=float(scale) if quantized else None,
        zero_point=int(zp) if quantized else None,
    )


def tflite_io_specs(
    path: Path | bytes, interpreter: Any = None
) -> tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]]:
    """(inputs, outputs) of a .tflite model as :class:`TensorSpec` (scale/zero point from the tensor
    details)."""
    it = interpreter or tflite_interpreter(path)
    return (
        tuple(_tflite_spec(d) for d in it.get_input_details()),
        tuple(_tflite_spec(d) for d in it.get_output_details()),
    )


def run_tflite(path: Path | bytes, inputs: np.ndarray, threads: int = 1) -> np.ndarray:
    """Run every row of ``inputs`` through the .tflite model's first input and return its first output.

    Example:
        >>> scores = run_tflite(Path("model.int8.tflite"), frames_uint8)  # doctest: +SKIP
    """
    arr = _as_rows(inputs)
    it = tflite_interpreter(path, threads)
    in_details, out_details = it.get_input_details(), it.get_output_details()
    if len(in_details) != 1:
        raise QuantizeError(f"run_tflite supports single-input models; this one has {len(in_details)} inputs")
    in_spec, out_spec = _tflite_spec(in_details[0]), _tflite_spec(out_details[0])
    out = []
    for i in range(arr.shape[0]):
        it.set_tensor(in_details[0]["index"], to_input_dtype(arr[i : i + 1], in_spec))
        it.invoke()
        out.append(from_output(it.get_tensor(out_details[0]["index"]).copy(), out_spec))
    return np.concatenate(out, axis=0)


RUNNERS = {"onnxruntime": run_onnx, "litert": run_tflite}


def run_artifact(path: Path, inputs: np.ndarray, threads: int = 1, kernels: str = "default") -> np.ndarray:
    """Pick :func:`run_onnx` or :func:`run_tflite` by file extension. ``kernels`` applies to ONNX Runtime; LiteRT's
    XNNPACK integer kernels accumulate in int32 on every CPU, so they are exact already."""
    suffix = Path(path).suffix.lower()
    kernel_config(kernels)
    if suffix == ".onnx":
        return run_onnx(path, inputs, threads, kernels)
    if suffix == ".tflite":
        return run_tflite(path, inputs, threads)
    raise QuantizeError(f"no built-in runner for {path} (expected .onnx or .tflite)", hint="pass predict=...")
