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
# Preprocessing nodes of the raw-frame graph (the resampling MatMuls, normalisation) stay float:
# quantizing the resampled pixels to 8 bits per tensor would throw away contrast before the network sees it.
PREPROCESS_PREFIXES = ("/resample/", "/to_input/")


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


def preprocess_node_names(onnx_path: Path) -> list[str]:
    import onnx

    g = onnx.load(str(onnx_path), load_external_data=False).graph
    return [n.name for n in g.node if n.name.startswith(PREPROCESS_PREFIXES)]


def make_recipe(backend: str, overrides: dict[str, Any], onnx_path: Path | None):
    """The backend's recipe from a target's dict, with the preprocessing nodes kept in float."""
    from quantize import recipe_from_dict

    d = {"backend": backend, **{k: v for k, v in overrides.items() if k != "backend"}}
    if onnx_path is not None and backend == "onnxruntime":
        d["nodes_to_exclude"] = sorted(set(d.get("nodes_to_exclude", [])) | set(preprocess_node_names(onnx_path)))
    if onnx_path is not None and backend == "nncf":
        d["ignored_names"] = sorted(set(d.get("ignored_names", [])) | set(preprocess_node_names(onnx_path)))
        d.setdefault("ignored_strict", False)
    return recipe_from_dict(d)


def quantize_student(*, model_dir: Path, fp32_onnx: Path, cache: FrameCache, out_dir: Path,
                     backends: tuple[str, ...] = BACKENDS, recipes: dict[str, dict] | None = None,
                     n_calibration: int = 300, max_drop: float = 0.01, min_agreement: float = 0.99,
                     raw_hw: tuple[int, int] = (562, 744), max_fallbacks: int | None = None,
                     log=print) -> dict[str, Any]:
    """Quantize the exported student with each backend behind the accuracy gate; write ``quantize.json``.

    Returns ``{backend: {passed, artifact, gate, attempts, size_bytes, float_ops, ...}}``. A backend whose
    extra is missing is reported as skipped with the ``pip install`` that fixes it; a backend that fails the
    gate after its fallbacks is reported as failed (never shipped), with its reasons.

    Example:
        >>> quantize_student(model_dir=Path("work/student/model"), fp32_onnx=Path("work/export/student.onnx"),
        ...                  cache=FrameCache("work/cache"), out_dir=Path("work/quant"))  # doctest: +SKIP
    """
    import torch

    from fetaledge.export.pipeline import raw_model_from_dir
    from quantize import MissingExtraError, ValidationSet, quantize_gated

    unknown = [b for b in backends if b not in BACKENDS]
    if unknown:
        raise FetaledgeError(f"unknown quantization backend(s) {unknown}", hint=f"use {', '.join(BACKENDS)} or all")
    out_dir = ensure_writable_dir(Path(out_dir))
    model, cfg = raw_model_from_dir(model_dir, raw_hw)
    t = float(cfg["threshold"])
    logit_threshold = math.log(t / (1 - t)) if 0 < t < 1 else (-1e9 if t <= 0 else 1e9)
    data = select_frames(cache, n_calibration)
    n_pos = int((cache.load("train").targets[data.calibration_index] > 0).sum())
    log(f"calibration: {len(data.calibration)} train frames ({n_pos} positive); gate: {len(data.val_frames)} val "
        f"frames, threshold p>={t:.4f}")
    validation = ValidationSet(data.val_frames, data.val_targets, logit_threshold, f1_score)
    summary: dict[str, Any] = {"threshold": t, "logit_threshold": logit_threshold,
                               "n_calibration": int(len(data.calibration)), "n_val": int(len(data.val_frames)),
                               "calibration_index": data.calibration_index.tolist(), "backends": {}}
    for b in backends:
        recipe = make_recipe(b, (recipes or {}).get(b, {}), fp32_onnx if b != "litert" else None)
        log(f"[{b}] quantizing with {recipe.to_dict()}")
        try:
            res = quantize_gated(recipe, calibration=data.calibration, validation=validation, out_dir=out_dir / b,
                                 fp32_onnx=fp32_onnx if b != "litert" else None,
                                 torch_model=model if b == "litert" else None,
                                 example_input=torch.from_numpy(data.calibration[:1]) if b == "litert" else None,
                                 max_drop=max_drop, min_agreement=min_agreement, name="student",
                                 max_fallbacks=max_fallbacks,
                                 offending_types=("Softmax", "LayerNormalization", "Gelu", "HardSwish",
                                                  "HardSigmoid", "Sigmoid"))
        except MissingExtraError as exc:
            summary["backends"][b] = {"passed": False, "skipped": str(exc)}
            log(f"[{b}] skipped: {exc}")
            continue
        best = res.best_attempt
        art = res.artifact or (best.artifact if best else None)
        entry = {"passed": res.passed, "reasons": list(res.reasons), "report": str(res.report_path),
                 "artifact": str(art.path) if res.passed and art else None,
                 "attempts": [a.to_dict() for a in res.attempts]}
        if best is not None and best.gate is not None:
            g = best.gate
            entry.update({"f1_fp32": g.metric_fp32, "f1_int8": g.metric_int8, "f1_drop": g.drop,
                          "agreement": g.agreement})
        if art is not None:
            entry.update({"size_bytes": art.size_bytes, "float_ops": sorted({o.op_type for o in art.float_ops}),
                          "n_float_ops": len(art.float_ops), "n_integer_ops": art.n_integer_ops,
                          "input_dtype": art.inputs[0].dtype, "recipe": art.recipe.to_dict(),
                          "candidate": str(art.path)})
        summary["backends"][b] = entry
        if "agreement" in entry:
            detail = f"F1 {entry['f1_fp32']:.4f} -> {entry['f1_int8']:.4f}, agreement {entry['agreement']:.4f}"
        else:
            detail = "; ".join(res.reasons)
        log(f"[{b}] {'PASSED' if res.passed else 'FAILED'} gate: {detail}")
    write_json(out_dir / "quantize.json", summary)
    return summary
