"""LoRA through peft, shared by the FetalCLIP teacher and the transformer baselines.

Two peft facts shape this module (DESIGN.md section 7, research/edge_toolchain_and_anchors.md 1d):

* open_clip 3.3 keeps ``nn.MultiheadAttention``, which never calls ``out_proj.forward``: LoRA on ``out_proj``
  alone is a silent no-op. Target the ``attn`` module itself (peft >= 0.15 wraps in_proj and out_proj).
* peft's MultiheadAttention merge adds the out_proj delta twice (W + 2 dW) in current releases, and its
  forward goes through the same merge, so adapter and merged models agree with each other but not with the
  textbook W + dW. We probe the factor of the installed peft (:func:`mha_out_proj_factor`), record it with
  every adapter model and refuse to rebuild an adapter model under a peft that applies a different factor.
  ``fetaledge merge`` checks merged logits against adapter logits every time.

Example:
    >>> settings = LoraSettings(targets=("attn", "c_fc", "c_proj"))
    >>> peft_model = apply_lora(classifier, settings, trainable=("head",))  # doctest: +SKIP
"""

from __future__ import annotations

import functools
import logging
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from fetaledge.errors import FetaledgeError

# peft imports torchao, whose Enum registration makes torch log a deprecation line per Enum on every run.
logging.getLogger("torch.utils._pytree").setLevel(logging.ERROR)


@dataclass(frozen=True)
class LoraSettings:
    """LoRA hyper-parameters (the paper's r 8, alpha 16, dropout 0.1) and the module names to adapt."""

    targets: tuple[str, ...]
    r: int = 8
    alpha: int = 16
    dropout: float = 0.1
    extra: dict[str, Any] = field(default_factory=dict)  # provenance from describe_lora (peft version, ...)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["targets"] = list(self.targets)
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> LoraSettings:
        return cls(tuple(d["targets"]), int(d["r"]), int(d["alpha"]), float(d["dropout"]), dict(d.get("extra", {})))


def parse_targets(text: str | None) -> tuple[str, ...] | None:
    """``"attn,c_fc, c_proj"`` -> ("attn", "c_fc", "c_proj"); None or "" -> None (use the default)."""
    if not text:
        return None
    names = tuple(t.strip() for t in text.split(",") if t.strip())
    return names or None


@functools.lru_cache(maxsize=1)
def mha_out_proj_factor() -> int:
    """How many times the installed peft applies the LoRA out_proj delta of a MultiheadAttention (1 or 2).

    Probed on a small random layer: compare the adapter forward with W + k * dW for k = 1, 2.
    """
    from peft import LoraConfig, get_peft_model

    gen = torch.Generator().manual_seed(0)
    holder = nn.Module()
    holder.attn = nn.MultiheadAttention(8, 2, batch_first=True)
    ref = nn.MultiheadAttention(8, 2, batch_first=True)
    ref.load_state_dict(holder.attn.state_dict())
    pm = get_peft_model(holder, LoraConfig(r=2, lora_alpha=2, lora_dropout=0.0, target_modules=["attn"]))
    layer = pm.base_model.model.attn
    with torch.no_grad():
        for p in (layer.lora_B["default"].weight, layer.base_layer.out_proj.lora_B["default"].weight):
            p.copy_(torch.randn(p.shape, generator=gen))
        x = torch.randn(1, 3, 8, generator=gen)
        out = layer(x, x, x, need_weights=False)[0]
        d_in = layer.get_delta_weight("default")
        d_out = layer.base_layer.out_proj.get_delta_weight("default")
        ref.in_proj_weight += d_in
        base_out = ref.out_proj.weight.clone()
        for k in (1, 2):
            ref.out_proj.weight.copy_(base_out + k * d_out)
            if torch.allclose(ref(x, x, x, need_weights=False)[0], out, atol=1e-5):
                return k
    raise FetaledgeError(
        "the installed peft applies LoRA to MultiheadAttention in an unknown way",
        hint="install the pinned peft (pip install 'peft==0.21.*')",
    )


