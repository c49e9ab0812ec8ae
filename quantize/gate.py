"""The accuracy gate: an INT8 artifact ships only if its metric and its decisions stay with the fp32 model.

``evaluate_gate`` compares two score vectors on labelled validation data with a metric function the caller
hands in (the domain side passes its F1; this library knows no domain). ``quantize_gated`` quantizes, gates,
walks the backend's fallback recipes while the gate fails, records every attempt, and returns a result that
says whether it passed and why not. It never raises because a gate failed, and it never passes silently.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from quantize._io import write_text_atomic
from quantize.api import quantize
from quantize.artifact import QuantizedArtifact
from quantize.backends import get_backend, require
from quantize.errors import MissingExtraError, QuantizeError
from quantize.recipe import Recipe
from quantize.runners import kernel_config, run_artifact, run_onnx
from quantize.stats import sigmoid, wilson_interval

MetricFn = Callable[[np.ndarray, np.ndarray, float], float]
"""``metric_fn(scores, labels, threshold) -> float``, higher is better; positive means ``score >=
threshold``."""
Predict = Callable[[Path, np.ndarray], np.ndarray]
"""``predict(artifact_path, inputs) -> scores``: the caller's own runner for INT8 artifacts."""


@dataclasses.dataclass(frozen=True)
class ValidationSet:
    """Labelled validation inputs plus the decision threshold and metric the gate uses.

    ``inputs`` is ``(N, ...)`` like calibration data; scores and ``threshold`` live in the model's output
    space (e.g. logits and a logit threshold; ``logits=True`` makes the gate report probability differences).
    ``agreement_inputs`` are unlabelled inputs that the calibration did not use: the agreement check runs on them
    too (it needs no label), so the gate is decided on many frames, not on a small validation split.
    """

    inputs: np.ndarray
    labels: np.ndarray
    threshold: float
    metric_fn: MetricFn
    agreement_inputs: np.ndarray | None = None
    logits: bool = False

    def __post_init__(self) -> None:
        n_in, n_lab = len(self.inputs), len(self.labels)
        if n_in == 0 or n_in != n_lab:
            raise QuantizeError(f"validation needs as many inputs as labels (> 0); got {n_in} and {n_lab}")
        if self.agreement_inputs is not None and (
            len(self.agreement_inputs) == 0 or np.shape(self.agreement_inputs)[1:] != np.shape(self.inputs)[1:]
        ):
            raise QuantizeError(
                f"agreement_inputs must be a non-empty array of rows shaped like the validation inputs "
                f"{np.shape(self.inputs)[1:]}, got {np.shape(self.agreement_inputs)}"
            )
        if not math.isfinite(float(self.threshold)):
            raise QuantizeError(f"validation threshold must be finite, got {self.threshold}")


def scores_of(outputs: Any) -> np.ndarray:
    """One float score per sample from a runner's ``(N,)`` or ``(N, 1, ...)`` output."""
    arr = np.asarray(outputs, dtype=np.float64)
    if arr.ndim == 1:
        return arr
    flat = arr.reshape(arr.shape[0], -1)
    if flat.shape[1] != 1:
        raise QuantizeError(
            f"expected one score per sample, got outputs of shape {arr.shape}",
            hint="pass predict=... that returns one score per sample",
        )
    return flat[:, 0]


#: Frames whose fp32 probability lies within this distance of the threshold are "borderline": the ones that flip.
BORDERLINE = 0.1


@dataclasses.dataclass(frozen=True)
class GateResult:
    """Outcome of one gate check. ``drop`` = fp32 metric - int8 metric on the labelled validation split (positive
    is worse).

    ``agreement`` is the fraction of gate frames whose decision (score >= threshold) is the same for both models,
    over the validation frames plus the unlabelled agreement frames (``n`` of them, ``agreement_ci`` its Wilson
    95 % interval); ``agreement_borderline`` the same on the ``n_borderline`` frames whose fp32 probability is
    within :data:`BORDERLINE` of the threshold's. ``mean_abs_diff`` / ``max_abs_diff`` compare the two models'
    probabilities (sigmoid of logits) or raw scores. ``kernels`` says which integer kernels scored the INT8
    model. ``reasons`` lists every failed criterion (empty when ``passed``).
    """

    metric_fp32: float
    metric_int8: float
    drop: float
    agreement: float
    passed: bool
    reasons: tuple[str, ...]
    threshold: float
    max_drop: float
    min_agreement: float
    n: int
    n_flips: int
    score_corr: float | None
    n_val: int = 0
    agreement_ci: tuple[float, float] = (0.0, 1.0)
    n_borderline: int = 0
    agreement_borderline: float | None = None
    mean_abs_diff: float | None = None
    max_abs_diff: float | None = None
    diff_space: str = "score"
    kernels: str = "default"
    min_frames: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "reasons": list(self.reasons), "agreement_ci": list(self.agreement_ci)}


