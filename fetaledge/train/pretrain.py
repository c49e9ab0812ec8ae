"""Stand-in pretraining for the tiny default encoder (it is NOT FetalCLIP).

FetalCLIP brings an encoder that already knows fetal anatomy; LoRA then adapts it. A randomly initialised tiny
ViT knows nothing, and LoRA on it cannot learn the phantom in a CPU budget (measured: test AUROC ~0.6, F1 ~0).
So, before LoRA, the tiny encoder gets a short full training on the TRAIN frames of the cache with a different
objective than the teacher's: 3-class ACOUSLIC labels (irrelevant / optimal / suboptimal, class-weighted
cross-entropy, one-cycle LR, light augmentation) through a throw-away head. Validation and test frames are
never seen. The LoRA stage then starts from this encoder and from the binary head that the 3-class head implies
(``head.pt``; the stand-in's counterpart of FetalCLIP's zero-shot text head). Measured on the 12-case phantom:
a fresh head on the frozen encoder stays at chance; LoRA lifts test F1 well above it.

The result is cached once per (cache manifest + split, architecture, settings, code fingerprint) in
``$FETALEDGE_CACHE/pretrain/<key>/`` (default ``~/.cache/fetaledge``) as ``visual.pt``, a vision-only
checkpoint in the same format as ``FetalCLIP_weights.pt`` (``visual.*`` keys), plus ``info.json``.

Example:
    >>> path = tiny_pretrained_weights(Path("cache"), PretrainSettings(), init_distributed("cpu"))  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from torch import nn

from fetaledge.codegraph import code_fingerprint
from fetaledge.data.cache import FrameCache
from fetaledge.fsio import atomic_path
from fetaledge.models.fetalclip import NORM, TINY_NAME, FetalCLIPClassifier, arch_config
from fetaledge.progress import EpochClock, bar
from fetaledge.train.data import Frames, InputPipeline, cache_fingerprint, load_frames
from fetaledge.train.dist import DistContext
from fetaledge.train.settings import PretrainSettings

PRETRAIN_VERSION = 2


def pretrain_root() -> Path:
    """Where stand-in pretraining results are cached: $FETALEDGE_CACHE, else $XDG_CACHE_HOME/fetaledge."""
    base = os.environ.get("FETALEDGE_CACHE")
    if base:
        return Path(base) / "pretrain"
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "fetaledge" / "pretrain"


def pretrain_key(cache: Path, settings: PretrainSettings) -> str:
    """Hash of everything the result depends on: the data (manifest + split), architecture, recipe, version, and
    the code that trains it (the import closure of this module), so other code never reuses a cached encoder."""
    blob = json.dumps({
        "code": code_fingerprint(__name__),
        "data": cache_fingerprint(cache),
        "arch": arch_config(TINY_NAME),
        "settings": asdict(settings),
        "version": PRETRAIN_VERSION,
        "torch": torch.__version__.split("+")[0],
    }, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def tiny_pretrained_weights(cache: Path, settings: PretrainSettings, ctx: DistContext,
                            log: Callable[[str], None] = print) -> tuple[Path, dict]:
    """The cached stand-in encoder for ``cache`` (trained now by rank 0 if absent): (visual.pt, info)."""
    folder = pretrain_root() / pretrain_key(cache, settings)
    if ctx.is_main and not (folder / "visual.pt").is_file():
        log(f"stand-in pretraining: {settings.epochs} epochs on the train frames -> {folder}")
        _run(cache, settings, folder, ctx.device, log)
    ctx.barrier()
    info = json.loads((folder / "info.json").read_text())
    return folder / "visual.pt", info


def _run(cache: Path, settings: PretrainSettings, folder: Path, device: torch.device,
         log: Callable[[str], None]) -> None:
    cfg = arch_config(TINY_NAME)
    frames = load_frames(cache, "train")
    torch.manual_seed(settings.seed)
    model = FetalCLIPClassifier(cfg)
    model.head = nn.Linear(int(cfg["embed_dim"]), 3)  # throw-away 3-class head
    pipeline = InputPipeline(FrameCache(cache).size, int(cfg["vision_cfg"]["image_size"]), NORM,
                             augment=settings.augment)
    t0 = time.perf_counter()
    history = _train(model, pipeline, frames, settings, device, log)
    state = {f"visual.{k}": v.detach().cpu().contiguous() for k, v in model.encoder.state_dict().items()}
    # The binary head that the 3-class head implies: logit(1 or 2 vs 0) ~ mean(z1, z2) + log 2 - z0. It plays
    # the part of FetalCLIP's zero-shot text head: a sensible start that LoRA and the head then refine.
    w, b = model.head.weight.detach().cpu(), model.head.bias.detach().cpu()
    head = {"weight": (0.5 * (w[1] + w[2]) - w[0]).unsqueeze(0).contiguous(),
            "bias": (0.5 * (b[1] + b[2]) - b[0] + math.log(2.0)).reshape(1).contiguous()}
    info: dict[str, Any] = {
        "what": "stand-in pretraining of the tiny encoder (NOT FetalCLIP): 3-class ACOUSLIC labels, train split",
        "head": "head.pt: binary head derived from the 3-class head (mean(z1, z2) + log 2 - z0)",
        "arch": TINY_NAME,
        "data": {"cache": str(Path(cache).resolve()), "fingerprint": cache_fingerprint(cache),
                 "split": "train", "frames": len(frames)},
        "settings": asdict(settings),
        "version": PRETRAIN_VERSION,
        "seconds": round(time.perf_counter() - t0, 1),
        "history": history,
    }
    with atomic_path(folder) as tmp:
        tmp.mkdir()
        torch.save(state, tmp / "visual.pt")
        torch.save(head, tmp / "head.pt")
        (tmp / "info.json").write_text(json.dumps(info, indent=2) + "\n")


def _train(model: nn.Module, pipeline: InputPipeline, frames: Frames, s: PretrainSettings,
           device: torch.device, log: Callable[[str], None]) -> list[dict[str, float]]:
    model.to(device).train()
    pipeline.to(device).train()
    n = len(frames)
    steps = s.epochs * math.ceil(n / s.batch_size)
    opt = torch.optim.AdamW(model.parameters(), lr=s.lr, weight_decay=s.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=s.lr, total_steps=steps, pct_start=0.15)
    weight = torch.tensor([1.0, s.class_weight, s.class_weight], device=device)
    gen = torch.Generator().manual_seed(s.seed)
    history = []
    clock = EpochClock("pretrain (stand-in)", s.epochs, log)
    for epoch in range(1, s.epochs + 1):
        order = torch.randperm(n, generator=gen)
        t0, total = time.perf_counter(), 0.0
        with bar(f"pretrain (stand-in) epoch {epoch}/{s.epochs}", total=n, unit="frame", log=log) as b:
            for start in range(0, n, s.batch_size):
                idx = order[start : start + s.batch_size]
                x = pipeline(frames.images[idx].to(device))
                loss = nn.functional.cross_entropy(model.head(model.encoder(x)), frames.labels[idx].to(device),
                                                   weight=weight)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                total += float(loss.detach()) * len(idx)
                b.update(len(idx))
                b.set_postfix(loss=f"{total / min(start + len(idx), n):.4f}")
        history.append({"epoch": epoch, "train_loss": total / n, "seconds": time.perf_counter() - t0})
        clock.done(epoch, train_loss=total / n)
    return history
