"""Per-tensor quantization error of an INT8 artifact against its fp32 parent, worst first.

Both models run on the same inputs with every quantized activation exposed as an extra output. For each
activation tensor ``x`` that the INT8 graph quantizes (``x -> QuantizeLinear -> DequantizeLinear -> x'`` in QDQ
ONNX; a tensor of the same name in a .tflite pair), two numbers:

``local``  SQNR of ``x'`` against ``x`` *inside the INT8 model*: the error this one quantizer adds (a bad scale or
           range shows here, wherever it sits in the graph);
``drift``  SQNR of ``x'`` against the fp32 model's ``x``: everything accumulated up to this point.

SQNR in dB is ``10 log10(sum(ref^2) / sum((ref - q)^2))``; higher is better (8-bit uniform noise on a
full-range signal is ~40 dB; under ~15 dB a layer is broken). Rows are sorted by ``local`` then ``drift``.
Weights are reported too (dequantized weight against the fp32 initializer), where the names can be matched.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from quantize.census import _import_onnx, constant_arrays
from quantize.errors import QuantizeError
from quantize.runners import onnx_session, tflite_io_specs, to_input_dtype


def sqnr_db(ref: np.ndarray, q: np.ndarray) -> float:
    """Signal-to-quantization-noise ratio in dB (inf when equal, -inf when the reference is all zero but q is not).

    Example:
        >>> round(sqnr_db(np.array([1.0, -1.0]), np.array([1.1, -0.9])), 1)
        20.0
    """
    ref = np.asarray(ref, np.float64).ravel()
    q = np.asarray(q, np.float64).ravel()
    if ref.shape != q.shape:
        raise QuantizeError(f"sqnr_db: shapes differ, {ref.shape} vs {q.shape}")
    noise = float(np.sum((ref - q) ** 2))
    signal = float(np.sum(ref**2))
    if noise == 0.0:
        return math.inf
    if signal == 0.0:
        return -math.inf
    return 10.0 * math.log10(signal / noise)


@dataclasses.dataclass(frozen=True)
class TensorError:
    """One quantized tensor: where it is, its SQNR (dB) locally and against fp32, and its max abs error."""

    tensor: str
    kind: str  # "activation" | "weight"
    producer: str  # op type (and node name) that makes the fp32 tensor
    local_sqnr_db: float
    drift_sqnr_db: float | None
    max_abs_err: float
    ref_abs_max: float
    scale: float | None

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        for k in ("local_sqnr_db", "drift_sqnr_db"):
            if isinstance(out[k], float) and not math.isfinite(out[k]):
                out[k] = str(out[k])
        return out


@dataclasses.dataclass(frozen=True)
class DiagnoseReport:
    """Per-tensor errors (worst first) and the output error of the INT8 artifact against fp32."""

    int8_model: str
    fp32_model: str
    runtime: str
    n_inputs: int
    rows: tuple[TensorError, ...]
    output_sqnr_db: float
    output_max_abs_err: float
    notes: tuple[str, ...] = ()

    @property
    def worst(self) -> TensorError | None:
        return self.rows[0] if self.rows else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "int8_model": self.int8_model,
            "fp32_model": self.fp32_model,
            "runtime": self.runtime,
            "n_inputs": self.n_inputs,
            "output_sqnr_db": self.output_sqnr_db if math.isfinite(self.output_sqnr_db) else str(self.output_sqnr_db),
            "output_max_abs_err": self.output_max_abs_err,
            "notes": list(self.notes),
            "rows": [r.to_dict() for r in self.rows],
        }

    def to_markdown(self, top: int = 25) -> str:
        """A table of the ``top`` worst tensors."""

        def db(v: float | None) -> str:
            return "-" if v is None else ("inf" if v == math.inf else f"{v:.1f}")

        lines = [
            f"# INT8 diagnosis: {Path(self.int8_model).name} vs {Path(self.fp32_model).name}",
            "",
            f"{self.runtime}, {self.n_inputs} inputs. Output SQNR {db(self.output_sqnr_db)} dB, max |err| "
            f"{self.output_max_abs_err:.4g}. local = error of this quantizer alone; drift = vs the fp32 model "
            "(accumulated). Worst first.",
            "",
            "| # | tensor | kind | producer | local SQNR dB | drift SQNR dB | max abs err | ref abs max | scale |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for i, r in enumerate(self.rows[:top]):
            scale = "-" if r.scale is None else f"{r.scale:.3g}"
            lines.append(
                f"| {i + 1} | `{r.tensor}` | {r.kind} | {r.producer} | {db(r.local_sqnr_db)} | {db(r.drift_sqnr_db)} "
                f"| {r.max_abs_err:.4g} | {r.ref_abs_max:.4g} | {scale} |"
            )
        lines += [f"- {n}" for n in self.notes]
        return "\n".join(lines) + "\n"

    def save(self, out_dir: Path, name: str = "diagnose") -> tuple[Path, Path]:
        """Write ``<name>.json`` and ``<name>.md`` into ``out_dir`` (atomically)."""
        from quantize._io import write_text_atomic

        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        j = write_text_atomic(out_dir / f"{name}.json", json.dumps(self.to_dict(), indent=2) + "\n")
        m = write_text_atomic(out_dir / f"{name}.md", self.to_markdown())
        return j, m


def _sort_key(r: TensorError) -> tuple[float, float]:
    return (r.local_sqnr_db, r.drift_sqnr_db if r.drift_sqnr_db is not None else math.inf)


# --- ONNX (QDQ) ------------------------------------------------------------------------------------------------
def _qdq_pairs(graph: Any, consts: dict[str, np.ndarray]) -> list[tuple[str, str, str, str]]:
    """(x, x_dq, q_scale_name, producer) for every activation ``x -> Q -> DQ -> x_dq`` of a QDQ graph whose
    constants are ``consts``."""
    consumers: dict[str, list[Any]] = {}
    producer: dict[str, Any] = {}
    for n in graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
        for o in n.output:
            producer[o] = n
    pairs = []
    for n in graph.node:
        if n.op_type != "QuantizeLinear" or n.input[0] in consts:
            continue
        dqs = [c for c in consumers.get(n.output[0], []) if c.op_type == "DequantizeLinear"]
        if not dqs:
            continue
        src = producer.get(n.input[0])
        prod = f"{src.op_type} {src.name}" if src is not None else "graph input"
        pairs.append((n.input[0], dqs[0].output[0], n.input[1], prod))
    return pairs


def _fused_clips(fp32_graph: Any, int8_graph: Any) -> dict[str, tuple[float, float]]:
    """Tensors that an fp32 Relu/Clip makes but the INT8 graph does not: ONNX Runtime's quantizer drops an activation
    whose range the quantizer's own range clips (Conv -> Relu6 -> Q becomes Conv -> Q[0, 6]), keeping the name. Their
    local reference is the pre-QDQ value clipped like the fp32 op, or the clipping would count as error."""
    consts = constant_arrays(fp32_graph)
    q_producer = {o: n.op_type for n in int8_graph.node for o in n.output}
    out: dict[str, tuple[float, float]] = {}
    for n in fp32_graph.node:
        if n.op_type not in ("Relu", "Clip") or q_producer.get(n.output[0]) == n.op_type:
            continue
        lo, hi = (0.0, math.inf) if n.op_type == "Relu" else (-math.inf, math.inf)
        if n.op_type == "Clip":
            if len(n.input) > 1 and n.input[1] in consts:
                lo = float(np.ravel(consts[n.input[1]])[0])
            if len(n.input) > 2 and n.input[2] in consts:
                hi = float(np.ravel(consts[n.input[2]])[0])
        out[n.output[0]] = (lo, hi)
    return out


def _with_outputs(model: Any, names: list[str]) -> bytes:
    onnx = _import_onnx("diagnose")
    have = {o.name for o in model.graph.output}
    for name in names:
        if name not in have:
            model.graph.output.append(onnx.helper.make_empty_tensor_value_info(name))
            have.add(name)
    return model.SerializeToString()


def _run_all(model_bytes: bytes, names: list[str], inputs: np.ndarray, threads: int,
             session_config: dict[str, str] | None = None) -> dict[str, np.ndarray]:
    sess = onnx_session(model_bytes, threads, session_config=session_config)
    from quantize.runners import onnx_io_specs

    in_specs, _ = onnx_io_specs(model_bytes, sess)
    feed_name = in_specs[0].name
    out: dict[str, list[np.ndarray]] = {n: [] for n in names}
    for i in range(len(inputs)):
        vals = sess.run(names, {feed_name: to_input_dtype(inputs[i : i + 1], in_specs[0])})
        for n, v in zip(names, vals, strict=True):
            out[n].append(np.asarray(v, np.float32))
    return {n: np.concatenate([v.reshape(1, -1) for v in vs], axis=0) for n, vs in out.items()}


def _weight_rows(f_inits: dict[str, np.ndarray], int8: Any, q_inits: dict[str, np.ndarray]) -> list[TensorError]:
    rows = []
    for n in int8.graph.node:
        if n.op_type != "DequantizeLinear" or n.input[0] not in q_inits:
            continue
        qname = n.input[0]
        base = next((qname[: -len(s)] for s in ("_quantized", "_zero_point", "_quantize") if qname.endswith(s)), qname)
        ref = f_inits.get(base)
        q = q_inits[qname]
        if ref is None or ref.shape != q.shape or n.input[1] not in q_inits:
            continue
        scale = q_inits[n.input[1]].astype(np.float64)
        zp = q_inits[n.input[2]].astype(np.float64) if len(n.input) > 2 and n.input[2] in q_inits else 0.0
        axis = next((a.i for a in n.attribute if a.name == "axis"), 1)
        if np.ndim(scale) == 1 and scale.size > 1:
            shape = [1] * q.ndim
            shape[axis] = -1
            scale, zp = scale.reshape(shape), np.reshape(zp, shape) if np.ndim(zp) else zp
        deq = (q.astype(np.float64) - zp) * scale
        rows.append(TensorError(base, "weight", "initializer", sqnr_db(ref, deq), None,
                                float(np.max(np.abs(ref - deq))), float(np.max(np.abs(ref))),
                                float(np.ravel(scale)[0]) if np.size(scale) == 1 else None))
    return rows


def diagnose_onnx(int8_path: Path, fp32_path: Path, inputs: np.ndarray, *, threads: int = 1,
                  session_config: dict[str, str] | None = None) -> DiagnoseReport:
    """Per-tensor SQNR of a QDQ ONNX artifact against its fp32 ONNX parent on ``inputs`` (rows = samples).

    ``session_config`` are ONNX Runtime session config entries for the INT8 run (e.g.
    ``{"session.x64quantprecision": "1"}`` for exact x86 kernels; see :data:`quantize.runners.EXACT_X86`).

    Example:
        >>> rep = diagnose_onnx(Path("model.onnxruntime.int8.onnx"), Path("model.onnx"), frames[:16])  # doctest: +SKIP
        >>> rep.worst.tensor  # doctest: +SKIP
        '/net/conv_stem/Conv_output_0'
    """
    onnx = _import_onnx("diagnose")
    int8_path, fp32_path = Path(int8_path), Path(fp32_path)
    for p in (int8_path, fp32_path):
        if not p.is_file():
            raise QuantizeError(f"model not found: {p}")
    inputs = np.asarray(inputs)
    if inputs.ndim < 1 or len(inputs) == 0:
        raise QuantizeError("diagnose needs at least one input row")
    q_model, f_model = onnx.load(str(int8_path)), onnx.load(str(fp32_path))
    q_inits = constant_arrays(q_model.graph)
    pairs = _qdq_pairs(q_model.graph, q_inits)
    if not pairs:
        raise QuantizeError(f"{int8_path} has no QuantizeLinear -> DequantizeLinear on an activation: not a QDQ model")
    f_names = {o for n in f_model.graph.node for o in n.output} | {i.name for i in f_model.graph.input}
    q_out = q_model.graph.output[0].name
    f_out = f_model.graph.output[0].name
    q_names = sorted({q_out, *(x for x, *_ in pairs), *(d for _, d, *_ in pairs)})
    f_want = sorted({f_out, *(x for x, *_ in pairs if x in f_names)})
    q_vals = _run_all(_with_outputs(q_model, q_names), q_names, inputs, threads, session_config)
    f_vals = _run_all(_with_outputs(f_model, f_want), f_want, inputs, threads)
    clips = _fused_clips(f_model.graph, q_model.graph)
    rows = []
    for x, dq, scale_name, prod in pairs:
        ref_local, qv = q_vals[x], q_vals[dq]
        if x in clips:
            ref_local = np.clip(ref_local, *clips[x])
            prod = f"{prod} (+ fused clip)"
        drift = sqnr_db(f_vals[x], qv) if x in f_vals else None
        scale = q_inits.get(scale_name)
        rows.append(TensorError(x, "activation", prod, sqnr_db(ref_local, qv), drift,
                                float(np.max(np.abs(ref_local - qv))), float(np.max(np.abs(ref_local))),
                                float(np.ravel(scale)[0]) if scale is not None and np.size(scale) == 1 else None))
    rows += _weight_rows(constant_arrays(f_model.graph), q_model, q_inits)
    rows.sort(key=_sort_key)
    notes = []
    unmatched = sum(1 for x, *_ in pairs if x not in f_vals)
    if unmatched:
        notes.append(f"{unmatched} quantized tensors have no tensor of the same name in the fp32 model (no drift)")
    return DiagnoseReport(str(int8_path), str(fp32_path), "onnxruntime", int(len(inputs)), tuple(rows),
                          sqnr_db(f_vals[f_out], q_vals[q_out]),
                          float(np.max(np.abs(f_vals[f_out] - q_vals[q_out]))), tuple(notes))


# --- LiteRT ----------------------------------------------------------------------------------------------------
def _tflite_tensors(path: Path, inputs: np.ndarray) -> tuple[dict[str, np.ndarray], dict[str, float | None], str]:
    """Every non-constant tensor (dequantized, flattened per input row) of a .tflite run, by name."""
    from quantize.runners import _interpreter_cls, _tflite_spec

    cls = _interpreter_cls()
    it = cls(model_path=str(path), num_threads=1, experimental_preserve_all_tensors=True,
             experimental_op_resolver_type=_reference_resolver())
    it.allocate_tensors()
    ins, outs = tflite_io_specs(path, it)
    details = [d for d in it.get_tensor_details() if d.get("name")]
    acc: dict[str, list[np.ndarray]] = {}
    scales: dict[str, float | None] = {}
    in_detail = it.get_input_details()[0]
    for i in range(len(inputs)):
        it.set_tensor(in_detail["index"], to_input_dtype(inputs[i : i + 1], ins[0]))
        it.invoke()
        for d in details:
            try:
                v = it.get_tensor(d["index"])
            except ValueError:  # a tensor without data (freed, or a constant kept in a delegate)
                continue
            spec = _tflite_spec(d)
            arr = v.astype(np.float32)
            if spec.scale is not None:
                arr = (arr - np.float32(spec.zero_point)) * np.float32(spec.scale)
            scales[d["name"]] = spec.scale
            acc.setdefault(d["name"], []).append(arr.reshape(1, -1))
    return {k: np.concatenate(v) for k, v in acc.items() if len(v) == len(inputs)}, scales, outs[0].name


def _reference_resolver() -> Any:
    from ai_edge_litert.interpreter import OpResolverType

    # The builtin resolver without default delegates: XNNPACK would hide intermediate tensors.
    return OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES


def _op_outputs(path: Path) -> list[tuple[str, str]]:
    """(op type, output tensor name) of every compute op of a .tflite in execution order; QUANTIZE / DEQUANTIZE
    (what INT8 adds) are left out so that the fp32 and INT8 sequences line up."""
    from quantize.runners import _interpreter_cls

    it = _interpreter_cls()(model_path=str(path), num_threads=1,
                            experimental_op_resolver_type=_reference_resolver())
    it.allocate_tensors()
    names = {d["index"]: d.get("name", "") for d in it.get_tensor_details()}
    out = []
    for op in it._get_ops_details():  # noqa: SLF001 - the only op-level view ai-edge-litert exposes
        if op["op_name"] in ("QUANTIZE", "DEQUANTIZE") or not len(op["outputs"]):
            continue
        out.append((op["op_name"], names.get(int(op["outputs"][0]), "")))
    return out


def _tensor_pairs(int8_path: Path, fp32_path: Path) -> dict[str, tuple[str, str]]:
    """INT8 tensor name -> (fp32 tensor name, "OP #k"): by name where litert-torch kept it, else by the position of
    the producing op in the two models' compute-op sequences (aligned with difflib where they differ)."""
    import difflib

    f_ops, q_ops = _op_outputs(fp32_path), _op_outputs(int8_path)
    pairs: dict[str, tuple[str, str]] = {}
    seen: dict[str, int] = {}
    labels = []
    for t, _ in q_ops:
        seen[t] = seen.get(t, 0) + 1
        labels.append(f"{t} #{seen[t]}")
    f_names = {n for _, n in f_ops}
    for (_, name), label in zip(q_ops, labels, strict=True):
        if name in f_names:
            pairs[name] = (name, label)
    matcher = difflib.SequenceMatcher(None, [t for t, _ in f_ops], [t for t, _ in q_ops], autojunk=False)
    for block in matcher.get_matching_blocks():
        for k in range(block.size):
            q_name = q_ops[block.b + k][1]
            pairs.setdefault(q_name, (f_ops[block.a + k][1], labels[block.b + k]))
    return pairs