def evaluate_gate(
    fp32_scores: Any,
    int8_scores: Any,
    labels: Any,
    *,
    threshold: float,
    metric_fn: MetricFn,
    max_drop: float = 0.01,
    min_agreement: float = 0.99,
    agreement_fp32: Any = None,
    agreement_int8: Any = None,
    logits: bool = False,
    min_frames: int = 0,
    kernels: str = "default",
) -> GateResult:
    """Gate INT8 scores against fp32 scores: metric drop <= ``max_drop`` on the labelled frames, and decision
    agreement >= ``min_agreement`` over the labelled frames plus the unlabelled ``agreement_*`` scores (agreement
    needs no label, so every frame calibration did not use can count). Fewer than ``min_frames`` gate frames fail
    the gate: an agreement of 1.000 on 48 frames means little (its 95 % lower bound is 0.926).

    Example:
        >>> def acc(scores, labels, thr):
        ...     return float(np.mean((np.asarray(scores) >= thr) == np.asarray(labels)))
        >>> g = evaluate_gate([0.9, 0.1, 0.8], [-0.9, -0.1, -0.8], [1, 0, 1], threshold=0.5, metric_fn=acc)
        >>> g.passed, g.n_flips, len(g.reasons)
        (False, 2, 2)
    """
    ref, q = scores_of(fp32_scores), scores_of(int8_scores)
    y = np.asarray(labels).ravel()
    if not (ref.shape == q.shape == y.shape) or y.size == 0:
        raise QuantizeError(
            f"gate needs equal, non-empty lengths; got fp32 {ref.shape}, int8 {q.shape}, labels {y.shape}"
        )
    if (agreement_fp32 is None) != (agreement_int8 is None):
        raise QuantizeError("agreement frames need both fp32 and int8 scores")
    a_ref = ref if agreement_fp32 is None else np.concatenate([ref, scores_of(agreement_fp32)])
    a_q = q if agreement_int8 is None else np.concatenate([q, scores_of(agreement_int8)])
    if a_ref.shape != a_q.shape:
        raise QuantizeError(f"agreement frames: fp32 {a_ref.shape} vs int8 {a_q.shape} scores")
    reasons: list[str] = []
    finite = np.isfinite(a_q)
    if not finite.all():
        reasons.append(f"{int((~finite).sum())} of {a_q.size} INT8 scores are not finite")
    a_q_safe = np.where(finite, a_q, -np.inf)
    q_safe = a_q_safe[: y.size]
    m_ref = float(metric_fn(ref, y, threshold))
    m_q = float(metric_fn(q_safe, y, threshold))
    drop = m_ref - m_q
    flip = (a_ref >= threshold) != (a_q_safe >= threshold)
    flips = int(np.sum(flip))
    n = int(a_ref.size)
    agreement = 1.0 - flips / n
    if logits:
        p_ref, p_q, p_t = sigmoid(a_ref), sigmoid(a_q_safe), float(sigmoid(np.array([threshold]))[0])
        space = "probability"
    else:
        p_ref, p_q, p_t = a_ref, a_q_safe, float(threshold)
        space = "score"
    diff = np.abs(p_ref - p_q)
    border = np.abs(p_ref - p_t) <= BORDERLINE if logits else np.zeros(n, bool)
    if drop > max_drop + 1e-12:
        reasons.append(f"metric drop {drop:.4f} > max_drop {max_drop} (fp32 {m_ref:.4f} -> int8 {m_q:.4f})")
    if agreement < min_agreement - 1e-12:
        reasons.append(
            f"decision agreement {agreement:.4f} < min_agreement {min_agreement} "
            f"({flips} of {n} decisions flip at threshold {threshold:g})"
        )
    if n < min_frames:
        reasons.append(f"only {n} gate frames (< min_frames {min_frames}): too few to call the gate passed")
    corr = None
    if finite.all() and np.std(a_ref) > 0 and np.std(a_q) > 0:
        corr = float(np.corrcoef(a_ref, a_q)[0, 1])
    return GateResult(
        metric_fp32=m_ref,
        metric_int8=m_q,
        drop=drop,
        agreement=agreement,
        passed=not reasons,
        reasons=tuple(reasons),
        threshold=float(threshold),
        max_drop=float(max_drop),
        min_agreement=float(min_agreement),
        n=n,
        n_flips=flips,
        score_corr=corr,
        n_val=int(y.size),
        agreement_ci=wilson_interval(n - flips, n),
        n_borderline=int(border.sum()),
        agreement_borderline=None if not border.any() else float(1.0 - flip[border].mean()),
        mean_abs_diff=float(np.mean(diff[np.isfinite(diff)])) if np.isfinite(diff).any() else None,
        max_abs_diff=float(np.max(diff[np.isfinite(diff)])) if np.isfinite(diff).any() else None,
        diff_space=space,
        kernels=kernels,
        min_frames=int(min_frames),
    )


