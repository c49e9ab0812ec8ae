"""NNCF post-training quantization of an fp32 ONNX model into QDQ ONNX that ONNX Runtime runs.

The torch route (``nncf.quantize`` on a torch model, then export) writes
``org.openvinotoolkit::FakeQuantize``, which onnxruntime cannot load, so this backend only ever quantizes the
exported ONNX graph, and checks the result.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Literal

import numpy as np

from quantize._io import atomic_target
from quantize.backends._onnx_common import calibration_feeds, fp32_input_spec, import_or_explain
from quantize.errors import QuantizeError, RecipeError
from quantize.qdq import remove_saturated_clips, unify_activation_dtype
from quantize.recipe import Recipe
from quantize.scopes import onnx_scope_nodes

BACKEND = "nncf"
RUNTIME = "onnxruntime"
SUFFIX = ".onnx"
REQUIRES = ("nncf", "onnx", "onnxruntime")
DISTRIBUTIONS = ("nncf", "onnx", "onnxruntime")
PIP = "pip install 'fetaledge[train]'  (or: pip install nncf onnx onnxruntime)"


@dataclasses.dataclass(frozen=True)
class NNCFRecipe(Recipe):
    """Options of ``nncf.quantize`` (and of ``nncf.quantize_with_accuracy_control`` when
    ``accuracy_control``).

    ``preset`` None lets NNCF choose (mixed for transformers, performance otherwise). ``fast_bias_correction``
    False runs the full BiasCorrection (needed by MobileNetV3-style nets). ``ignored_*`` build an
    ``nncf.IgnoredScope``; ``ignored_strict`` False tolerates names/types absent from the graph.

    Example:
        >>> NNCFRecipe(preset="mixed", ignored_types=["Softmax"]).ignored_types
        ('Softmax',)
    """

    BACKEND = "nncf"
    backend: str = dataclasses.field(default="nncf", init=False)
    preset: Literal["performance", "mixed"] | None = None
    model_type: Literal["transformer"] | None = None
    subset_size: int = 300
    fast_bias_correction: bool = True
    target_device: Literal["ANY", "CPU", "GPU", "NPU", "CPU_SPR"] = "ANY"
    ignored_names: tuple[str, ...] = ()
    ignored_types: tuple[str, ...] = ()
    ignored_patterns: tuple[str, ...] = ()
    ignored_strict: bool = True
    # NNCF's CPU/ANY hardware config quantizes depthwise-conv inputs per channel (vector activation scales), which
    # ONNX Runtime cannot fuse into QLinearConv: most convs then run in float, 3x slower than fp32. Per-tensor
    # activations (False) fuse; True is kept only to reproduce that.
    per_channel_activations: bool = False
    # NNCF writes int8 activations after a signed tensor and uint8 after a ReLU; ORT fuses a conv only when both
    # sides have one type, so mixed types left 17 of 49 convs in float (NNCF slower than ORT's own INT8). The
    # artifact gets every activation moved to this type (lossless, quantize.qdq); None keeps NNCF's mix, which
    # the graph check refuses. uint8 is ORT's U8S8 form (x86); int8 its S8S8 form (ARM).
    activation_dtype: Literal["uint8", "int8"] | None = "uint8"
    accuracy_control: bool = False
    max_drop: float = 0.01

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.subset_size < 1:
            raise RecipeError(f"NNCFRecipe.subset_size must be >= 1, got {self.subset_size}")
        if not 0.0 <= self.max_drop < 1.0:
            raise RecipeError(f"NNCFRecipe.max_drop must be in [0, 1), got {self.max_drop}")


RECIPE = NNCFRecipe


def _ignored_scope(nncf: Any, recipe: NNCFRecipe, fp32_onnx: Path) -> Any:
    names = sorted(set(recipe.ignored_names) | set(onnx_scope_nodes(fp32_onnx, recipe.keep_float)))
    if not (names or recipe.ignored_types or recipe.ignored_patterns):
        return None
    return nncf.IgnoredScope(
        names=names,
        types=list(recipe.ignored_types),
        patterns=list(recipe.ignored_patterns),
        validate=recipe.ignored_strict,
    )


def run(recipe: NNCFRecipe, request: Any) -> list[str]:
    """Quantize ``request.fp32_onnx`` with NNCF and write QDQ ONNX atomically to ``request.out_path``."""
    nncf = import_or_explain("nncf", BACKEND, PIP)
    onnx = import_or_explain("onnx", BACKEND, PIP)
    spec = fp32_input_spec(request.fp32_onnx, BACKEND)
    model = onnx.load(str(request.fp32_onnx))
    calibration = nncf.Dataset(calibration_feeds(spec, request.calibration))
    kwargs: dict[str, Any] = dict(
        preset=None if recipe.preset is None else nncf.QuantizationPreset(recipe.preset),
        target_device=nncf.TargetDevice[recipe.target_device],
        subset_size=min(recipe.subset_size, int(request.calibration.shape[0])),
        fast_bias_correction=recipe.fast_bias_correction,
        model_type=None if recipe.model_type is None else nncf.ModelType(recipe.model_type),
        ignored_scope=_ignored_scope(nncf, recipe, Path(request.fp32_onnx)),
    )
    if not recipe.per_channel_activations:
        adv = import_or_explain("nncf.quantization.advanced_parameters", BACKEND, PIP)
        kwargs["advanced_parameters"] = adv.AdvancedQuantizationParameters(
            activations_quantization_params=adv.QuantizationParameters(per_channel=False)
        )
    notes: list[str] = []
    if recipe.accuracy_control:
        quantized = _quantize_with_accuracy_control(nncf, model, calibration, recipe, request, kwargs)
        notes.append(f"nncf.quantize_with_accuracy_control, max_drop {recipe.max_drop}")
    else:
        quantized = nncf.quantize(model, calibration, **kwargs)
    fake = [
        n.name or n.op_type
        for n in quantized.graph.node
        if n.op_type == "FakeQuantize" or n.domain == "org.openvinotoolkit"
    ]
    if fake:
        raise QuantizeError(f"NNCF produced FakeQuantize nodes that onnxruntime cannot load: {fake[:5]}")
    if recipe.activation_dtype is not None:
        moved = unify_activation_dtype(quantized, recipe.activation_dtype)
        if moved:
            notes.append(f"{moved} activation zero points moved to {recipe.activation_dtype} (lossless)")
    dropped = remove_saturated_clips(quantized)
    if dropped:
        notes.append(f"{dropped} Clip/Relu before a saturating QuantizeLinear dropped (lossless)")
    with atomic_target(Path(request.out_path)) as tmp:
        onnx.save(quantized, str(tmp))
    return notes


def _quantize_with_accuracy_control(
    nncf: Any, model: Any, calibration: Any, recipe: NNCFRecipe, request: Any, kwargs: dict[str, Any]
) -> Any:
    from quantize.gate import scores_of
    from quantize.runners import run_onnx

    val = request.validation
    if val is None:
        raise QuantizeError(
            "accuracy_control needs validation data and a metric",
            hint="pass validation=ValidationSet(...) or use quantize_gated",
        )
    items = [(val.inputs[i : i + 1], val.labels[i]) for i in range(len(val.labels))]

    def validation_fn(candidate: Any, data: Any) -> tuple[float, None]:
        rows = list(data)
        xs = np.concatenate([x for x, _ in rows], axis=0)
        ys = np.asarray([y for _, y in rows])
        scores = scores_of(run_onnx(candidate.SerializeToString(), xs, threads=0))
        return float(val.metric_fn(scores, ys, val.threshold)), None

    kwargs = dict(kwargs)
    if "advanced_parameters" in kwargs:  # the accuracy-control entry point names it differently
        kwargs["advanced_quantization_parameters"] = kwargs.pop("advanced_parameters")
    return nncf.quantize_with_accuracy_control(
        model, calibration, nncf.Dataset(items), validation_fn, max_drop=recipe.max_drop, **kwargs
    )


def fallbacks(
    recipe: NNCFRecipe, *, offending_types: tuple[str, ...] = (), max_drop: float = 0.01
) -> list[Recipe]:
    """Full bias correction, then also ignore the caller's offending op types, then accuracy control."""
    out: list[Recipe] = []
    current = recipe
    if current.fast_bias_correction:
        current = current.replace(fast_bias_correction=False)
        out.append(current)
    extra = tuple(t for t in offending_types if t not in current.ignored_types)
    if extra:
        current = current.replace(ignored_types=current.ignored_types + extra, ignored_strict=False)
        out.append(current)
    if not current.accuracy_control:
        out.append(current.replace(accuracy_control=True, max_drop=max_drop))
    return out
