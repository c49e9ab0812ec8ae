"""FetalCLIP image encoder (open_clip) + a linear head, optionally with LoRA: the teacher.

Two architectures are registered with open_clip (``open_clip.create_model(name)`` works for both):

* ``"FetalCLIP"``: the exact published config (ViT-L/14 at 224, 24 layers, width 1024, embed 768; text context
  117). Weights come from a local ``FetalCLIP_weights.pt`` (the file open_clip's ``pretrained=`` takes); nothing
  is downloaded.
* ``"fetaledge-tiny-vit-UNTRAINED"``: the same family at toy size (112 px, patch 8, 4 layers, width 96), the
  CPU default. It is NOT FetalCLIP: random init, or a short stand-in pretraining on phantom frames
  (:mod:`fetaledge.train.pretrain`).

Only the vision tower is built (the text tower is never used). The classifier maps normalised RGB
(B, 3, S, S) to logits (B,): ``head(encoder(x))`` with the 'tok' (CLS) pooled, projected embedding.

Example:
    >>> model = build_classifier(TINY_NAME)
    >>> model(torch.zeros(2, 3, 112, 112)).shape
    torch.Size([2])
"""

from __future__ import annotations

import copy
import io
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from fetaledge.errors import FetaledgeError
from fetaledge.models.lora import LoraSettings, apply_lora, check_mha_factor, describe_lora

FETALCLIP_NAME = "FetalCLIP"
TINY_NAME = "fetaledge-tiny-vit-UNTRAINED"

# research/paper_code_dataset.md section 2: FetalCLIP_config.json, verbatim.
FETALCLIP_CONFIG: dict[str, Any] = {
    "embed_dim": 768,
    "vision_cfg": {"image_size": 224, "layers": 24, "width": 1024, "patch_size": 14},
    "text_cfg": {"context_length": 117, "vocab_size": 49408, "width": 768, "heads": 12, "layers": 12},
}
# Same family, toy size: 0.5 M vision parameters, ~0.12 GMAC a frame. Patch 8 (196 tokens) at width 96 learned
# the phantom clearly better than patch 16 at width 192 for the same compute (test AUROC ~0.79 vs ~0.69).
TINY_CONFIG: dict[str, Any] = {
    "embed_dim": 128,
    "vision_cfg": {"image_size": 112, "layers": 4, "width": 96, "head_width": 32, "patch_size": 8},
    "text_cfg": {"context_length": 117, "vocab_size": 49408, "width": 128, "heads": 2, "layers": 1},
}
ARCHS: dict[str, dict[str, Any]] = {FETALCLIP_NAME: FETALCLIP_CONFIG, TINY_NAME: TINY_CONFIG}
# Default LoRA targets: the attention module itself (in_proj + out_proj; see fetaledge.models.lora) and the MLP.
DEFAULT_TARGETS = ("attn", "c_fc", "c_proj")
NORM = "clip"  # OpenAI CLIP mean/std, FetalCLIP's preprocessing


def register_open_clip_configs() -> None:
    """Register both architectures with open_clip so ``open_clip.create_model(name)`` knows them."""
    from open_clip import factory

    for name, cfg in ARCHS.items():
        factory._MODEL_CONFIGS[name] = copy.deepcopy(cfg)


def arch_config(name: str) -> dict[str, Any]:
    """The open_clip config of a known architecture (a copy)."""
    if name not in ARCHS:
        raise FetaledgeError(f"unknown FetalCLIP-family architecture {name!r}", hint=f"known: {', '.join(ARCHS)}")
    return copy.deepcopy(ARCHS[name])


def build_vision_tower(cfg: dict[str, Any]) -> nn.Module:
    """open_clip's VisionTransformer for an open_clip model config (vision tower only, fp32)."""
    from open_clip.model import _build_vision_tower

    return _build_vision_tower(cfg["embed_dim"], dict(cfg["vision_cfg"]), quick_gelu=cfg.get("quick_gelu", False))


def export_safe_attention():
    """Inside an ONNX export, turn off nn.MultiheadAttention's fused fast path; a no-op otherwise.

    In eval mode without grad, MultiheadAttention runs ``aten::_native_multi_head_attention`` when its head count
    is even (ViT-L/14: 16 heads), which the TorchScript ONNX exporter cannot write ("not supported in opset 17";
    seen on the full-size proof, fetaledge.train.fullsize). The tiny stand-in's 3 heads never take that path,
    so only the real teacher hit it. The unfused path computes the same attention.
    """
    import contextlib

    if not torch.onnx.is_in_onnx_export():
        return contextlib.nullcontext()
    return _fastpath(False)


class _fastpath:
    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def __enter__(self) -> None:
        self.saved = torch.backends.mha.get_fastpath_enabled()
        torch.backends.mha.set_fastpath_enabled(self.enabled)

    def __exit__(self, *exc: object) -> None:
        torch.backends.mha.set_fastpath_enabled(self.saved)


