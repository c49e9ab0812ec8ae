"""The domain side of INT8: calibration and validation frames from the cache, the F1 gate, one run per backend.

``quantize/`` knows nothing of ultrasound; this module hands it raw frames (the artifacts take the raw uint8
frame), the student's validation-calibrated threshold (as a logit) and ``fetaledge.metrics.f1_score``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fetaledge.data.cache import FrameCache
from fetaledge.data.raw import raw_frames_at
from fetaledge.errors import FetaledgeError
from fetaledge.fsio import ensure_writable_dir, write_json
from fetaledge.metrics import f1_score

BACKENDS = ("nncf", "onnxruntime", "litert")
# The preprocessing submodules of the raw-frame model (the resampling MatMuls, normalisation) stay float:
# quantizing the resampled pixels to 8 bits per tensor would throw away contrast before the network sees it.
PREPROCESS_SCOPES = ("resample", "to_input")


@dataclass
class QuantizeData:
    calibration: np.ndarray  # raw frames (n, H, W) uint8, train split, stratified by class and sweep
    calibration_index: np.ndarray
    val_frames: np.ndarray
    val_targets: np.ndarray


def select_frames(cache: FrameCache, n_calibration: int = 300, max_val: int = 3000, seed: int = 0) -> QuantizeData:
    """The SAME calibration frames for every backend, and the validation frames of the gate."""
    from quantize import select_calibration

    train = cache.load("train")
    groups = train.case * 10 + train.sweep
    idx = select_calibration(train.targets.astype(int), groups, n=min(n_calibration, len(train.labels)), seed=seed)
    cal = raw_frames_at(cache, "train", idx)
    val = cache.load("val")
    vidx = np.arange(len(val.labels))
    if len(vidx) > max_val:
        vidx = np.sort(select_calibration(val.targets.astype(int), val.case * 10 + val.sweep, n=max_val, seed=seed,
                                          balance="proportional"))
    return QuantizeData(cal, np.asarray(idx), raw_frames_at(cache, "val", vidx), val.targets[vidx].astype(int))


#: Roles a target's ``keep_float`` may name instead of module paths, resolved on the student at hand: "@stem" is
#: the first convolution (measured: on real pixels the noise of its 8-bit input, amplified by BN-folded high-pass
#: filters, was half of the INT8 output error), "@first:N" the first N convolutions, "@head" the last linear layer.
ROLES = ("@stem", "@first:N", "@head")


def resolve_scopes(model: Any, scopes: tuple[str, ...] | list[str]) -> list[str]:
    """Module paths for ``scopes``: roles ("@stem", "@head") become the student's own module names.

    Example:
        >>> resolve_scopes(raw_model, ["@stem", "resample"])  # doctest: +SKIP
        ['classifier.net.conv_stem', 'resample']
    """
    import torch

    convs = [n for n, m in model.named_modules() if isinstance(m, torch.nn.Conv2d)]
    linears = [n for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)]
    out: list[str] = []
    for s in scopes:
        if s == "@stem":
            if not convs:
                raise FetaledgeError("keep_float '@stem': the student has no Conv2d")
            out.append(convs[0])
        elif s.startswith("@first:"):
            try:
                k = int(s.split(":", 1)[1])
            except ValueError:
                raise FetaledgeError(f"keep_float role {s!r}: N must be an integer, e.g. @first:3") from None
            if not 1 <= k <= len(convs):
                raise FetaledgeError(f"keep_float role {s!r}: the student has {len(convs)} convolutions")
            out += convs[:k]
        elif s == "@head":
            if not linears:
                raise FetaledgeError("keep_float '@head': the student has no Linear layer")
            out.append(linears[-1])
        elif s.startswith("@"):
            raise FetaledgeError(f"unknown keep_float role {s!r}", hint=f"roles: {', '.join(ROLES)}, or a module path")
        else:
            out.append(s)
    return list(dict.fromkeys(out))


def make_recipe(backend: str, overrides: dict[str, Any], model: Any = None):
    """The backend's recipe from a target's dict, with the preprocessing submodules kept in float and the target's
    ``keep_float`` roles resolved on ``model`` (the same scopes for every backend).

    Example:
        >>> make_recipe("onnxruntime", {"data_types": "S8S8"}).keep_float
        ('resample', 'to_input')
    """
    from quantize import recipe_from_dict

    d = {"backend": backend, **{k: v for k, v in overrides.items() if k != "backend"}}
    wanted = list(d.get("keep_float", []))
    if model is not None:
        wanted = resolve_scopes(model, wanted)
    elif any(s.startswith("@") for s in wanted):
        raise FetaledgeError(f"keep_float roles {wanted} need the student model to resolve")
    d["keep_float"] = [*PREPROCESS_SCOPES, *(k for k in wanted if k not in PREPROCESS_SCOPES)]
    return recipe_from_dict(d)


def quantize_student(*, model_dir: Path, fp32_onnx: Path, cache: FrameCache, out_dir: Path,
                     backends: tuple[str, ...] = BACKENDS, recipes: dict[str, dict] | None = None,
                     n_calibration: int = 300, max_drop: float = 0.01, min_agreement: float = 0.99,
                     raw_hw: tuple[int, int] = (562, 744), max_fallbacks: int | None = None,
                     kernels: str = "default", min_gate_frames: int = 200, agreement_copies: int = 2,
                     agreement_cap: int = 600, diagnose: bool = True, qat: bool = False,
                     log=print) -> dict[str, Any]:
    """Quantize the exported student with each backend behind the accuracy gate; write ``quantize.json``.

    The gate: F1 drop <= ``max_drop`` on the labelled validation split, and decision agreement with fp32 >=
    ``min_agreement`` on the validation frames plus every train frame the calibration did not use and
    ``agreement_copies`` augmented copies of each calibration frame (:mod:`fetaledge.gate_frames`, at most
    ``agreement_cap``, borderline frames first); fewer than ``min_gate_frames`` gate frames fail it. ONNX artifacts
    are scored with ``kernels`` ("exact": ONNX Runtime's int32-exact x86 kernels, standing in for an ARM target's
    dot-product kernels; "default": this host's own). ``diagnose`` also writes each backend's per-tensor error
    report (:func:`diagnose_student`). ``qat``: a backend whose post-training attempts all fail the gate gets one
    more try on quantization-aware fine-tuned weights (:func:`qat_student`, made once, shared by the backends),
    gated against the ORIGINAL fp32 model.

    Returns ``{backend: {passed, artifact, gate, attempts, size_bytes, float_ops, ...}}``. A backend whose
    extra is missing is reported as skipped with the ``pip install`` that fixes it; a backend that fails the
    gate after its fallbacks is reported as failed (never shipped), with its reasons.

    Example:
        >>> quantize_student(model_dir=Path("work/student/model"), fp32_onnx=Path("work/export/student.onnx"),
        ...                  cache=FrameCache("work/cache"), out_dir=Path("work/quant"))  # doctest: +SKIP
    """
    import torch

    from fetaledge.export.pipeline import raw_model_from_dir
    from fetaledge.gate_frames import agreement_frames
    from quantize import MissingExtraError, ValidationSet, quantize_gated, run_onnx

    unknown = [b for b in backends if b not in BACKENDS]
    if unknown:
        raise FetaledgeError(f"unknown quantization backend(s) {unknown}", hint=f"use {', '.join(BACKENDS)} or all")
    out_dir = ensure_writable_dir(Path(out_dir))
    model, cfg = raw_model_from_dir(model_dir, raw_hw)
    t = float(cfg["threshold"])
    logit_threshold = math.log(t / (1 - t)) if 0 < t < 1 else (-1e9 if t <= 0 else 1e9)
    data = select_frames(cache, n_calibration)
    n_pos = int((cache.load("train").targets[data.calibration_index] > 0).sum())
    extra, extra_info = agreement_frames(cache, data.calibration_index, copies=agreement_copies, cap=agreement_cap,
                                         score=lambda x: run_onnx(fp32_onnx, x, threads=0),
                                         threshold=t)
    n_gate = len(data.val_frames) + len(extra)
    log(f"calibration: {len(data.calibration)} train frames ({n_pos} positive); gate: F1 on {len(data.val_frames)} "
        f"val frames, agreement on {n_gate} frames ({extra_info}), threshold p>={t:.4f}, kernels {kernels}")
    validation = ValidationSet(data.val_frames, data.val_targets, logit_threshold, f1_score,
                               agreement_inputs=extra if len(extra) else None, logits=True)
    summary: dict[str, Any] = {"threshold": t, "logit_threshold": logit_threshold,
                               "n_calibration": int(len(data.calibration)), "n_val": int(len(data.val_frames)),
                               "n_gate": int(n_gate), "gate_frames": extra_info, "kernels": kernels,
                               "min_gate_frames": int(min_gate_frames),
                               "calibration_index": data.calibration_index.tolist(), "backends": {}}
    qat_cache: dict[str, Any] = {}  # one QAT fine-tune serves every backend
    for b in backends:
        recipe = make_recipe(b, (recipes or {}).get(b, {}), model)
        log(f"[{b}] quantizing with {recipe.to_dict()}")
        try:
            res = quantize_gated(recipe, calibration=data.calibration, validation=validation, out_dir=out_dir / b,
                                 fp32_onnx=fp32_onnx if b != "litert" else None,
                                 torch_model=model if b == "litert" else None,
                                 example_input=torch.from_numpy(data.calibration[:1]) if b == "litert" else None,
                                 max_drop=max_drop, min_agreement=min_agreement, name="student",
                                 max_fallbacks=max_fallbacks, kernels=kernels, min_frames=min_gate_frames,
                                 offending_types=("Softmax", "LayerNormalization", "Gelu", "HardSwish",
                                                  "HardSigmoid", "Sigmoid"))
        except MissingExtraError as exc:
            summary["backends"][b] = {"passed": False, "skipped": str(exc)}
            log(f"[{b}] skipped: {exc}")
            continue
        if qat and not res.passed:
            res = _qat_attempt(b, recipe, res, cache=qat_cache, model=model, data=data, validation=validation,
                               out_dir=out_dir, agreement=extra, fp32_onnx=fp32_onnx, max_drop=max_drop,
                               min_agreement=min_agreement, kernels=kernels, min_frames=min_gate_frames, log=log)
        best = res.best_attempt
        art = res.artifact or (best.artifact if best else None)
        entry = {"passed": res.passed, "reasons": list(res.reasons), "report": str(res.report_path),
                 "artifact": str(art.path) if res.passed and art else None,
                 "attempts": [a.to_dict() for a in res.attempts]}
        if best is not None and best.gate is not None:
            g = best.gate
            entry.update({"f1_fp32": g.metric_fp32, "f1_int8": g.metric_int8, "f1_drop": g.drop,
                          "agreement": g.agreement, "agreement_ci": list(g.agreement_ci), "n_gate": g.n,
                          "n_flips": g.n_flips, "n_borderline": g.n_borderline,
                          "agreement_borderline": g.agreement_borderline, "mean_abs_p_diff": g.mean_abs_diff,
                          "max_abs_p_diff": g.max_abs_diff, "kernels": g.kernels})
        if art is not None:
            entry.update({"size_bytes": art.size_bytes, "float_ops": sorted({o.op_type for o in art.float_ops}),
                          "n_float_ops": len(art.float_ops), "n_integer_ops": art.n_integer_ops,
                          "op_counts": art.op_counts(), "input_dtype": art.inputs[0].dtype,
                          "recipe": art.recipe.to_dict(), "candidate": str(art.path)})
        summary["backends"][b] = entry
        if "agreement" in entry:
            lo, hi = entry["agreement_ci"]
            detail = (f"F1 {entry['f1_fp32']:.4f} -> {entry['f1_int8']:.4f}, agreement {entry['agreement']:.4f} "
                      f"[{lo:.3f}, {hi:.3f}] on {entry['n_gate']} frames, mean |dp| {entry['mean_abs_p_diff']:.4f}")
        else:
            detail = "; ".join(res.reasons)
        log(f"[{b}] {'PASSED' if res.passed else 'FAILED'} gate: {detail}")
    if diagnose:
        try:
            for b, md in diagnose_student(summary, fp32_onnx=fp32_onnx, cache=cache, out_dir=out_dir, log=log).items():
                summary["backends"][b]["diagnose"] = str(md)
        except Exception as exc:  # noqa: BLE001 - a report that could not be made never fails the INT8 stage
            log(f"diagnose failed: {type(exc).__name__}: {exc}")
            summary["diagnose_error"] = f"{type(exc).__name__}: {exc}"
    write_json(out_dir / "quantize.json", summary)
    return summary


def qat_student(model: Any, calibration: np.ndarray, out_dir: Path, *, keep_float: tuple[str, ...], copies: int = 2,
                log=print) -> tuple[Any, Path, dict]:
    """Quantization-aware fine-tune of a raw-frame student's network (:func:`quantize.qat.qat_finetune`): the float
    preprocessing runs once per frame, the network trains on its output (calibration frames + ``copies`` augmented
    copies), distilling from its own fp32 logits. Writes ``out_dir/student.qat.onnx`` (raw frame in, like the
    export) and ``qat.json``; returns (raw-frame model, ONNX path, report).

    Example:
        >>> tuned, onnx_path, rep = qat_student(raw_model, frames, Path("work/quant/arm64/qat"),
        ...                                     keep_float=("classifier.net.conv_stem",))  # doctest: +SKIP
    """
    import copy

    import torch

    from fetaledge.export.onnx import export_onnx
    from fetaledge.gate_frames import augment_raw
    from quantize.qat import QATSettings, qat_finetune

    out_dir = ensure_writable_dir(Path(out_dir))

    def pre(frames: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return np.concatenate([model.to_input(model.resample(torch.from_numpy(frames[i : i + 1]).float())).numpy()
                                   for i in range(len(frames))])

    inner = tuple(k[len("classifier."):] for k in keep_float if k.startswith("classifier."))
    train = pre(np.concatenate([calibration, augment_raw(calibration, copies, seed=1)]))
    tuned_net, report = qat_finetune(model.classifier, calibration=pre(calibration), train_inputs=train,
                                     keep_float=inner, settings=QATSettings(), log=log)
    tuned = copy.deepcopy(model)
    tuned.classifier = tuned_net
    path = export_onnx(tuned.eval(), torch.from_numpy(calibration[:1]), out_dir / "student.qat.onnx")
    write_json(out_dir / "qat.json", report)
    return tuned, path, report


def _qat_attempt(backend: str, recipe: Any, res: Any, *, cache: dict[str, Any], model: Any, data: QuantizeData,
                 validation: Any, out_dir: Path, agreement: np.ndarray, fp32_onnx: Path, max_drop: float,
                 min_agreement: float, kernels: str, min_frames: int, log) -> Any:
    """The QAT fallback of one backend: gate the QAT weights' INT8 against the original fp32 scores."""
    import torch

    from quantize import quantize_gated, run_onnx

    qdir = Path(out_dir) / "qat"
    if "model" not in cache:
        log(f"[{backend}] post-training INT8 failed its gate: quantization-aware fine-tuning ({qdir})")
        cache["model"] = qat_student(model, data.calibration, qdir, keep_float=recipe.keep_float, log=log)
    tuned, onnx_path, _ = cache["model"]
    gate_inputs = validation.inputs if agreement is None or not len(agreement) else np.concatenate(
        [validation.inputs, agreement])
    ref = run_onnx(fp32_onnx, gate_inputs, threads=0)  # the ORIGINAL fp32 model stays the reference
    qres = quantize_gated(recipe, calibration=data.calibration, validation=validation, out_dir=qdir / backend,
                          fp32_onnx=onnx_path if backend != "litert" else None,
                          torch_model=tuned if backend == "litert" else None,
                          example_input=torch.from_numpy(data.calibration[:1]) if backend == "litert" else None,
                          fp32_scores=ref, max_drop=max_drop, min_agreement=min_agreement, name="student",
                          max_fallbacks=0, kernels=kernels, min_frames=min_frames)
    log(f"[{backend}] QAT attempt: {'PASSED' if qres.passed else 'FAILED'}")
    return qres if qres.passed else _merge_attempts(res, qres)


def _merge_attempts(first: Any, qat: Any) -> Any:
    """One GatedResult with the post-training attempts, then the QAT one (renumbered), not passed."""
    import dataclasses

    extra = tuple(dataclasses.replace(a, index=len(first.attempts) + i, change=f"QAT, {a.change}")
                  for i, a in enumerate(qat.attempts))
    return dataclasses.replace(first, attempts=first.attempts + extra, reasons=first.reasons + qat.reasons)


def diagnose_student(summary: dict[str, Any], *, fp32_onnx: Path, cache: FrameCache, out_dir: Path,
                     n_frames: int = 16, top: int = 25, log=print) -> dict[str, Path]:
    """Per-tensor SQNR of each backend's INT8 artifact (the shipped one, else the best attempt) against its fp32
    parent on ``n_frames`` validation frames, worst first: ``<out_dir>/<backend>/diagnose.md`` and ``.json``.

    ONNX artifacts are compared with the fp32 ONNX (with the summary's scoring kernels), .tflite ones with the
    fp32 .tflite beside it (``student.tflite``).

    Example:
        >>> summary = read_json(Path("work/quant/arm64/quantize.json"))  # doctest: +SKIP
        >>> diagnose_student(summary, fp32_onnx=Path("work/export/student.onnx"),
        ...                  cache=FrameCache("work/cache"), out_dir=Path("work/quant/arm64"))  # doctest: +SKIP
    """
    from quantize.diagnose import diagnose
    from quantize.runners import kernel_config

    val = cache.load("val")
    idx = np.linspace(0, len(val.labels) - 1, num=min(n_frames, len(val.labels))).round().astype(np.int64)
    frames = raw_frames_at(cache, "val", np.unique(idx))
    written: dict[str, Path] = {}
    for b, entry in summary["backends"].items():
        art = entry.get("artifact") or entry.get("candidate")
        if not art:
            continue
        art = Path(art)
        parent = Path(fp32_onnx) if art.suffix == ".onnx" else Path(fp32_onnx).with_suffix(".tflite")
        if not parent.is_file():
            log(f"[{b}] diagnose skipped: no fp32 parent {parent}")
            continue
        rep = diagnose(art, parent, frames, session_config=kernel_config(summary.get("kernels", "default")))
        json_path, md_path = rep.save(Path(out_dir) / b, "diagnose")
        worst = rep.worst
        log(f"[{b}] diagnose: output SQNR {rep.output_sqnr_db:.1f} dB; worst tensor "
            f"{worst.tensor if worst else '-'} ({worst.local_sqnr_db:.1f} dB local) -> {md_path}")
        written[b] = md_path
    return written