def _short(name: str, keep: int = 3) -> str:
    """The last ``keep`` scopes of a litert-torch tensor name without their Python module paths
    ("a.b.Sequential_blocks/c.InvertedResidual_1/d.Conv2d_conv_pw;" -> "Sequential_blocks/InvertedResidual_1/...")."""
    parts = [p.rsplit(".", 1)[-1] for p in name.rstrip(";").split(";")[0].split("/") if p]
    return "/".join(parts[-keep:]) or name


def diagnose_tflite(int8_path: Path, fp32_path: Path, inputs: np.ndarray) -> DiagnoseReport:
    """Per-tensor SQNR of an INT8 .tflite against the fp32 .tflite of the same torch model. Tensors are paired by
    name where litert-torch kept the torch name in both, else by the position of their producing op among the
    compute ops (QUANTIZE / DEQUANTIZE left out): the i-th CONV_2D of one model is the i-th of the other. No local
    error exists in a .tflite (the quantized tensor is all there is): ``local`` is the drift there."""
    int8_path, fp32_path = Path(int8_path), Path(fp32_path)
    for p in (int8_path, fp32_path):
        if not p.is_file():
            raise QuantizeError(f"model not found: {p}")
    q_vals, q_scales, q_out = _tflite_tensors(int8_path, inputs)
    f_vals, _, f_out = _tflite_tensors(fp32_path, inputs)
    pairs = _tensor_pairs(int8_path, fp32_path)
    rows = []
    by_name = by_position = 0
    for name, qv in q_vals.items():
        if q_scales.get(name) is None or name not in pairs:
            continue
        f_name, label = pairs[name]
        ref = f_vals.get(f_name)
        if ref is None or ref.shape != qv.shape:
            continue
        by_name += f_name == name
        by_position += f_name != name
        s = sqnr_db(ref, qv)
        rows.append(TensorError(f"{label}: {_short(name)}", "activation", "tflite tensor", s, s,
                                float(np.max(np.abs(ref - qv))), float(np.max(np.abs(ref))), q_scales[name]))
    rows.sort(key=_sort_key)
    n_quant = sum(1 for v in q_scales.values() if v is not None)
    notes = [f"{len(rows)} of {n_quant} quantized tensors matched ({by_name} by name, {by_position} by op position)"]
    return DiagnoseReport(str(int8_path), str(fp32_path), "litert", int(len(inputs)), tuple(rows),
                          sqnr_db(f_vals[f_out], q_vals[q_out]), float(np.max(np.abs(f_vals[f_out] - q_vals[q_out]))),
                          tuple(notes))


def diagnose(int8_path: Path, fp32_path: Path, inputs: np.ndarray, *, threads: int = 1,
             session_config: dict[str, str] | None = None) -> DiagnoseReport:
    """:func:`diagnose_onnx` or :func:`diagnose_tflite` by file extension (both models of the same kind).

    Example:
        >>> print(diagnose(Path("m.int8.onnx"), Path("m.onnx"), x[:16]).to_markdown(top=5))  # doctest: +SKIP
    """
    a, b = Path(int8_path).suffix.lower(), Path(fp32_path).suffix.lower()
    if a != b:
        raise QuantizeError(f"diagnose compares models of one kind; got {a} and {b}",
                            hint="pass the fp32 .onnx for an .onnx artifact, the fp32 .tflite for a .tflite one")
    if a == ".onnx":
        return diagnose_onnx(int8_path, fp32_path, inputs, threads=threads, session_config=session_config)
    if a == ".tflite":
        return diagnose_tflite(int8_path, fp32_path, inputs)
    raise QuantizeError(f"diagnose: unsupported model type {a!r} (expected .onnx or .tflite)")
