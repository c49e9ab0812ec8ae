"""Read a model file's input/output tensor description (name, dtype, shape, quantization) for the spec."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fetaledge.runtime.spec import Quantization, TensorSpec

_ORT = {"tensor(float)": "float32", "tensor(float16)": "float16", "tensor(uint8)": "uint8", "tensor(int8)": "int8"}


def describe_onnx(path: Path) -> tuple[TensorSpec, TensorSpec]:
    """(input, output) of an ONNX model; QDQ models keep float/uint8 graph inputs and float outputs."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])

    def spec(t) -> TensorSpec:
        shape = tuple(d if isinstance(d, int) else -1 for d in t.shape)
        return TensorSpec(t.name, _ORT[t.type], shape, None)

    return spec(sess.get_inputs()[0]), spec(sess.get_outputs()[0])


def describe_tflite(path: Path) -> tuple[TensorSpec, TensorSpec]:
    """(input, output) of a .tflite model with their quantization parameters when integer."""
    from fetaledge.runtime.engines import _interpreter_class

    it = _interpreter_class()(model_path=str(path))

    def spec(d) -> TensorSpec:
        dtype = np.dtype(d["dtype"]).name
        scale, zp = d.get("quantization", (0.0, 0))
        q = Quantization(float(scale), int(zp)) if dtype in ("int8", "uint8") and scale > 0 else None
        return TensorSpec(d["name"], dtype, tuple(int(x) for x in d["shape"]), q)

    return spec(it.get_input_details()[0]), spec(it.get_output_details()[0])


def describe(path: Path, runtime: str) -> tuple[TensorSpec, TensorSpec]:
    return describe_onnx(path) if runtime == "onnxruntime" else describe_tflite(path)
