"""Inference engines for bundle models: onnxruntime and LiteRT (ai-edge-litert, or tflite_runtime on old
devices). numpy only; never torch. Each engine maps one raw uint8 frame to one float (logit or probability,
as the spec's ``output_kind`` says), quantizing the input and dequantizing the output when the spec says so.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np

from fetaledge.errors import FetaledgeError
from fetaledge.runtime.spec import ModelSpec, TensorSpec

_NP = {"float32": np.float32, "float16": np.float16, "int8": np.int8, "uint8": np.uint8}


class Engine(Protocol):
    spec: ModelSpec

    def __call__(self, frame: np.ndarray) -> float: ...


def _to_input(frame: np.ndarray, t: TensorSpec) -> np.ndarray:
    """A raw uint8 frame -> the model's input tensor (batch 1), applying the input quantization if any."""
    x = frame[None]
    if t.quantization is not None:
        q = np.rint(x.astype(np.float32) / t.quantization.scale) + t.quantization.zero_point
        lo, hi = np.iinfo(_NP[t.dtype]).min, np.iinfo(_NP[t.dtype]).max
        return np.clip(q, lo, hi).astype(_NP[t.dtype])
    return x.astype(_NP[t.dtype], copy=False)


def _from_output(y: np.ndarray, t: TensorSpec) -> float:
    v = np.asarray(y).reshape(-1)
    if v.size != 1:
        raise FetaledgeError(f"model output {t.name} has {v.size} values, expected 1")
    if t.quantization is not None:
        return float(t.quantization.scale * (float(v[0]) - t.quantization.zero_point))
    return float(v[0])


class OrtEngine:
    """onnxruntime session, CPU, ``threads`` intra-op threads (from the spec unless overridden)."""

    def __init__(self, path: Path, spec: ModelSpec, threads: int | None = None) -> None:
        try:
            import onnxruntime as ort
        except ImportError as exc:  # pragma: no cover - core dependency
            raise FetaledgeError("onnxruntime is not installed", hint="pip install onnxruntime") from exc
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or spec.threads
        opts.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types
            raise FetaledgeError(f"onnxruntime cannot load {path}: {str(exc).splitlines()[0]}") from exc
        self.spec = spec
        self.input_name = self.session.get_inputs()[0].name

    def __call__(self, frame: np.ndarray) -> float:
        out = self.session.run(None, {self.input_name: _to_input(frame, self.spec.input)})[0]
        return _from_output(out, self.spec.output)


def _interpreter_class():
    try:
        from ai_edge_litert.interpreter import Interpreter

        return Interpreter
    except ImportError:
        pass
    try:  # old devices: the standalone TFLite runtime
        from tflite_runtime.interpreter import Interpreter

        return Interpreter
    except ImportError as exc:
        raise FetaledgeError(
            "no LiteRT interpreter is installed", hint="pip install ai-edge-litert (or tflite-runtime on old devices)"
        ) from exc


class LiteRTEngine:
    """LiteRT interpreter (XNNPACK on CPU) with ``threads`` threads."""

    def __init__(self, path: Path, spec: ModelSpec, threads: int | None = None) -> None:
        interpreter = _interpreter_class()
        try:
            self.it = interpreter(model_path=str(path), num_threads=threads or spec.threads)
            self.it.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise FetaledgeError(f"LiteRT cannot load {path}: {str(exc).splitlines()[0]}") from exc
        self.spec = spec
        self.inp = self.it.get_input_details()[0]["index"]
        self.out = self.it.get_output_details()[0]["index"]

    def __call__(self, frame: np.ndarray) -> float:
        self.it.set_tensor(self.inp, _to_input(frame, self.spec.input))
        self.it.invoke()
        return _from_output(self.it.get_tensor(self.out), self.spec.output)


ENGINES = {"onnxruntime": OrtEngine, "litert": LiteRTEngine}


def open_engine(bundle_dir: Path, spec: ModelSpec, threads: int | None = None) -> Engine:
    """The engine for one model of a bundle.

    Example:
        >>> eng = open_engine(Path("bundle"), spec.models[0])  # doctest: +SKIP
        >>> logit = eng(frame)                                # doctest: +SKIP
    """
    return ENGINES[spec.runtime](Path(bundle_dir) / spec.file, spec, threads)
