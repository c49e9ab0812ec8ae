"""The epoch loop shared by finetune and the stand-in pretraining: AdamW, BCE, best state by validation loss.

One process or DDP (see :mod:`fetaledge.train.dist`): each epoch draws one seeded permutation (the same on every
rank), each rank takes every N-th frame of it (DistributedSampler's scheme, trimmed so all ranks take the same
number of steps), and ``--batch-size`` is per process. Validation is sharded and summed across ranks, so every
rank picks the same best epoch.

Example:
    >>> result = train(model, pipeline, train_frames, val_frames, TrainSettings(epochs=5), ctx)  # doctest: +SKIP
    >>> result.best_epoch, result.history[-1].val_loss                                           # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch import nn

from fetaledge.errors import FetaledgeError
from fetaledge.progress import EpochClock, bar
from fetaledge.runtime.numeric import sigmoid_array as sigmoid  # noqa: F401  (callers import it from here)
from fetaledge.train.data import Frames, InputPipeline
from fetaledge.train.dist import DistContext
from fetaledge.train.settings import TrainSettings


@dataclass
class EpochLog:
    epoch: int
    train_loss: float
    val_loss: float
    seconds: float
    frames_per_s: float


@dataclass(frozen=True)
class Objective:
    """What a batch is trained against, when it is not the frame-level BCE of the classifiers.

    ``targets(frames, idx)`` gives the batch targets, ``loss(output, targets)`` the scalar loss of the model's
    output, ``val_loss(model, pipeline, frames, ctx)`` the validation loss that picks the best epoch. The
    segmentation teacher (:mod:`fetaledge.train.seg_teacher`) trains per-pixel Dice through it.
    """

    name: str
    targets: Callable[[Frames, torch.Tensor], torch.Tensor]
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    val_loss: Callable[[nn.Module, InputPipeline, Frames, DistContext], float]


@dataclass
class TrainResult:
    """Per-epoch history and the best state (trainable parameters + buffers) by validation loss."""

    history: list[EpochLog]
    best_epoch: int
    best_val_loss: float
    best_state: dict[str, torch.Tensor] = field(repr=False)

    def history_json(self) -> list[dict]:
        return [asdict(h) for h in self.history]


def _autocast(device: torch.device):
    """bf16 autocast on CUDA only (as the paper's bf16-mixed); fp32 on CPU."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _loss_fn(settings: TrainSettings, device: torch.device) -> nn.Module:
    pw = None if settings.pos_weight is None else torch.tensor([settings.pos_weight], device=device)
    return nn.BCEWithLogitsLoss(pos_weight=pw)


def _snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    """Trainable parameters and persistent buffers (e.g. BatchNorm statistics), copied to the CPU."""
    persistent = set(model.state_dict(keep_vars=True))
    state = {n: p.detach().cpu().clone() for n, p in model.named_parameters() if p.requires_grad}
    state.update({n: b.detach().cpu().clone() for n, b in model.named_buffers() if n in persistent})
    return state


def restore(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Load a :class:`TrainResult` best state back into ``model`` (frozen weights are untouched)."""
    result = model.load_state_dict(state, strict=False)
    if result.unexpected_keys:
        raise RuntimeError(f"best state has keys the model lacks: {result.unexpected_keys[:3]}")


def train(model: nn.Module, pipeline: InputPipeline, train_frames: Frames, val_frames: Frames,
          settings: TrainSettings, ctx: DistContext, desc: str = "train",
          on_epoch: Callable[[EpochLog], None] | None = None,
          log: Callable[[str], None] | None = None, objective: Objective | None = None) -> TrainResult:
    """Train the parameters of ``model`` that require grad; keep the state with the lowest validation loss.

    ``log`` (rank 0) gets one line per epoch with the losses, elapsed and remaining time. ``objective`` replaces
    the frame-level BCE (see :class:`Objective`)."""
    device = ctx.device
    model.to(device)
    pipeline.to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise FetaledgeError("the model has no trainable parameter")
    opt = torch.optim.AdamW(params, lr=settings.lr, weight_decay=settings.weight_decay)
    loss_fn = _loss_fn(settings, device)
    net: nn.Module = model
    if ctx.distributed:
        from torch.nn.parallel import DistributedDataParallel as DDP

        net = DDP(model, device_ids=[device.index] if device.type == "cuda" else None)
    n = len(train_frames)
    per_rank = n // ctx.world_size
    if per_rank == 0:
        raise FetaledgeError(f"{n} training frames cannot be shared by {ctx.world_size} processes")
    history: list[EpochLog] = []
    best_loss, best_epoch, best_state = math.inf, -1, _snapshot(model)
    clock = EpochClock(desc, settings.epochs, log) if log is not None and ctx.is_main else None
    for epoch in range(1, settings.epochs + 1):
        gen = torch.Generator().manual_seed(settings.seed * 1000 + epoch)
        order = torch.randperm(n, generator=gen)[ctx.rank :: ctx.world_size][:per_rank]
        model.train()
        pipeline.train()
        t0, seen, loss_sum = time.perf_counter(), 0, 0.0
        with bar(f"{desc} epoch {epoch}/{settings.epochs}", total=per_rank * ctx.world_size, unit="frame",
                 disable=None if ctx.is_main else True, log=log) as b:
            for start in range(0, per_rank, settings.batch_size):
                idx = order[start : start + settings.batch_size]
                x = pipeline(train_frames.images[idx].to(device, non_blocking=True))
                if objective is None:
                    y = train_frames.targets[idx].to(device)
                else:
                    y = objective.targets(train_frames, idx).to(device)
                with _autocast(device):
                    logits = net(x)
                if objective is None:
                    loss = loss_fn(logits.float().reshape(-1), y)
                else:
                    loss = objective.loss(logits.float(), y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                seen += len(idx)
                loss_sum += float(loss.detach()) * len(idx)
                fps = seen * ctx.world_size / max(time.perf_counter() - t0, 1e-9)
                b.update(len(idx) * ctx.world_size)
                b.set_postfix(loss=f"{loss_sum / seen:.4f}", fps=f"{fps:.0f}")
        train_loss = ctx.gather_sum([loss_sum, seen])
        seconds = time.perf_counter() - t0
        if objective is None:
            val_loss = evaluate_loss(model, pipeline, val_frames, settings, ctx)
        else:
            val_loss = objective.val_loss(model, pipeline, val_frames, ctx)
        entry = EpochLog(epoch, train_loss[0] / train_loss[1], val_loss, seconds, train_loss[1] / seconds)
        history.append(entry)
        if on_epoch is not None and ctx.is_main:
            on_epoch(entry)
        if clock is not None:
            clock.done(epoch, train_loss=entry.train_loss, val_loss=val_loss)
        if val_loss < best_loss:
            best_loss, best_epoch, best_state = val_loss, epoch, _snapshot(model)
    restore(model, best_state)
    return TrainResult(history, best_epoch, best_loss, best_state)


@torch.no_grad()
def predict_logits(model: nn.Module, pipeline: InputPipeline, frames: Frames, ctx: DistContext,
                   batch_size: int = 64) -> np.ndarray:
    """Logits for every frame, in order (each rank does its shard; results are gathered on all ranks)."""
    model.eval()
    pipeline.eval()
    model.to(ctx.device)
    pipeline.to(ctx.device)
    idx = ctx.shard(len(frames))
    out = np.zeros(len(idx), np.float64)
    for start in range(0, len(idx), batch_size):
        sel = torch.from_numpy(idx[start : start + batch_size])
        with _autocast(ctx.device):
            logits = model(pipeline(frames.images[sel].to(ctx.device)))
        out[start : start + len(sel)] = logits.float().reshape(-1).cpu().numpy()
    parts = ctx.gather_objects((idx, out))
    full = np.zeros(len(frames), np.float64)
    for part_idx, part_out in parts:  # type: ignore[misc]
        full[part_idx] = part_out
    return full


def evaluate_loss(model: nn.Module, pipeline: InputPipeline, frames: Frames, settings: TrainSettings,
                  ctx: DistContext) -> float:
    """Mean BCE (with the training pos_weight) over all frames of ``frames``."""
    logits = torch.from_numpy(predict_logits(model, pipeline, frames, ctx, batch_size=max(settings.batch_size, 64)))
    return float(_loss_fn(settings, torch.device("cpu"))(logits.float(), frames.targets))
