"""The target table: what a bundle for each device kind ships, with which runtime, recipe and threads.

A table, not if-chains (DESIGN.md section 5). Each target lists, in order of preference, the artifacts it may
ship; the build ships the first one that passed its accuracy gate and, when the target says so, only if it
is not slower than its fp32 parent on this host (otherwise the report says why it was skipped). The fp32
fallback of the same runtime always ships too, so a device can switch if a delegate misbehaves.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fetaledge.errors import FetaledgeError


@dataclass(frozen=True)
class ArtifactChoice:
    """One candidate model file: runtime + precision (+ the quantization backend that makes INT8)."""

    runtime: str  # "onnxruntime" | "litert"
    precision: str  # "fp32" | "int8"
    backend: str | None = None  # quantize backend for int8: "nncf" | "onnxruntime" | "litert"

    @property
    def key(self) -> str:
        return f"{self.runtime}-{self.precision}" + (f"-{self.backend}" if self.backend else "")


@dataclass(frozen=True)
class Target:
    """A device kind. ``recipes`` are quantize recipe dicts (``quantize.recipe_from_dict``) per backend."""

    name: str
    description: str
    preference: tuple[ArtifactChoice, ...]
    fallback: ArtifactChoice
    recipes: dict[str, dict] = field(default_factory=dict)
    threads: int = 4
    int8_must_be_faster_here: bool = False  # only meaningful where this host IS the target kind
    # Integer kernels the gate scores ONNX INT8 artifacts with: "exact" (ONNX Runtime's int32-exact x86 kernels)
    # stands in for ARM's dot-product kernels; "default" is this host's own (right for an x86 target).
    int8_kernels: str = "default"
    checks: tuple[str, ...] = ("sha256", "goldens")
    # The build stages after the data stages, in order (records in fetaledge.build_stages.STAGES).
    stages: tuple[str, ...] = ("teacher", "merge", "distill", "export", "quantize", "segment", "bundle")


# Every backend keeps the first three convs (the stem and, in EfficientNet-Lite, the first depthwise-separable block)
# in float (fetaledge.quantization.ROLES). Measured on the real African planes (173 test images, vs fp32, exact
# kernels): ORT S8S8 per-channel mean |dp| 0.023 -> 0.012 (stem) -> 0.008 (first 3), flips 4 -> 2 -> 2; NNCF
# 0.026 (7 flips) -> 0.009 (4) -> 0.008 (1). They hold ~4 % of the network's MACs.
_KEEP = ["@first:3"]
_ARM_RECIPES = {
    # S8S8 QDQ, per-channel weights: what ORT and XNNPACK run fastest on ARMv8.2 dot-product cores.
    "onnxruntime": {"backend": "onnxruntime", "data_types": "S8S8", "per_channel": True, "reduce_range": False,
                    "keep_float": _KEEP},
    # Per-tensor activations (the recipe default), all int8 (S8S8, like the ORT recipe) so that ORT fuses every
    # conv into QLinearConv: NNCF's own int8/uint8 mix left 17 of 49 in float.
    "nncf": {"backend": "nncf", "fast_bias_correction": False, "activation_dtype": "int8", "keep_float": _KEEP},
    # The graph takes the raw uint8 frame (preprocessing folded in), so the input stays uint8; the logit leaves
    # as int8 with its scale/zero-point in the spec (a fully integer interface, as delegates want).
    "litert": {"backend": "litert", "input_dtype": "uint8", "output_dtype": "int8", "keep_float": _KEEP},
}

TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target(
            name="arm64",
            description="Linux aarch64 (tablets and boards running Linux; onnxruntime or LiteRT)",
            preference=(
                ArtifactChoice("litert", "int8", "litert"),
                ArtifactChoice("onnxruntime", "int8", "onnxruntime"),
                ArtifactChoice("onnxruntime", "int8", "nncf"),
            ),
            fallback=ArtifactChoice("onnxruntime", "fp32"),
            recipes=_ARM_RECIPES,
            threads=4,
            checks=("sha256", "goldens", "arm64-emulated"),
            int8_kernels="exact",
        ),
        Target(
            name="android-arm64",
            description="Android arm64-v8a (the android_demo app: LiteRT with XNNPACK)",
            preference=(ArtifactChoice("litert", "int8", "litert"),),
            fallback=ArtifactChoice("litert", "fp32"),
            recipes=_ARM_RECIPES,
            threads=4,
            checks=("sha256", "goldens", "arm64-emulated"),
            int8_kernels="exact",
        ),
        Target(
            name="x86_64",
            description="x86_64 laptops/desktops (onnxruntime); INT8 only where it beats fp32 on this CPU",
            preference=(
                ArtifactChoice("onnxruntime", "int8", "onnxruntime"),
                ArtifactChoice("onnxruntime", "int8", "nncf"),
            ),
            fallback=ArtifactChoice("onnxruntime", "fp32"),
            recipes={
                # U8S8 with 7-bit weights: AVX2 without VNNI saturates VPMADDUBSW otherwise.
                "onnxruntime": {"backend": "onnxruntime", "data_types": "U8S8", "per_channel": True,
                                "reduce_range": True, "keep_float": _KEEP},
                # all activations uint8 (U8S8, ORT's x86 form): 46 of 49 convs fused (3 kept float) instead of 32
                "nncf": {"backend": "nncf", "fast_bias_correction": False, "activation_dtype": "uint8",
                         "keep_float": _KEEP},
            },
            threads=2,
            int8_must_be_faster_here=True,
        ),
    )
}


def get_target(name: str) -> Target:
    """The target called ``name``; an error listing the known ones otherwise.

    Example:
        >>> get_target("arm64").fallback.key
        'onnxruntime-fp32'
    """
    try:
        return TARGETS[name]
    except KeyError:
        raise FetaledgeError(f"unknown target {name!r}", hint=f"known targets: {', '.join(TARGETS)}") from None
