"""Inference engines for bundle models: onnxruntime and LiteRT (ai-edge-litert, or tflite_runtime on old
devices). numpy only; never torch. Each engine maps one raw uint8 frame to one float (logit or probability,
as the spec's ``output_kind`` says), quantizing the input and dequantizing the output when the spec says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from fetaledge.errors import FetaledgeError
from fetaledge.runtime.spec import IqaSpec, ModelSpec, TensorSpec

_NP = {"float32": np.float32, "float16": np.float16, "int8": np.int8, "uint8": np.uint8}


#: What to install for each runtime on a device (no torch): the LiteRT interpreter alone, not the `litert`
#: extra, which also pulls the converter and torch.
RUNTIME_INSTALL = {
    "onnxruntime": "pip install onnxruntime",
    "litert": "pip install ai-edge-litert (tflite-runtime on old devices)",
}


class RuntimeMissing(FetaledgeError):
    """The Python package of a model's runtime is not installed here (the hint is the pip line)."""


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
            raise RuntimeMissing("onnxruntime is not installed", hint=RUNTIME_INSTALL["onnxruntime"]) from exc
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
        raise RuntimeMissing("no LiteRT interpreter is installed", hint=RUNTIME_INSTALL["litert"]) from exc


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


@dataclass(frozen=True)
class Skipped:
    """A model that was not opened, and why (``missing_runtime``: the fix is the pip line in ``hint``)."""

    model: str
    runtime: str
    reason: str
    hint: str | None
    missing_runtime: bool

    def line(self) -> str:
        fix = f" (fix: {self.hint})" if self.hint else ""
        return f"model {self.model!r} ({self.runtime}) skipped: {self.reason}{fix}"


def try_open(bundle_dir: Path, spec: ModelSpec, threads: int | None = None) -> Engine | Skipped:
    """The engine for one model, or a :class:`Skipped` saying why it cannot run here (runtime not installed, or
    the runtime refuses the file). Never raises for those two; other errors propagate.

    Example:
        >>> r = try_open(Path("bundle"), spec.models[0])   # doctest: +SKIP
        >>> r.line() if isinstance(r, Skipped) else "ok"   # doctest: +SKIP
    """
    try:
        return open_engine(bundle_dir, spec, threads)
    except RuntimeMissing as exc:
        return Skipped(spec.name, spec.runtime, exc.message, exc.hint, True)
    except FetaledgeError as exc:
        return Skipped(spec.name, spec.runtime, exc.message, exc.hint, False)


@dataclass(frozen=True)
class Opened:
    """The model that runs, its engine, and the models tried before it (in the bundle's order)."""

    model: ModelSpec
    engine: Engine
    skipped: tuple[Skipped, ...]

    @property
    def fell_back(self) -> bool:
        return bool(self.skipped)

    def note(self) -> str | None:
        """One line for the user when a model other than the primary runs; None otherwise."""
        if not self.skipped:
            return None
        why = "; ".join(s.line() for s in self.skipped)
        return f"running fallback model {self.model.name!r} ({self.model.runtime}, {self.model.precision}): {why}"


def open_first_runnable(bundle_dir: Path | str, spec: IqaSpec, model: str | None = None,
                        threads: int | None = None) -> Opened:
    """Open ``model`` if named (no fallback: the user asked for it), else the first model of the bundle whose
    runtime is installed and loads it, in the spec's order (primary first, the fp32 fallback last).

    Example:
        >>> o = open_first_runnable("bundle", load_bundle("bundle"))  # doctest: +SKIP
        >>> o.model.name, o.note()                                   # doctest: +SKIP
        ('student_fp32', "running fallback model 'student_fp32' ... no LiteRT interpreter is installed ...")
    """
    root = Path(bundle_dir)
    candidates: Sequence[ModelSpec] = (spec.model(model),) if model else spec.models
    skipped: list[Skipped] = []
    for m in candidates:
        r = try_open(root, m, threads)
        if not isinstance(r, Skipped):
            return Opened(m, r, tuple(skipped))
        skipped.append(r)
    hints = sorted({s.hint for s in skipped if s.hint and s.missing_runtime})
    raise FetaledgeError(
        f"no model of bundle {root} can run here: " + "; ".join(s.line() for s in skipped),
        hint=" or ".join(hints) if hints else "rebuild the bundle for this device (fetaledge build --target ...)",
    )