@dataclasses.dataclass(frozen=True)
class Attempt:
    """One recipe tried by :func:`quantize_gated`: its artifact and gate, or the error that stopped it."""

    index: int
    change: str
    recipe: Recipe
    artifact: QuantizedArtifact | None
    gate: GateResult | None
    error: str | None
    seconds: float

    @property
    def passed(self) -> bool:
        return self.gate is not None and self.gate.passed

    def to_dict(self) -> dict[str, Any]:
        art = None
        if self.artifact is not None:
            art = {k: v for k, v in self.artifact.to_dict().items() if k != "ops"}
        return {
            "index": self.index,
            "change": self.change,
            "passed": self.passed,
            "recipe": self.recipe.to_dict(),
            "artifact": art,
            "gate": None if self.gate is None else self.gate.to_dict(),
            "error": self.error,
            "seconds": self.seconds,
        }


@dataclasses.dataclass(frozen=True)
class GatedResult:
    """What :func:`quantize_gated` found. ``artifact`` is set only when an attempt passed the gate."""

    passed: bool
    artifact: QuantizedArtifact | None
    attempts: tuple[Attempt, ...]
    reasons: tuple[str, ...]
    report_path: Path

    @property
    def best_attempt(self) -> Attempt | None:
        """The gated attempt with the smallest metric drop (the one to look at when nothing passed)."""
        gated = [a for a in self.attempts if a.gate is not None]
        return min(gated, key=lambda a: (not a.passed, a.gate.drop, -a.gate.agreement)) if gated else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "artifact": None if self.artifact is None else str(self.artifact.path),
            "reasons": list(self.reasons),
            "attempts": [a.to_dict() for a in self.attempts],
        }


def _change(base: Recipe, other: Recipe) -> str:
    a, b = base.to_dict(), other.to_dict()
    diff = [f"{k}={json.dumps(b[k])}" for k in b if a.get(k) != b[k]]
    return ", ".join(diff) if diff else "as given"


def _reference_scores(
    inputs: np.ndarray, fp32_onnx: Path | None, torch_model: Any, threads: int
) -> np.ndarray:
    if fp32_onnx is not None:
        return scores_of(run_onnx(Path(fp32_onnx), inputs, threads))
    if torch_model is not None:
        import torch  # the litert backend needs torch anyway

        model = torch_model.eval()
        with torch.no_grad():
            outs = [
                model(torch.from_numpy(np.ascontiguousarray(inputs[i : i + 1]))).detach().cpu().numpy()
                for i in range(len(inputs))
            ]
        return scores_of(np.concatenate(outs, axis=0))
    raise QuantizeError(
        "no fp32 reference for the gate", hint="pass fp32_scores=, fp32_onnx= or torch_model="
    )