class FetalCLIPClassifier(nn.Module):
    """open_clip vision tower + ``nn.Linear(embed_dim, 1)``: normalised RGB (B, 3, S, S) -> logits (B,)."""

    def __init__(self, cfg: dict[str, Any]) -> None:
        super().__init__()
        self.encoder = build_vision_tower(cfg)
        self.head = nn.Linear(int(cfg["embed_dim"]), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with export_safe_attention():
            return self.head(self.encoder(x)).squeeze(-1)


# ------------------------------------------------------------------------------------------------ weights
def _read_checkpoint(path: Path) -> dict[str, torch.Tensor]:
    from open_clip.factory import load_state_dict

    try:
        state = load_state_dict(str(path), device="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError,
            AttributeError, StopIteration, io.UnsupportedOperation) as exc:
        raise FetaledgeError(
            f"{path} is not a PyTorch/open_clip checkpoint ({type(exc).__name__}: {str(exc).splitlines()[0][:160]})",
            hint="pass the FetalCLIP_weights.pt file that open_clip's `pretrained=` takes",
        ) from exc
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise FetaledgeError(
            f"{path} holds no state dict of tensors", hint="pass the FetalCLIP_weights.pt checkpoint file"
        )
    return state


def check_weights_file(path: Path | str, name: str = FETALCLIP_NAME) -> Path:
    """The path, or a clear error when the weights file is missing."""
    path = Path(path)
    if not path.is_file():
        raise FetaledgeError(
            f"{name} weights not found: {path}",
            hint="download FetalCLIP_weights.pt (see README) and pass its local path with --weights",
        )
    return path


def load_visual_weights(path: Path | str, cfg: dict[str, Any], name: str = FETALCLIP_NAME) -> dict[str, torch.Tensor]:
    """Read a CLIP checkpoint and return the vision-tower state dict, checked key by key and shape by shape.

    Accepts a full open_clip CLIP checkpoint (``visual.*`` keys; text keys are ignored), a ``{"state_dict":
    ...}`` wrapper, a DDP ``module.`` prefix, or a vision-only state dict.

    Example:
        >>> sd = load_visual_weights("FetalCLIP_weights.pt", arch_config("FetalCLIP"))  # doctest: +SKIP
    """
    path = check_weights_file(path, name)
    state = _read_checkpoint(path)
    if any(k.startswith("visual.") for k in state):
        visual = {k[len("visual."):]: v for k, v in state.items() if k.startswith("visual.")}
    else:
        visual = state
    with torch.device("meta"):
        expected = build_vision_tower(cfg).state_dict()
    missing = [k for k in expected if k not in visual]
    unexpected = [k for k in visual if k not in expected]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {', '.join('visual.' + k for k in missing[:4])})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {', '.join(unexpected[:4])})")
        raise FetaledgeError(
            f"{path} does not hold {name} vision weights: {'; '.join(parts)} keys",
            hint=f"pass the checkpoint of the {name} architecture ({_describe(cfg)})",
        )
    wrong = [(k, tuple(visual[k].shape), tuple(v.shape)) for k, v in expected.items() if visual[k].shape != v.shape]
    if wrong:
        k, got, want = wrong[0]
        raise FetaledgeError(
            f"{path} has {len(wrong)} tensor(s) of the wrong shape, e.g. visual.{k}: {got}, expected {want}",
            hint=f"the weights are for another architecture; {name} is {_describe(cfg)}",
        )
    return {k: v.float() for k, v in visual.items()}


def _describe(cfg: dict[str, Any]) -> str:
    v = cfg["vision_cfg"]
    return (f"ViT patch {v['patch_size']}, {v['layers']} layers, width {v['width']}, image {v['image_size']}, "
            f"embed {cfg['embed_dim']}")


# ------------------------------------------------------------------------------------------------ builders
def build_classifier(name: str = TINY_NAME, weights: Path | str | None = None, *,
                     cfg: dict[str, Any] | None = None, seed: int | None = None) -> FetalCLIPClassifier:
    """A FetalCLIP-family classifier; encoder weights from ``weights`` (else random init), head random.

    Example:
        >>> m = build_classifier("FetalCLIP", "FetalCLIP_weights.pt")  # doctest: +SKIP
    """
    cfg = copy.deepcopy(cfg) if cfg is not None else arch_config(name)
    if seed is not None:
        torch.manual_seed(seed)
    model = FetalCLIPClassifier(cfg)
    if weights is not None:
        model.encoder.load_state_dict(load_visual_weights(weights, cfg, name))
    return model


def build_lora_classifier(name: str, weights: Path | str | None, settings: LoraSettings, *,
                          seed: int | None = None) -> tuple[nn.Module, dict[str, Any]]:
    """Frozen encoder + LoRA adapters + trainable head; returns (peft model, model-folder config fragment)."""
    base = build_classifier(name, weights, seed=seed)
    model = apply_lora(base, settings, trainable=("head",))
    return model, model_config(name, "fetalclip-lora", describe_lora(settings, model))


def model_config(name: str, kind: str, lora: dict[str, Any] | None) -> dict[str, Any]:
    """The architecture part of a model folder's config (the caller adds threshold and provenance)."""
    cfg = arch_config(name) if name in ARCHS else None
    return {
        "kind": kind,
        "arch": name,
        "arch_config": cfg,
        "input_size": int(cfg["vision_cfg"]["image_size"]) if cfg else None,
        "norm": NORM,
        "lora": lora,
    }


def from_config(config: dict[str, Any]) -> nn.Module:
    """Rebuild the network of a ``fetalclip-lora`` or ``fetalclip-merged`` model folder (weights not loaded)."""
    cfg = config.get("arch_config") or arch_config(config["arch"])
    model: nn.Module = FetalCLIPClassifier(cfg)
    if config["kind"] == "fetalclip-lora":
        settings = LoraSettings.from_json(config["lora"])
        check_mha_factor(settings, f"this {config['arch']} adapter model")
        model = apply_lora(model, settings, trainable=("head",))
    return model


register_open_clip_configs()
