"""Train a segmentation student on ground-truth masks, with a pixel-wise distillation term for a teacher.

Loss per batch: ``BCE(logits, y) + (1 - softDice(sigmoid(logits), y))`` against the soft reference mask ``y``
(the covered share of each grid pixel), plus, when teacher mask probabilities ``t`` are given (same grid,
e.g. FetalCLIP_SEG's output letterboxed to the student's grid), ``kd_weight * T^2 * BCE(logits / T,
sigmoid(logit(t) / T))``: Hinton's temperature-softened targets, per pixel. With no teacher (``kd_weight`` 0)
it is plain supervised training; the term is the hook the SEG teacher plugs into.

The checkpoint kept is the epoch with the lowest validation circumference error, measured by the real
torch-free measurement (:func:`fetaledge.runtime.measure.measure_mask` through the inverse letterbox map):
the student is chosen by what it is for. The test split is never seen here.

Example:
    >>> cfg = SegTrainConfig(epochs=2)                                                     # doctest: +SKIP
    >>> result = train_seg_student(cfg, train, val, progress=print)                        # doctest: +SKIP
    >>> result.best_epoch, result.history[-1]["val_hc_mae_mm"]                             # doctest: +SKIP
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from fetaledge.errors import FetaledgeError
from fetaledge.models.seg_students import IN_SCALE, IN_SHIFT, TinyUNet, seg_student
from fetaledge.runtime.measure import FrameMap, measure_mask

__all__ = ["SegSet", "SegTrainConfig", "SegTrainResult", "seg_loss", "train_seg_student"]


@dataclass(frozen=True)
class SegTrainConfig:
    """Student, grid and schedule. Defaults: CPU-affordable (about 15 s an epoch for 560 images, 2 threads)."""

    student: str = "unet8"
    out_h: int = 112
    out_w: int = 160
    epochs: int = 30
    batch_size: int = 16
    lr: float = 3e-3
    weight_decay: float = 1e-4
    seed: int = 0
    threads: int = 2
    kd_weight: float = 0.0
    kd_temperature: float = 2.0
    augment: bool = True

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.threads < 1:
            raise FetaledgeError("epochs, batch_size and threads must be >= 1")
        if not (self.lr > 0 and self.kd_weight >= 0 and self.kd_temperature > 0):
            raise FetaledgeError("lr and kd_temperature must be > 0, kd_weight >= 0")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class SegSet:
    """Grid frames (N, H, W) uint8, soft masks (N, H, W) uint8 0..255, the raw frame size (one (h, w) for all, or
    (N, 2) per image: the grid is the letterbox of each), pixel spacing and reference circumference per image (for
    the measurement); ``teacher`` optional (N, H, W) float in [0, 1]."""

    frames: np.ndarray
    masks: np.ndarray
    frame_hw: tuple[int, int] | np.ndarray
    pixel_mm: np.ndarray
    ref_mm: np.ndarray
    teacher: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.frames)
        if not (self.masks.shape == self.frames.shape and len(self.pixel_mm) == n == len(self.ref_mm)):
            raise FetaledgeError("SegSet: frames, masks, pixel_mm and ref_mm must have matching lengths/shapes")
        if self.teacher is not None and self.teacher.shape != self.frames.shape:
            raise FetaledgeError(f"teacher probabilities {self.teacher.shape} != frames {self.frames.shape}")


@dataclass
class SegTrainResult:
    model: TinyUNet
    best_epoch: int
    history: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0


def seg_loss(logits: torch.Tensor, target: torch.Tensor, teacher: torch.Tensor | None = None,
             kd_weight: float = 0.0, temperature: float = 2.0) -> torch.Tensor:
    """BCE + soft Dice against ``target`` (B, H, W) in [0, 1], plus the pixel-wise KD term (module docstring).

    Example:
        >>> t = torch.zeros(1, 4, 4); t[0, 1:3, 1:3] = 1
        >>> float(seg_loss(torch.where(t > 0, 20.0, -20.0), t)) < 1e-6
        True
    """
    bce = F.binary_cross_entropy_with_logits(logits, target)
    p = torch.sigmoid(logits)
    inter = (p * target).sum(dim=(1, 2))
    soft_dice = (2 * inter + 1.0) / (p.sum(dim=(1, 2)) + target.sum(dim=(1, 2)) + 1.0)
    loss = bce + (1 - soft_dice).mean()
    if teacher is not None and kd_weight > 0:
        t_logit = torch.logit(teacher.clamp(1e-4, 1 - 1e-4))
        soft = torch.sigmoid(t_logit / temperature)
        loss = loss + kd_weight * temperature ** 2 * F.binary_cross_entropy_with_logits(logits / temperature, soft)
    return loss


def _normalise(frames: torch.Tensor) -> torch.Tensor:
    return ((frames.float() / 255.0 - IN_SHIFT) / IN_SCALE).unsqueeze(1)


def _augment(x: torch.Tensor, ys: list[torch.Tensor], gen: torch.Generator) -> tuple[torch.Tensor, list]:
    """Flips, a small similarity transform (scale 0.85-1.15, rotation +-20 deg, shift +-8 %), gain 0.8-1.25."""
    b = x.shape[0]
    r = torch.rand(b, 6, generator=gen)
    ang = (r[:, 0] - 0.5) * math.radians(40)
    scale = 0.85 + 0.3 * r[:, 1]
    sx = torch.where(r[:, 4] < 0.5, -1.0, 1.0)
    sy = torch.where(r[:, 5] < 0.5, -1.0, 1.0)
    cos, sin = torch.cos(ang) / scale, torch.sin(ang) / scale
    theta = torch.stack([torch.stack([cos * sx, -sin, (r[:, 2] - 0.5) * 0.16], 1),
                         torch.stack([sin, cos * sy, (r[:, 3] - 0.5) * 0.16], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    pad_value = (0.0 - IN_SHIFT) / IN_SCALE  # black, as the letterbox padding
    x = F.grid_sample(x - pad_value, grid, mode="bilinear", padding_mode="zeros", align_corners=False) + pad_value
    gain = 0.8 + 0.45 * torch.rand(b, 1, 1, 1, generator=gen)
    x = (x - pad_value) * gain + pad_value
    out = [F.grid_sample(y.unsqueeze(1), grid, mode="bilinear", padding_mode="zeros",
                         align_corners=False).squeeze(1) for y in ys]
    return x, out


@torch.no_grad()
def predict_grid(model: torch.nn.Module, frames: np.ndarray, batch: int = 32) -> np.ndarray:
    """Probabilities (N, H, W) float32 of grid frames (N, H, W) uint8."""
    model.eval()
    out = []
    for k in range(0, len(frames), batch):
        x = _normalise(torch.from_numpy(frames[k:k + batch]))
        out.append(torch.sigmoid(model(x)).squeeze(1).numpy())
    return np.concatenate(out).astype(np.float32)


def _validate(model: torch.nn.Module, val: SegSet, cfg: SegTrainConfig) -> dict[str, float]:
    prob = predict_grid(model, val.frames)
    sizes = np.broadcast_to(np.asarray(val.frame_hw, int).reshape(-1, 2), (len(prob), 2))
    errs, none = [], 0
    target = val.masks.astype(np.float32) / 255.0
    inter = ((prob >= 0.5) & (target >= 0.5)).sum(axis=(1, 2))
    dice = 2 * inter / np.maximum((prob >= 0.5).sum(axis=(1, 2)) + (target >= 0.5).sum(axis=(1, 2)), 1)
    for k in range(len(prob)):
        fmap = FrameMap.letterbox(int(sizes[k, 0]), int(sizes[k, 1]), cfg.out_h, cfg.out_w)
        m = measure_mask(prob[k], fmap, float(val.pixel_mm[k]))
        if m.circumference_mm is None:
            none += 1
        else:
            errs.append(abs(m.circumference_mm - float(val.ref_mm[k])))
    # An image without a measurement counts as a large error: choosing by MAE must not reward abstaining.
    mae = float(np.mean(errs + [50.0] * none))
    return {"val_hc_mae_mm": mae, "val_dice_grid": float(dice.mean()), "val_no_measurement": float(none)}


def train_seg_student(cfg: SegTrainConfig, train: SegSet, val: SegSet,
                      progress: Callable[[str], None] | None = None) -> SegTrainResult:
    """Train ``cfg.student`` on ``train``; keep the epoch with the lowest validation HC error (module docstring)."""
    if train.frames.shape[1:] != (cfg.out_h, cfg.out_w):
        raise FetaledgeError(f"training frames are {train.frames.shape[1:]}, the config's grid is "
                             f"{(cfg.out_h, cfg.out_w)}", hint="prepare the arrays at the config's out_h x out_w")
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    gen = torch.Generator().manual_seed(cfg.seed)
    model = seg_student(cfg.student)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps = cfg.epochs * math.ceil(len(train.frames) / cfg.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=steps, pct_start=0.15)
    frames = torch.from_numpy(train.frames)
    masks = torch.from_numpy(train.masks).float() / 255.0
    teacher = None if train.teacher is None else torch.from_numpy(train.teacher.astype(np.float32))
    best, best_state, best_epoch = math.inf, None, -1
    history = []
    start = time.perf_counter()
    for epoch in range(cfg.epochs):
        model.train()
        order = torch.randperm(len(frames), generator=gen)
        total, n = 0.0, 0
        for k in range(0, len(order), cfg.batch_size):
            idx = order[k:k + cfg.batch_size]
            x = _normalise(frames[idx])
            ys = [masks[idx]] + ([teacher[idx]] if teacher is not None else [])
            if cfg.augment:
                x, ys = _augment(x, ys, gen)
            logits = model(x).squeeze(1)
            loss = seg_loss(logits, ys[0], ys[1] if teacher is not None else None, cfg.kd_weight,
                            cfg.kd_temperature)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
            n += len(idx)
        row = {"epoch": epoch, "train_loss": total / n, **_validate(model, val, cfg),
               "seconds": round(time.perf_counter() - start, 1)}
        history.append(row)
        if row["val_hc_mae_mm"] < best:
            best, best_state, best_epoch = row["val_hc_mae_mm"], copy.deepcopy(model.state_dict()), epoch
        if progress:
            progress(f"epoch {epoch + 1}/{cfg.epochs}: loss {row['train_loss']:.4f}, val HC MAE "
                     f"{row['val_hc_mae_mm']:.2f} mm, val Dice {row['val_dice_grid']:.4f}, "
                     f"{int(row['val_no_measurement'])} unmeasured, {row['seconds']:.0f} s")
    model.load_state_dict(best_state)
    model.eval()
    return SegTrainResult(model, best_epoch, history, round(time.perf_counter() - start, 1))