def quantize_gated(
    recipe: Recipe,
    *,
    calibration: np.ndarray,
    validation: ValidationSet,
    out_dir: Path,
    fp32_onnx: Path | None = None,
    torch_model: Any = None,
    example_input: Any = None,
    predict: Predict | None = None,
    fp32_scores: Any = None,
    max_drop: float = 0.01,
    min_agreement: float = 0.99,
    offending_types: Sequence[str] = (),
    threads: int = 1,
    name: str = "model",
    max_fallbacks: int | None = None,
    kernels: str = "default",
    min_frames: int = 0,
) -> GatedResult:
    """Quantize with ``recipe``; while the gate fails, try the backend's fallback recipes in order.

    Attempt *k* writes into ``out_dir/attempt<k>/``; ``out_dir/<name>.<backend>.gate.json`` records every
    attempt (recipe, artifact summary, gate numbers, reasons or error). INT8 scores come from ``predict`` or
    the built-in runner; the fp32 reference from ``fp32_scores``, else ``fp32_onnx`` (ONNX Runtime), else
    ``torch_model``. Fallbacks: nncf - full bias correction, + ignored ``offending_types``, + accuracy control
    (max_drop); onnxruntime - Entropy / Percentile calibration, per-channel; litert - per-tensor <->
    per-channel (``max_fallbacks`` caps how many are tried). ``kernels="exact"`` scores ONNX artifacts with ONNX
    Runtime's int32-exact x86 kernels (what ARM dot-product cores compute); the gate result records which.
    ``min_frames``: fewer gate frames (validation + ``validation.agreement_inputs``) fail the gate. An attempt
    whose artifact has no integer op
    fails the gate (an "INT8" model that is all float is not INT8). A missing optional dependency raises
    :class:`MissingExtraError`; gate failures never raise.

    Example:
        >>> from mylib.metrics import f1_score  # doctest: +SKIP
        >>> val = ValidationSet(x_val, y_val, threshold=0.3, metric_fn=f1_score)  # doctest: +SKIP
        >>> res = quantize_gated(NNCFRecipe(), fp32_onnx=onnx_path, calibration=x_cal, validation=val,
        ...                      out_dir=Path("out/int8"), offending_types=("Softmax",))  # doctest: +SKIP
        >>> res.passed, [a.change for a in res.attempts]  # doctest: +SKIP
        (True, ['as given'])
    """
    backend = get_backend(recipe.BACKEND)
    require(recipe.BACKEND)
    if backend.RUNTIME == "onnxruntime" and fp32_onnx is None:
        raise QuantizeError(f"backend {recipe.BACKEND!r} needs fp32_onnx", hint="pass fp32_onnx=PATH")
    if backend.RUNTIME == "litert" and (torch_model is None or example_input is None):
        raise QuantizeError("backend 'litert' needs torch_model and example_input")
    out_dir = Path(out_dir)
    kernel_config(kernels)
    extra = validation.agreement_inputs
    gate_inputs = validation.inputs if extra is None else np.concatenate([validation.inputs, extra])
    if fp32_scores is not None:
        ref = scores_of(fp32_scores)
        if ref.shape[0] != len(gate_inputs):
            raise QuantizeError(f"fp32_scores has {ref.shape[0]} rows, the gate has {len(gate_inputs)} inputs")
    else:
        ref = _reference_scores(gate_inputs, fp32_onnx, torch_model, threads)
    n_val = len(validation.labels)
    plan = [recipe, *backend.fallbacks(recipe, offending_types=tuple(offending_types), max_drop=max_drop)]
    if max_fallbacks is not None:  # a quick run (CI) may cap the fallbacks; the report still lists each attempt
        plan = plan[: 1 + max(0, max_fallbacks)]
    attempts: list[Attempt] = []
    for k, candidate in enumerate(plan):
        start = time.perf_counter()
        artifact, gate, error = None, None, None
        try:
            artifact = quantize(
                candidate,
                calibration=calibration,
                out_dir=out_dir / f"attempt{k}",
                fp32_onnx=fp32_onnx,
                torch_model=torch_model,
                example_input=example_input,
                validation=validation,
                name=name,
            )
            raw = scores_of(
                predict(artifact.path, gate_inputs)
                if predict
                else run_artifact(artifact.path, gate_inputs, threads, kernels=kernels)
            )
            gate = evaluate_gate(
                ref[:n_val],
                raw[:n_val],
                validation.labels,
                threshold=validation.threshold,
                metric_fn=validation.metric_fn,
                max_drop=max_drop,
                min_agreement=min_agreement,
                agreement_fp32=None if extra is None else ref[n_val:],
                agreement_int8=None if extra is None else raw[n_val:],
                logits=validation.logits,
                min_frames=min_frames,
                kernels="predict" if predict else kernels,
            )
            if artifact.n_integer_ops == 0:
                gate = dataclasses.replace(
                    gate,
                    passed=False,
                    reasons=(*gate.reasons, "the artifact has no integer operator: nothing was quantized"),
                )
        except MissingExtraError:
            raise
        except Exception as exc:  # noqa: BLE001 - a failed attempt is recorded, the next fallback runs
            error = f"{type(exc).__name__}: {exc}"
        attempts.append(
            Attempt(
                index=k,
                change=_change(recipe, candidate),
                recipe=candidate,
                artifact=artifact,
                gate=gate,
                error=error,
                seconds=round(time.perf_counter() - start, 3),
            )
        )
        if gate is not None and gate.passed:
            break
    passed = bool(attempts and attempts[-1].passed)
    reasons: list[str] = []
    if not passed:
        for a in attempts:
            why = a.error if a.error else "; ".join(a.gate.reasons if a.gate else ())
            reasons.append(f"attempt {a.index} ({a.change}): {why}")
    report_path = out_dir / f"{name}.{recipe.BACKEND}.gate.json"
    result = GatedResult(
        passed=passed,
        artifact=attempts[-1].artifact if passed else None,
        attempts=tuple(attempts),
        reasons=tuple(reasons),
        report_path=report_path,
    )
    write_text_atomic(report_path, json.dumps(result.to_dict(), indent=2) + "\n")
    return result
