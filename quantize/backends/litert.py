"""Static INT8 .tflite through litert-torch's PT2E quantizer (torch.export -> prepare_pt2e -> calibrate ->
convert_pt2e -> ``litert_torch.convert(..., quant_config=QuantConfig(pt2e_quantizer=...))``), no TensorFlow.

litert-torch 0.10 folds the boundary quantize/dequantize into the model, so a float-input model comes out with
int8 input and output; :mod:`quantize.tflite_interface` then presents them as the recipe asks (int8, uint8 or
float32). A model whose forward takes a uint8 frame and casts it keeps a raw uint8 input
(``input_dtype="uint8"``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import numpy as np

from quantize._io import write_bytes_atomic
from quantize.backends._onnx_common import import_or_explain
from quantize.errors import QuantizeError
from quantize.recipe import Recipe
from quantize.tflite_interface import set_io_dtypes

BACKEND = "litert"
RUNTIME = "litert"
SUFFIX = ".tflite"
REQUIRES = ("torch", "torchao", "litert_torch", "ai_edge_litert")
DISTRIBUTIONS = ("torch", "torchao", "litert-torch", "ai-edge-litert")
PIP = "pip install 'fetaledge[litert]'  (or: pip install litert-torch ai-edge-litert)"


@dataclasses.dataclass(frozen=True)
class LiteRTRecipe(Recipe):
    """Static INT8 (int8 activations, symmetric int8 weights) via ``get_symmetric_quantization_config``.

    ``input_dtype``/``output_dtype`` are the dtypes of the .tflite's input and output tensors. ``"int8"`` and
    ``"uint8"`` keep the quantized boundary (scale/zero point in the tensor details); ``"float32"`` adds a
    QUANTIZE / DEQUANTIZE op. A model that takes raw uint8 frames needs ``input_dtype="uint8"``.

    Example:
        >>> LiteRTRecipe(per_channel=False, output_dtype="float32").to_dict()["backend"]
        'litert'
    """

    BACKEND = "litert"
    backend: str = dataclasses.field(default="litert", init=False)
    per_channel: bool = True
    # Activation range observer: litert-torch's default HistogramObserver searches a clipping range per tensor;
    # "minmax" takes the calibration min/max (what the ONNX backends' MinMax does).
    activation_observer: Literal["histogram", "minmax"] = "histogram"
    # litert-torch lets a clamp (ReLU6 = hardtanh) share the observer of the conv before it, so the conv output is
    # quantized over its unclamped range (e.g. -50..80: a 0..6 feature gets ~12 levels). True moves that observer
    # behind the clamp, as ONNX Runtime's QDQ does (Conv -> Q[0, 6]).
    observe_after_clamp: bool = True
    input_dtype: Literal["int8", "uint8", "float32"] = "int8"
    output_dtype: Literal["int8", "uint8", "float32"] = "int8"


RECIPE = LiteRTRecipe


@contextlib.contextmanager
def _quiet_progress() -> Iterator[None]:
    key = "LITERT_TORCH_SHOW_PROGRESS"
    old = os.environ.get(key)
    os.environ[key] = "n"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = old


def _as_tensor(torch: Any, value: Any, like: Any = None) -> Any:
    t = value if isinstance(value, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(value))
    if like is not None and t.dtype != like.dtype:
        if t.dtype.is_floating_point != like.dtype.is_floating_point:
            raise QuantizeError(
                f"calibration rows are {t.dtype} but the example input is {like.dtype}",
                hint="give calibration data of the dtype the model's forward takes",
            )
        t = t.to(like.dtype)
    return t


def _minmax_activations(config: Any) -> Any:
    """The same quantization config with MinMax observers on the activations."""
    observer = import_or_explain("torchao.quantization.pt2e.observer", BACKEND, PIP).MinMaxObserver

    def swap(spec: Any) -> Any:
        if spec is None:
            return None
        return dataclasses.replace(spec, observer_or_fake_quant_ctr=observer.with_args(eps=2**-12))

    return dataclasses.replace(config, input_activation=swap(config.input_activation),
                               output_activation=swap(config.output_activation))


def _observe_after_clamp(quantizer: Any, torch: Any) -> None:
    """Wrap ``quantizer.annotate`` so that an op followed only by a hardtanh (ReLU6) clamp is observed after the
    clamp: the producer's output annotation moves onto the clamp."""
    qz = import_or_explain("torchao.quantization.pt2e.quantizer", BACKEND, PIP)
    clamps = {torch.ops.aten.hardtanh.default, torch.ops.aten.hardtanh_.default}
    annotate = quantizer.annotate

    def annotate_clamps(gm: Any) -> Any:
        gm = annotate(gm)
        for node in gm.graph.nodes:
            if node.op != "call_function" or node.target not in clamps:
                continue
            prev = node.args[0]
            ann = getattr(prev, "meta", {}).get("quantization_annotation")
            if ann is None or ann.output_qspec is None or len(prev.users) != 1:
                continue
            if isinstance(ann.output_qspec, qz.SharedQuantizationSpec):
                continue
            node.meta["quantization_annotation"] = qz.QuantizationAnnotation(
                input_qspec_map={}, output_qspec=ann.output_qspec, _annotated=True)
            ann.output_qspec = None
        return gm

    quantizer.annotate = annotate_clamps


