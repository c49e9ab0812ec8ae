"""FetalCLIP_SEG: the FetalCLIP image encoder + a 2-D UNETR-style decoder, used as a classifier by mask area.

The paper's design (FetalCLIP-IQA ``model.py`` / ``embeddings.py``, research/paper_code_dataset.md 1.5):

* the outputs of transformer blocks ``n//i`` for i = 1..4 (1-based; ViT-L/14 with 24 blocks: 6, 8, 12, 24;
  the tiny 4-block stand-in: 1, 1, 2, 4) are taken, the CLS token dropped, the token grid reshaped to an image
  (ViT-L/14 at 224: 16 x 16) and resized bilinearly to ``image_size / 16`` (14 x 14 at 224; 7 x 7 for the
  tiny 112 px stand-in), so four 2x up-sampling stages reach the input size;
* the decoder has 32 base filters (8 on the tiny stand-in) doubling per stage, depthwise-separable
  convolutions, transposed-conv up-sampling and a skip from the normalised RGB input; output: one logit per pixel;
* the encoder is frozen (the paper runs it under ``torch.no_grad()``) unless ``train_encoder`` (the LoRA
  variant: adapters in the encoder train through the decoder);
* a frame is positive when at least 1 % of the image is predicted foreground: ``(sigmoid > 0.5).sum() >=
  S * S * 0.01`` (502 pixels at 224).

The model-folder contract asks ``forward(x) -> logits (B,)``: :class:`FetalCLIPSegmenter` returns the area logit
``log(area + 0.5) - log(min_area)``, whose sigmoid ``(area + 0.5) / (area + 0.5 + min_area)`` crosses 0.5
exactly between ``min_area - 1`` and ``min_area`` pixels, so threshold 0.5 IS the area rule (and a calibrated
threshold is another area). :meth:`FetalCLIPSegmenter.masks` gives the per-pixel logits.

Example:
    >>> model = build_segmenter(TINY_NAME)
    >>> model.masks(torch.zeros(2, 3, 112, 112)).shape, model(torch.zeros(2, 3, 112, 112)).shape
    (torch.Size([2, 112, 112]), torch.Size([2]))
"""

from __future__ import annotations

import contextlib
import copy
import math
from pathlib import Path
from typing import Any

import torch
from torch import nn

from fetaledge.errors import FetaledgeError
from fetaledge.models.fetalclip import (
    ARCHS,
    NORM,
    TINY_NAME,
    arch_config,
    build_vision_tower,
    export_safe_attention,
    load_visual_weights,
)
from fetaledge.models.lora import LoraSettings, apply_lora, check_mha_factor, describe_lora

BASE_FILTERS = 32  # the paper's init_filters, for ViT-L/14
# The tiny stand-in (width 96 against 1024) gets a decoder scaled alike: 32 base filters made its decoder 2.5x the
# cost of its encoder (6 s a batch of 16 at 112 px on one busy core); 8 keeps the same topology at 1/16 the MACs.
TINY_BASE_FILTERS = 8
AREA_FRACTION = 0.01
KINDS = ("fetalclip-seg", "fetalclip-seg-lora", "fetalclip-seg-merged")