def apply_lora(model: nn.Module, settings: LoraSettings, trainable: tuple[str, ...] = ()) -> nn.Module:
    """Wrap ``model`` with LoRA adapters (peft ``get_peft_model``); only LoRA and ``trainable`` modules train.

    ``trainable`` names sub-modules (e.g. the classification head) whose parameters stay trainable in full.
    Raises a clear error when a target matches no module (peft's own message names the pattern).
    """
    from peft import LoraConfig, get_peft_model

    names = {n.rsplit(".", 1)[-1] for n, _ in model.named_modules() if n}
    missing = [t for t in settings.targets if t not in names]
    if missing:
        raise FetaledgeError(
            f"LoRA targets {missing} match no module of this model",
            hint=f"pick names from the model's modules, e.g. {sorted(names)[:12]}",
        )
    cfg = LoraConfig(r=settings.r, lora_alpha=settings.alpha, lora_dropout=settings.dropout,
                     target_modules=list(settings.targets), bias="none")
    pm = get_peft_model(model, cfg)
    base = pm.get_base_model()
    for name in trainable:
        for p in base.get_submodule(name).parameters():
            p.requires_grad_(True)
    for m in pm.modules():
        if _is_mha_lora(m):
            _pin_base_weights(m)
    return pm


def _pin_base_weights(layer: nn.Module) -> None:
    """Keep a LoRA MultiheadAttention's frozen weights bit-exact across forwards.

    peft's forward merges the adapters into the base weights and subtracts them again: (W + dW) - dW is not W
    in floating point, so without this the "frozen" weights drift by rounding on every forward.
    """

    def weights(m: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
        base = m.get_base_layer()
        return base.in_proj_weight, base.out_proj.get_base_layer().weight

    def save(m: nn.Module, _args: Any) -> None:
        m._fetaledge_pinned = tuple(w.detach().clone() for w in weights(m))

    def restore(m: nn.Module, _args: Any, _out: Any) -> None:
        pinned = getattr(m, "_fetaledge_pinned", None)
        if pinned is not None and not m.merged:
            with torch.no_grad():
                for w, saved in zip(weights(m), pinned, strict=True):
                    w.copy_(saved)
        m._fetaledge_pinned = None

    layer.register_forward_pre_hook(save)
    layer.register_forward_hook(restore)


def describe_lora(settings: LoraSettings, peft_model: nn.Module) -> dict[str, Any]:
    """The settings as JSON plus what a later rebuild must match: peft version and the out_proj factor."""
    import peft

    d = settings.to_json()
    d["extra"] = {"peft": peft.__version__}
    if any(_is_mha_lora(m) for m in peft_model.modules()):
        d["extra"]["mha_out_proj_factor"] = mha_out_proj_factor()
    return d


def _is_mha_lora(module: nn.Module) -> bool:
    from peft.tuners.lora.layer import MultiheadAttention as LoraMHA

    return isinstance(module, LoraMHA)


def check_mha_factor(settings: LoraSettings, where: str) -> None:
    """Refuse to rebuild an adapter model whose out_proj delta factor differs from the installed peft's."""
    saved = settings.extra.get("mha_out_proj_factor")
    if saved is None:
        return
    now = mha_out_proj_factor()
    if int(saved) != now:
        raise FetaledgeError(
            f"{where} was trained with a peft (v{settings.extra.get('peft')}) that applied the attention out_proj "
            f"LoRA delta {saved}x; the installed peft applies it {now}x, so the model would change",
            hint=f"merge it with peft {settings.extra.get('peft')} (pip install 'peft=={settings.extra.get('peft')}')",
        )


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts (works on the meta device too)."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, sum(p.numel() for p in model.parameters())


def lora_parameter_names(model: nn.Module) -> list[str]:
    """Names of the LoRA parameters (``lora_A`` / ``lora_B``)."""
    return [n for n, _ in model.named_parameters() if ".lora_A." in n or ".lora_B." in n]


def merge_lora(model: nn.Module) -> nn.Module:
    """peft ``merge_and_unload``: the plain base model with the adapters folded into its weights (in place)."""
    if not hasattr(model, "merge_and_unload"):
        raise FetaledgeError("this model has no LoRA adapters to merge")
    merged = model.merge_and_unload()
    return merged