def _node_modules(node: Any) -> list[str]:
    """Qualified names of the modules a torch.export node came from (``nn_module_stack`` values)."""
    return [str(v[0]) for v in node.meta.get("nn_module_stack", {}).values() if isinstance(v, tuple) and v]


def _keep_float(quantizer: Any, model: Any, scopes: tuple[str, ...]) -> None:
    """Leave the submodules ``scopes`` unannotated (float) by stripping the annotations the quantizer put on their
    nodes. Not ``set_module_name``: it rejects None, and its module filter turns every "_" of a name into "."
    after cutting a fixed prefix, which matches nothing under torch 2.14's ``nn_module_stack`` keys."""
    if not scopes:
        return
    names = {n for n, _ in model.named_modules()}
    for scope in scopes:
        if scope not in names:
            close = sorted(n for n in names if n and n.count(".") < 3)[:12]
            raise QuantizeError(f"keep_float scope {scope!r} is not a submodule of the model",
                                hint=f"submodules include: {', '.join(close)}")
    annotate = quantizer.annotate

    def refers_to(qspec: Any, stripped: set[Any]) -> bool:
        ref = getattr(qspec, "edge_or_node", None)
        if ref is None:
            return False
        return any(r in stripped for r in (ref if isinstance(ref, tuple) else (ref,)))

    def annotate_then_strip(gm: Any) -> Any:
        gm = annotate(gm)
        stripped: set[Any] = set()
        for node in gm.graph.nodes:
            inside = any(m == s or m.startswith(s + ".") for m in _node_modules(node) for s in scopes)
            if inside and node.meta.pop("quantization_annotation", None) is not None:
                stripped.add(node)
        changed = True
        while changed:
            changed = False
            for node in gm.graph.nodes:
                ann = node.meta.get("quantization_annotation")
                if ann is None:
                    continue
                specs = [ann.output_qspec, *getattr(ann, "input_qspec_map", {}).values()]
                # an op that shares its quantization with a stripped node (its fused activation) goes too
                if any(refers_to(q, stripped) for q in specs if q is not None):
                    node.meta.pop("quantization_annotation")
                    stripped.add(node)
                    changed = True
                # A tensor read only by kept-float ops stays float: litert-torch lowers a float conv between a
                # dequantize and a quantize into an int8 conv of its own, so with the BN + ReLU6 between two kept
                # convs quantized only the first of `@first:3` stayed float (mean |dp| 0.012 instead of ORT's 0.008).
                elif ann.output_qspec is not None and node.users and all(u in stripped for u in node.users):
                    ann.output_qspec = None
                    if not getattr(ann, "input_qspec_map", None):
                        node.meta.pop("quantization_annotation")
                        stripped.add(node)
                    changed = True
        return gm

    quantizer.annotate = annotate_then_strip


def run(recipe: LiteRTRecipe, request: Any) -> list[str]:
    """Quantize ``request.torch_model`` with PT2E, convert with litert-torch, write the .tflite atomically."""
    torch = import_or_explain("torch", BACKEND, PIP)
    litert_torch = import_or_explain("litert_torch", BACKEND, PIP)
    pt2e = import_or_explain("litert_torch.quantize.pt2e_quantizer", BACKEND, PIP)
    qcfg = import_or_explain("litert_torch.quantize.quant_config", BACKEND, PIP)
    ao = import_or_explain("torchao.quantization.pt2e.quantize_pt2e", BACKEND, PIP)
    ao_pt2e = import_or_explain("torchao.quantization.pt2e", BACKEND, PIP)
    if request.torch_model is None or request.example_input is None:
        raise QuantizeError(
            "backend 'litert' converts a torch model",
            hint="pass torch_model=... and example_input=... (one sample, batch 1)",
        )
    model = request.torch_model.eval()
    example = _as_tensor(torch, request.example_input)
    config = pt2e.get_symmetric_quantization_config(is_per_channel=recipe.per_channel, is_dynamic=False)
    if recipe.activation_observer == "minmax":
        config = _minmax_activations(config)
    quantizer = pt2e.PT2EQuantizer().set_global(config)
    if recipe.observe_after_clamp:
        _observe_after_clamp(quantizer, import_or_explain("torch", BACKEND, PIP))
    _keep_float(quantizer, model, recipe.keep_float)
    calib = request.calibration
    with torch.no_grad(), _quiet_progress():
        exported = torch.export.export(model, (example,)).module()
        prepared = ao.prepare_pt2e(exported, quantizer)
        for i in range(calib.shape[0]):
            prepared(_as_tensor(torch, calib[i : i + 1], like=example))
        converted = ao.convert_pt2e(prepared, fold_quantize=False)
        ao_pt2e.move_exported_model_to_eval(converted)
        for sub in converted.modules():  # the ops are in eval form now; keep litert-torch from warning
            sub.training = False
        edge = litert_torch.convert(
            converted, (example,), quant_config=qcfg.QuantConfig(pt2e_quantizer=quantizer)
        )
        content = edge.model_content()
    content, notes = set_io_dtypes(content, recipe.input_dtype, recipe.output_dtype)
    write_bytes_atomic(Path(request.out_path), content)
    return notes


def fallbacks(
    recipe: LiteRTRecipe, *, offending_types: tuple[str, ...] = (), max_drop: float = 0.01
) -> list[Recipe]:
    """The other weight granularity (per-tensor <-> per-channel)."""
    return [recipe.replace(per_channel=not recipe.per_channel)]
