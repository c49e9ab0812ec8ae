"""The six baselines of FetalCLIP-IQA through timm: three CNNs fully fine-tuned, three transformers with LoRA.

Nothing is downloaded: ``weights`` is a local timm-format state dict (e.g. the ImageNet checkpoint of the tag
the paper used, :data:`BASELINES` ``paper_tag``); without it the backbone is randomly initialised (and the
CLI says so). The classifier is timm's own head with ``num_classes=1``.

LoRA targets default to the paper's ``proj, fc1, fc2`` (timm's attention output projection, the MLP, and
the patch-embedding conv ``patch_embed.proj``, which the same pattern matches); add ``qkv`` with
``--lora-targets qkv,proj,fc1,fc2``.

Example:
    >>> model, cfg = build_baseline("efficientnet_b0", input_size=64)
    >>> model(torch.zeros(2, 3, 64, 64)).shape
    torch.Size([2])
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from fetaledge.errors import FetaledgeError
from fetaledge.models.lora import LoraSettings, apply_lora, check_mha_factor, describe_lora

PAPER_LORA_TARGETS = ("proj", "fc1", "fc2")


@dataclass(frozen=True)
class BaselineSpec:
    """One baseline: timm architecture, how it is trained, its normalisation and the paper's weight tag."""

    timm_id: str
    mode: str  # "full" (all parameters train) or "lora"
    norm: str  # "imagenet" or "clip"
    paper_tag: str
    sized: bool  # transformer: the input size is fixed at construction (timm img_size)


BASELINES: dict[str, BaselineSpec] = {
    "densenet121": BaselineSpec("densenet121", "full", "imagenet", "tv_in1k", False),
    "efficientnet_b0": BaselineSpec("efficientnet_b0", "full", "imagenet", "ra_in1k", False),
    "vgg16": BaselineSpec("vgg16", "full", "imagenet", "tv_in1k", False),
    "swin_large_patch4_window7_224": BaselineSpec(
        "swin_large_patch4_window7_224", "lora", "imagenet", "ms_in22k_ft_in1k", True),
    "deit3_large_patch16_224": BaselineSpec("deit3_large_patch16_224", "lora", "imagenet", "fb_in22k_ft_in1k", True),
    "vit_large_patch14_clip_224": BaselineSpec(
        "vit_large_patch14_clip_224", "lora", "clip", "openai_ft_in12k_in1k", True),
}


def spec(name: str) -> BaselineSpec:
    """The spec of a known baseline; an error listing the known ones otherwise."""
    if name not in BASELINES:
        raise FetaledgeError(f"unknown backbone {name!r}", hint=f"known baselines: {', '.join(BASELINES)}")
    return BASELINES[name]


class TimmClassifier(nn.Module):
    """A timm model with one output: normalised RGB (B, 3, S, S) -> logits (B,)."""

    def __init__(self, timm_id: str, timm_kwargs: dict[str, Any]) -> None:
        super().__init__()
        import timm

        self.net = timm.create_model(timm_id, pretrained=False, num_classes=1, **timm_kwargs)

    @property
    def head_name(self) -> str:
        return "net." + str(self.net.pretrained_cfg.get("classifier", "head"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).reshape(-1)


def _timm_kwargs(s: BaselineSpec, input_size: int, extra: dict[str, Any] | None) -> dict[str, Any]:
    kw = dict(extra or {})
    if s.sized:
        kw.setdefault("img_size", input_size)
    return kw


def check_backbone_weights(path: Path | str) -> Path:
    """The path, or a clear error when a baseline's weights file is missing."""
    path = Path(path)
    if not path.is_file():
        raise FetaledgeError(
            f"--backbone-weights {path} not found",
            hint="pass a local timm checkpoint (.pth/.bin/.safetensors); nothing is downloaded at run time",
        )
    return path


def load_backbone_weights(model: TimmClassifier, path: Path | str) -> None:
    """Load a local timm-format checkpoint into the backbone (the classifier head stays random)."""
    path = check_backbone_weights(path)
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any reader failure means "not a checkpoint"
        raise FetaledgeError(f"{path} is not a PyTorch checkpoint ({type(exc).__name__})",
                             hint="pass a timm state dict saved with torch.save or safetensors") from exc
    for key in ("state_dict", "model", "state_dict_ema"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
            break
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise FetaledgeError(f"{path} holds no state dict of tensors")
    state = {k[7:] if k.startswith("module.") else k: v for k, v in state.items()}
    head = model.head_name[len("net."):] + "."
    expected = {k: v for k, v in model.net.state_dict().items() if not k.startswith(head)}
    state = {k: v for k, v in state.items() if not k.startswith(head)}
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong = [k for k in expected if k in state and state[k].shape != expected[k].shape]
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {', '.join(missing[:3])})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {', '.join(unexpected[:3])})")
        if wrong:
            k = wrong[0]
            parts.append(f"{len(wrong)} of the wrong shape (e.g. {k}: {tuple(state[k].shape)} vs "
                         f"{tuple(expected[k].shape)})")
        raise FetaledgeError(f"{path} does not fit timm {model.net.pretrained_cfg.get('architecture')}: "
                             + "; ".join(parts) + " keys", hint="pass the checkpoint of this exact timm model")
    model.net.load_state_dict(state, strict=False)


def build_baseline(name: str, weights: Path | str | None = None, *, input_size: int = 224,
                   lora_targets: tuple[str, ...] | None = None, lora: LoraSettings | None = None,
                   timm_kwargs: dict[str, Any] | None = None,
                   seed: int | None = None) -> tuple[nn.Module, dict[str, Any]]:
    """A baseline classifier ready to train, and the architecture part of its model-folder config.

    ``timm_kwargs`` override timm's constructor arguments (tests shrink the transformers with them).
    """
    s = spec(name)
    kw = _timm_kwargs(s, input_size, timm_kwargs)
    if seed is not None:
        torch.manual_seed(seed)
    model: nn.Module = TimmClassifier(s.timm_id, kw)
    if weights is not None:
        load_backbone_weights(model, weights)  # type: ignore[arg-type]
    lora_json = None
    if s.mode == "lora":
        settings = lora or LoraSettings(lora_targets or PAPER_LORA_TARGETS)
        head = model.head_name  # type: ignore[union-attr]
        model = apply_lora(model, settings, trainable=(head,))
        lora_json = describe_lora(settings, model)
    config = {
        "kind": "baseline",
        "arch": name,
        "timm_id": s.timm_id,
        "timm_kwargs": kw,
        "mode": s.mode,
        "input_size": int(input_size),
        "norm": s.norm,
        "lora": lora_json,
    }
    return model, config


def from_config(config: dict[str, Any]) -> nn.Module:
    """Rebuild a ``baseline`` model folder's network (with LoRA adapters when ``config['lora']`` is set)."""
    model: nn.Module = TimmClassifier(config["timm_id"], dict(config.get("timm_kwargs") or {}))
    if config.get("lora"):
        settings = LoraSettings.from_json(config["lora"])
        check_mha_factor(settings, f"this {config['arch']} adapter model")
        model = apply_lora(model, settings, trainable=(model.head_name,))  # type: ignore[union-attr]
    return model
