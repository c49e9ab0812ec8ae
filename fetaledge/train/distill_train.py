"""The student training loop: cached teacher logits, on-the-fly augmentation, KD loss, best state by val loss.

One process or DDP under ``torchrun`` (:mod:`fetaledge.train.dist`): every epoch draws one seeded permutation
(the same on every rank), each rank takes every N-th frame of it, trimmed so all ranks step together;
``batch_size`` is per process. Validation loss is sharded and summed across ranks, so every rank keeps the
same best epoch. Nothing in the loop touches the teacher: its logits arrive as a tensor.

Example:
    >>> result = train_student(student, pipe, train, val, DistillSettings(epochs=4), ctx)  # doctest: +SKIP
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from fetaledge.errors import FetaledgeError
from fetaledge.models.preprocess import GrayToInput, LinearResample
from fetaledge.preprocess import FrameGeometry
from fetaledge.progress import bar
from fetaledge.train.dist import DistContext
from fetaledge.train.distill_augment import FrameAugment
from fetaledge.train.distill_loss import KDConfig, kd_loss
from fetaledge.train.settings import DistillSettings


class StudentInput(nn.Module):
    """uint8 cache frames (B, C, C) -> normalised RGB (B, 3, S, S): resample (the exported graph's taps,
    cache size -> S), augment when training and ``augment`` is set, normalise."""

    def __init__(self, cache_size: int, input_size: int, norm: str,
                 augment: FrameAugment | None = None) -> None:
        super().__init__()
        self.resample = (
            LinearResample.from_geometry(FrameGeometry(cache_size, cache_size, (cache_size, input_size)))
            if input_size != cache_size else None
        )
        self.to_input = GrayToInput(norm)
        self.augment = augment
        self.gen: torch.Generator | None = None

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        x = frames.to(torch.float32)
        if self.resample is not None:
            x = self.resample(x)
        if self.training and self.augment is not None:
            x = self.augment(x, self.gen if self.gen is not None else torch.Generator().manual_seed(0))
        return self.to_input(x)


@dataclass
class EpochLog:
    epoch: int
    train_loss: float
    val_loss: float
    seconds: float


@dataclass
class StudentResult:
    history: list[EpochLog]
    best_epoch: int
    best_val_loss: float
    seconds: float

    def history_json(self) -> list[dict]:
        return [asdict(h) for h in self.history]


def _lr_at(step: int, total: int, settings: DistillSettings) -> float:
    warm = max(1, int(total * settings.warmup_frac))
    if step < warm:
        return settings.lr * (step + 1) / warm
    progress = (step - warm) / max(1, total - warm)
    return settings.lr * 0.5 * (1.0 + math.cos(math.pi * progress))


def _snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


@torch.no_grad()
def predict(model: nn.Module, pipe: StudentInput, images: torch.Tensor, ctx: DistContext,
            batch_size: int = 64) -> np.ndarray:
    """Logits for every frame in order (sharded over ranks, gathered on all)."""
    model.eval()
    pipe.eval()
    idx = ctx.shard(len(images))
    part = np.zeros(len(idx), np.float32)
    for s in range(0, len(idx), batch_size):
        sel = torch.from_numpy(idx[s : s + batch_size])
        part[s : s + len(sel)] = model(pipe(images[sel].to(ctx.device))).float().reshape(-1).cpu().numpy()
    full = np.zeros(len(images), np.float32)
    for i, p in ctx.gather_objects((idx, part)):  # type: ignore[misc]
        full[i] = p
    return full


def val_loss(model: nn.Module, pipe: StudentInput, images: torch.Tensor, targets: torch.Tensor,
             teacher: torch.Tensor, kd: KDConfig, ctx: DistContext) -> float:
    """The training objective (KD loss, same weights) on un-augmented validation frames."""
    logits = torch.from_numpy(predict(model, pipe, images, ctx))
    return float(kd_loss(logits, targets, teacher, alpha=kd.alpha, temperature=kd.temperature,
                         pos_weight=kd.pos_weight))


Split = tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # uint8 images, targets, teacher logits


def train_student(model: nn.Module, pipe: StudentInput, train: Split, val: Split, settings: DistillSettings,
                  ctx: DistContext, desc: str = "distill",
                  on_epoch: Callable[[EpochLog], None] | None = None) -> StudentResult:
    """Train ``model`` on ``train = (uint8 images, targets, teacher logits)``; restore the best state by the
    validation KD loss. Returns the history; ``model`` holds the best weights afterwards."""
    images, targets, teacher = train
    device = ctx.device
    model.to(device)
    pipe.to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    net: nn.Module = model
    if ctx.distributed:
        from torch.nn.parallel import DistributedDataParallel as DDP

        net = DDP(model, device_ids=[device.index] if device.type == "cuda" else None)
    n = len(images)
    per_rank = n // ctx.world_size
    if per_rank < 2:
        raise FetaledgeError(f"{n} training frames cannot be shared by {ctx.world_size} processes")
    steps_per_epoch = math.ceil(per_rank / settings.batch_size)
    total = steps_per_epoch * settings.epochs
    kd = settings.kd
    history: list[EpochLog] = []
    best = (math.inf, 0, _snapshot(model))
    t_start, step = time.perf_counter(), 0
    for epoch in range(1, settings.epochs + 1):
        gen = torch.Generator().manual_seed(settings.seed * 1000 + epoch)
        order = torch.randperm(n, generator=gen)[ctx.rank :: ctx.world_size][:per_rank]
        pipe.gen = torch.Generator().manual_seed(settings.seed * 1000 + epoch * 7 + ctx.rank)
        model.train()
        pipe.train()
        t0, seen, loss_sum = time.perf_counter(), 0, 0.0
        with bar(f"{desc} {epoch}/{settings.epochs}", total=per_rank * ctx.world_size, unit="frame",
                 disable=None if ctx.is_main else True) as b:
            for s in range(0, per_rank, settings.batch_size):
                idx = order[s : s + settings.batch_size]
                if len(idx) < 2:  # a batch of one breaks batch norm; the next epoch's order covers it
                    continue
                for group in opt.param_groups:
                    group["lr"] = _lr_at(step, total, settings)
                x = pipe(images[idx].to(device))
                logits = net(x).float().reshape(-1)
                loss = kd_loss(logits, targets[idx].to(device), teacher[idx].to(device), alpha=kd.alpha,
                               temperature=kd.temperature, pos_weight=kd.pos_weight)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                step += 1
                seen += len(idx)
                loss_sum += float(loss.detach()) * len(idx)
                b.update(len(idx) * ctx.world_size)
                b.set_postfix(loss=f"{loss_sum / max(seen, 1):.4f}")
        tl = ctx.gather_sum([loss_sum, seen])
        vl = val_loss(model, pipe, *val, kd, ctx)
        log = EpochLog(epoch, tl[0] / max(tl[1], 1), vl, round(time.perf_counter() - t0, 2))
        history.append(log)
        if on_epoch is not None and ctx.is_main:
            on_epoch(log)
        if vl < best[0]:
            best = (vl, epoch, _snapshot(model))
    model.load_state_dict(best[2])
    return StudentResult(history, best[1], best[0], round(time.perf_counter() - t_start, 2))