def hook_blocks(layers: int) -> tuple[int, ...]:
    """0-based indices of the tapped blocks, deepest first: ``n // i - 1`` for i = 1..4.

    Example:
        >>> [b + 1 for b in hook_blocks(24)], [b + 1 for b in hook_blocks(4)]
        ([24, 12, 8, 6], [4, 2, 1, 1])
    """
    return tuple(max(layers // i - 1, 0) for i in range(1, 5))


def base_filters_for(cfg: dict[str, Any]) -> int:
    """Decoder base filters: the paper's 32 for the real ViT-L/14 width, 8 for the tiny stand-in."""
    return BASE_FILTERS if int(cfg["vision_cfg"]["width"]) >= 512 else TINY_BASE_FILTERS


def min_area(size: int) -> int:
    """Pixels the area rule needs: the smallest integer >= ``size * size * 0.01`` (502 at 224)."""
    return int(math.ceil(size * size * AREA_FRACTION - 1e-9))


def area_logit(mask_logits: torch.Tensor, size: int) -> torch.Tensor:
    """(B, S, S) mask logits -> (B,) ``log(area + 0.5) - log(min_area)`` with area = pixels with logit > 0."""
    area = (mask_logits > 0).flatten(1).sum(1).to(torch.float32)
    return torch.log(area + 0.5) - math.log(min_area(size))


class SepConv(nn.Module):
    """Depthwise 3x3 + pointwise 1x1 convolution, batch norm, ReLU."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.dw = nn.Conv2d(cin, cin, 3, padding=1, groups=cin, bias=False)
        self.pw = nn.Conv2d(cin, cout, 1, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.pw(self.dw(x))))


class UpBlock(nn.Module):
    """2x transposed-conv up-sampling followed by a separable conv."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.up = nn.ConvTranspose2d(cin, cout, 2, stride=2)
        self.conv = SepConv(cout, cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.up(x))


class UnetrDecoder2d(nn.Module):
    """Four token maps (deepest first, each (B, W, g, g)) + the input image -> (B, 1, 16 g, 16 g) logits.

    Level k (resolution S / 2^k) carries ``base * 2^k`` channels. The deepest map is projected to level 4; the
    others are brought up by 1, 2 and 3 up-blocks to levels 3, 2 and 1, as UNETR's skip paths do.
    """

    def __init__(self, width: int, base: int = BASE_FILTERS) -> None:
        super().__init__()
        f = [base * 2**k for k in range(5)]  # 32, 64, 128, 256, 512
        self.bottleneck = SepConv(width, f[4])
        self.skip3 = UpBlock(width, f[3])
        self.skip2 = nn.Sequential(UpBlock(width, f[2]), UpBlock(f[2], f[2]))
        self.skip1 = nn.Sequential(UpBlock(width, f[1]), UpBlock(f[1], f[1]), UpBlock(f[1], f[1]))
        self.skip0 = nn.Sequential(SepConv(3, f[0]), SepConv(f[0], f[0]))
        self.up = nn.ModuleList([nn.ConvTranspose2d(f[k + 1], f[k], 2, stride=2) for k in range(4)])
        self.fuse = nn.ModuleList([SepConv(2 * f[k], f[k]) for k in range(4)])
        self.out = nn.Conv2d(f[0], 1, 1)

    def forward(self, maps: list[torch.Tensor], image: torch.Tensor) -> torch.Tensor:
        z_deep, z3, z2, z1 = maps
        skips = [self.skip0(image), self.skip1(z1), self.skip2(z2), self.skip3(z3)]
        x = self.bottleneck(z_deep)
        for k in (3, 2, 1, 0):
            x = self.fuse[k](torch.cat([self.up[k](x), skips[k]], dim=1))
        return self.out(x)


class FetalCLIPSegmenter(nn.Module):
    """open_clip vision tower (blocks tapped) + :class:`UnetrDecoder2d`; see the module docstring."""

    def __init__(self, cfg: dict[str, Any], train_encoder: bool = False) -> None:
        super().__init__()
        v = cfg["vision_cfg"]
        self.image_size = int(v["image_size"])
        if self.image_size % 16:
            raise FetaledgeError(f"the segmentation decoder needs an image size divisible by 16, got {self.image_size}")
        self.grid = self.image_size // int(v["patch_size"])
        self.out_grid = self.image_size // 16
        self.blocks = hook_blocks(int(v["layers"]))
        self.train_encoder = train_encoder
        self.return_masks = False  # training sets it, so DDP's forward yields the per-pixel logits
        self.encoder = build_vision_tower(cfg)
        self.base_filters = base_filters_for(cfg)
        self.decoder = UnetrDecoder2d(int(v["width"]), self.base_filters)

    def token_maps(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The tapped block outputs as (B, W, g', g') maps, CLS dropped, resized to the decoder grid."""
        enc = self.encoder
        feats: dict[int, torch.Tensor] = {}
        blocks = enc.transformer.resblocks
        handles = [blocks[i].register_forward_hook(self._keep(feats, i)) for i in sorted(set(self.blocks))]
        try:
            with export_safe_attention():
                enc(x)
        finally:
            for h in handles:
                h.remove()
        maps = []
        for i in self.blocks:
            tokens = feats[i]  # (B, 1 + g*g, W): open_clip >= 2.25 runs its blocks batch-first (3.3 is pinned)
            grid = tokens[:, -self.grid * self.grid :, :]  # drop the CLS (and any other prefix) token
            m = grid.transpose(1, 2).reshape(x.shape[0], -1, self.grid, self.grid)
            if self.grid != self.out_grid:
                m = nn.functional.interpolate(m, size=(self.out_grid, self.out_grid), mode="bilinear",
                                              align_corners=False)
            maps.append(m)
        return maps

    @staticmethod
    def _keep(store: dict[int, torch.Tensor], i: int):
        def hook(_m: nn.Module, _args: Any, out: Any) -> None:
            store[i] = out[0] if isinstance(out, tuple) else out

        return hook

    def masks(self, x: torch.Tensor) -> torch.Tensor:
        """Per-pixel mask logits (B, S, S) for normalised RGB (B, 3, S, S)."""
        frozen = not self.train_encoder
        ctx = torch.no_grad() if frozen else contextlib.nullcontext()
        with ctx:
            maps = self.token_maps(x)
        if frozen:
            maps = [m.detach() for m in maps]
        return self.decoder(maps, x).squeeze(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = self.masks(x)
        return m if self.return_masks else area_logit(m, self.image_size)


def build_segmenter(name: str = TINY_NAME, weights: Path | str | None = None, *, train_encoder: bool = False,
                    seed: int | None = None) -> FetalCLIPSegmenter:
    """A FetalCLIP_SEG model; encoder weights from ``weights`` (else random init), decoder random.

    Example:
        >>> m = build_segmenter("FetalCLIP", "FetalCLIP_weights.pt")  # doctest: +SKIP
    """
    cfg = arch_config(name)
    if seed is not None:
        torch.manual_seed(seed)
    model = FetalCLIPSegmenter(cfg, train_encoder=train_encoder)
    if weights is not None:
        model.encoder.load_state_dict(load_visual_weights(weights, cfg, name))
    return model


def build_seg_teacher(name: str, weights: Path | str | None, lora: LoraSettings | None, *,
                      seed: int | None = None) -> tuple[nn.Module, dict[str, Any]]:
    """(model, model-folder config fragment): frozen encoder (``lora`` None, the paper's) or LoRA adapters in the
    encoder trained through the decoder. Only the decoder (and the adapters) train."""
    model: nn.Module = build_segmenter(name, weights, train_encoder=lora is not None, seed=seed)
    for p in model.encoder.parameters():
        p.requires_grad_(False)
    lora_json = None
    if lora is not None:
        model = apply_lora(model, lora, trainable=("decoder",))
        lora_json = describe_lora(lora, model)
    return model, seg_config(name, "fetalclip-seg-lora" if lora is not None else "fetalclip-seg", lora_json)


def seg_config(name: str, kind: str, lora: dict[str, Any] | None) -> dict[str, Any]:
    cfg = arch_config(name) if name in ARCHS else None
    size = int(cfg["vision_cfg"]["image_size"]) if cfg else None
    return {
        "kind": kind,
        "arch": name,
        "arch_config": cfg,
        "input_size": size,
        "norm": NORM,
        "lora": lora,
        "output": "area logit: log(area + 0.5) - log(min_area); sigmoid >= 0.5 <=> area >= min_area",
        "min_area_pixels": min_area(size) if size else None,
        "hook_blocks_1based": [b + 1 for b in hook_blocks(int(cfg["vision_cfg"]["layers"]))] if cfg else None,
        "decoder": {"type": "UNETR-style 2-D", "base_filters": base_filters_for(cfg) if cfg else None,
                    "input_skip": True},
    }


def from_config(config: dict[str, Any]) -> nn.Module:
    """Rebuild a ``fetalclip-seg``, ``fetalclip-seg-lora`` or ``fetalclip-seg-merged`` model folder's network."""
    cfg = copy.deepcopy(config.get("arch_config") or arch_config(config["arch"]))
    if config["kind"] not in KINDS:
        raise FetaledgeError(f"not a segmentation model kind: {config['kind']!r}", hint=f"known: {', '.join(KINDS)}")
    model: nn.Module = FetalCLIPSegmenter(cfg, train_encoder=config["kind"] == "fetalclip-seg-lora")
    if config["kind"] == "fetalclip-seg-lora":
        settings = LoraSettings.from_json(config["lora"])
        check_mha_factor(settings, f"this {config['arch']} segmentation adapter model")
        model = apply_lora(model, settings, trainable=("decoder",))
    return model


def segmenter_of(model: nn.Module) -> FetalCLIPSegmenter:
    """The :class:`FetalCLIPSegmenter` inside a peft wrapper (or the model itself)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    if not isinstance(base, FetalCLIPSegmenter):
        raise FetaledgeError(f"{type(base).__name__} is not a FetalCLIP_SEG model")
    return base
