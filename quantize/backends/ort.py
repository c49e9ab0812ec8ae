"""ONNX Runtime static quantization: ``quant_pre_process`` then ``quantize_static`` to QDQ ONNX."""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path
from typing import Any, Literal

from quantize._io import atomic_target
from quantize.backends._onnx_common import calibration_feeds, fp32_input_spec, import_or_explain
from quantize.errors import QuantizeError, RecipeError
from quantize.recipe import Recipe
from quantize.scopes import onnx_scope_nodes

BACKEND = "onnxruntime"
RUNTIME = "onnxruntime"
SUFFIX = ".onnx"
REQUIRES = ("onnxruntime", "onnx")
DISTRIBUTIONS = ("onnxruntime", "onnx")
PIP = "pip install onnxruntime onnx  (both come with: pip install 'fetaledge[train]')"


@dataclasses.dataclass(frozen=True)
class ORTRecipe(Recipe):
    """Options of ``onnxruntime.quantization.quantize_static`` (QDQ format only: S8S8 QOperator is slow on
    x86).

    ``data_types`` is activations+weights: ``S8S8`` (ORT's first choice; SDOT on ARM64) or ``U8S8``.
    ``reduce_range`` (7-bit weights) avoids VPMADDUBSW saturation of U8S8 on x86 AVX2/AVX512 without VNNI; ARM
    and VNNI machines do not need it. ``percentile`` is used by the Percentile calibration only. Empty
    ``op_types_to_quantize`` means every type ORT can quantize.

    Example:
        >>> ORTRecipe(data_types="U8S8", reduce_range=True).reduce_range
        True
    """

    BACKEND = "onnxruntime"
    backend: str = dataclasses.field(default="onnxruntime", init=False)
    data_types: Literal["S8S8", "U8S8"] = "S8S8"
    # Per-channel weights by default: per-tensor weights had twice the output error (research/int8_findings.md).
    per_channel: bool = True
    reduce_range: bool = False
    calibrate_method: Literal["MinMax", "Entropy", "Percentile"] = "MinMax"
    percentile: float = 99.999
    nodes_to_exclude: tuple[str, ...] = ()
    op_types_to_quantize: tuple[str, ...] = ()
    preprocess: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 50.0 < self.percentile <= 100.0:
            raise RecipeError(f"ORTRecipe.percentile must be in (50, 100], got {self.percentile}")


RECIPE = ORTRecipe


# ORT's calibrators keep every intermediate tensor of every calibration frame until the pass ends (the Entropy and
# Percentile fallbacks: 17.8 GB for 300 raw 744x562 frames through the folded student). Calibrating in chunks
# ("CalibStridedMinMax", ORT >= 1.19; the name says MinMax but every calibrator merges chunk by chunk) keeps the
# peak near one chunk's worth.
CALIBRATION_CHUNK = 16


def _chunk_size(n: int, cap: int = CALIBRATION_CHUNK) -> int:
    """The largest divisor of ``n`` that is <= ``cap`` (ORT wants the frame count divisible by the chunk)."""
    return max(d for d in range(1, min(n, cap) + 1) if n % d == 0)


class _Reader:
    """A ``CalibrationDataReader`` over prepared feeds (duck-typed: ORT calls get_next / rewind, and ``len`` /
    ``set_range`` for chunked calibration)."""

    def __init__(self, feeds: list[dict[str, Any]]) -> None:
        self._feeds = feeds
        self._i = 0
        self._end = len(feeds)

    def get_next(self) -> dict[str, Any] | None:
        if self._i >= self._end:
            return None
        self._i += 1
        return self._feeds[self._i - 1]

    def rewind(self) -> None:
        self._i = 0
        self._end = len(self._feeds)

    def set_range(self, start_index: int, end_index: int) -> None:
        self._i = start_index
        self._end = min(end_index, len(self._feeds))

    def __iter__(self) -> Any:
        return iter(self._feeds)

    def __len__(self) -> int:
        return len(self._feeds)


def run(recipe: ORTRecipe, request: Any) -> list[str]:
    """Pre-process and statically quantize ``request.fp32_onnx``; write QDQ ONNX atomically."""
    oq = import_or_explain("onnxruntime.quantization", BACKEND, PIP)
    shape_inference = import_or_explain("onnxruntime.quantization.shape_inference", BACKEND, PIP)
    spec = fp32_input_spec(request.fp32_onnx, BACKEND)
    feeds = calibration_feeds(spec, request.calibration)
    notes: list[str] = []
    if recipe.reduce_range and recipe.data_types == "S8S8":
        notes.append("reduce_range with S8S8: 7-bit weights without the U8S8 saturation it exists to avoid")
    if recipe.data_types == "U8S8" and not recipe.reduce_range:
        notes.append("U8S8 without reduce_range can saturate on x86 AVX2/AVX512 without VNNI")
    activation, weight = {
        "S8S8": (oq.QuantType.QInt8, oq.QuantType.QInt8),
        "U8S8": (oq.QuantType.QUInt8, oq.QuantType.QInt8),
    }[recipe.data_types]
    exclude = sorted(set(recipe.nodes_to_exclude) | set(onnx_scope_nodes(Path(request.fp32_onnx), recipe.keep_float)))
    extra: dict[str, Any] = {"CalibStridedMinMax": _chunk_size(len(feeds))}
    if recipe.calibrate_method == "Percentile":
        extra["CalibPercentile"] = recipe.percentile
    with tempfile.TemporaryDirectory(prefix="quantize-ort-") as td:
        source = Path(str(request.fp32_onnx))
        if recipe.preprocess:
            pre = Path(td) / "preprocessed.onnx"
            try:
                shape_inference.quant_pre_process(str(source), str(pre))
            except Exception as exc:  # noqa: BLE001 - ORT raises assorted types here
                raise QuantizeError(
                    f"quant_pre_process failed on {source}: {exc}",
                    hint="set preprocess=False in the ORTRecipe",
                ) from exc
            source = pre
        with atomic_target(Path(request.out_path)) as tmp:
            oq.quantize_static(
                str(source),
                str(tmp),
                _Reader(feeds),
                quant_format=oq.QuantFormat.QDQ,
                op_types_to_quantize=list(recipe.op_types_to_quantize) or None,
                per_channel=recipe.per_channel,
                reduce_range=recipe.reduce_range,
                activation_type=activation,
                weight_type=weight,
                nodes_to_exclude=exclude or None,
                calibrate_method=oq.CalibrationMethod[recipe.calibrate_method],
                extra_options=extra,
            )
    return notes


def fallbacks(
    recipe: ORTRecipe, *, offending_types: tuple[str, ...] = (), max_drop: float = 0.01
) -> list[Recipe]:
    """Entropy, then Percentile calibration; then each calibration again with per-channel weights."""
    seen = {recipe}
    out: list[Recipe] = []
    channel_options = [recipe.per_channel] + ([True] if not recipe.per_channel else [])
    for per_channel in channel_options:
        for method in ("MinMax", "Entropy", "Percentile"):
            candidate = recipe.replace(per_channel=per_channel, calibrate_method=method)
            if candidate not in seen:
                seen.add(candidate)
                out.append(candidate)
    return out
