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
    quantizer = pt2e.PT2EQuantizer().set_global(
        pt2e.get_symmetric_quantization_config(is_per_channel=recipe.per_channel, is_dynamic=False)
    )
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
