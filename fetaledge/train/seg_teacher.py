"""Training and scoring the FetalCLIP_SEG teacher (:mod:`fetaledge.models.segmentation`).

Training: per-pixel Dice loss (smp ``DiceLoss(mode="multilabel", from_logits=True)`` semantics: soft Dice over
the batch, zero for a batch without foreground), AdamW 3e-4 as every teacher here, best epoch by validation
Dice loss. Masks: :mod:`fetaledge.train.masks` (labels 1 and 2 are foreground), nearest-resized to the model input.

Scoring (:func:`seg_report`): F1 by the area rule (threshold 0.5 on the area probability) and at the
validation-calibrated threshold, Dice and IoU of the predicted masks (pooled over the split, and the mean over
frames with a true mask), WFSS per case (the frame with the largest predicted area among those that pass the
rule; -1 when none does), and a PNG of frames with the true outline and the predicted mask.

For students that learn the masks (issue 16): :func:`mask_probabilities`.

Example:
    >>> probs = mask_probabilities("runs/seg/merged", frames_uint8)  # doctest: +SKIP
    >>> probs.shape                                                  # (n, S, S) float32 in [0, 1]
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from fetaledge.errors import FetaledgeError
from fetaledge.fsio import atomic_path
from fetaledge.metrics import wfss
from fetaledge.models.segmentation import min_area, segmenter_of
from fetaledge.train.data import Frames, InputPipeline
from fetaledge.train.dist import DistContext
from fetaledge.train.loop import Objective
from fetaledge.train.masks import nearest_index

EPS = 1e-7


def dice_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """1 - soft Dice over the whole batch; 0 when the batch has no foreground pixel (as smp's multilabel mode)."""
    p = torch.sigmoid(logits.float()).flatten()
    y = target.float().flatten()
    inter = (p * y).sum()
    card = (p + y).sum()
    dice = 2 * inter / card.clamp_min(EPS)
    return (1 - dice) * (y.sum() > 0).float()


def masks_to_input(masks: np.ndarray, size: int) -> torch.Tensor:
    """Label masks at the cache size (n, C, C) -> binary foreground (n, S, S) uint8 at the model input size."""
    fg = masks > 0
    if fg.shape[-1] != size:
        idx = nearest_index(fg.shape[-1], size)
        fg = fg[:, idx][:, :, idx]
    return torch.from_numpy(np.ascontiguousarray(fg.astype(np.uint8)))


@torch.no_grad()
def predict_masks(model: nn.Module, pipeline: InputPipeline, frames: torch.Tensor, device: torch.device,
                  batch_size: int = 16) -> np.ndarray:
    """Per-pixel probabilities (n, S, S) float32 for uint8 cache frames (n, C, C)."""
    seg = segmenter_of(model)
    model.eval()
    pipeline.eval()
    model.to(device)
    pipeline.to(device)
    out = []
    for start in range(0, len(frames), batch_size):
        x = pipeline(frames[start : start + batch_size].to(device))
        out.append(torch.sigmoid(seg.masks(x).float()).cpu().numpy())
    if not out:
        return np.zeros((0, seg.image_size, seg.image_size), np.float32)
    return np.concatenate(out).astype(np.float32)


def mask_probabilities(model: nn.Module | Path | str, frames: np.ndarray, *, cache_size: int | None = None,
                       batch_size: int = 16, device: str = "cpu") -> np.ndarray:
    """Per-pixel foreground probabilities (n, S, S) float32 of a FetalCLIP_SEG teacher for uint8 frames.

    ``model`` is a model folder (kinds fetalclip-seg, -seg-lora, -seg-merged) or a loaded model; ``frames`` are
    square uint8 frames (n, C, C) as the frame cache holds them (C = ``cache_size``, default: their side). The
    output is at the teacher's input size S (224 for FetalCLIP, 112 for the tiny stand-in); threshold 0.5 for
    the mask, the area rule is ``(probs > 0.5).sum((1, 2)) >= min_area(S)``.

    Example:
        >>> p = mask_probabilities("runs/seg/trials/0/model", FrameCache("cache").load("val").images)  # doctest: +SKIP
    """
    from fetaledge.models.checkpoint import load_model

    if not isinstance(model, nn.Module):
        from fetaledge.models.segmentation import KINDS

        model, _ = load_model(Path(model), expect=KINDS)
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 3 or frames.shape[1] != frames.shape[2]:
        raise FetaledgeError(f"frames must be square uint8 (n, C, C), got {frames.dtype} {frames.shape}",
                             hint="pass frames as the frame cache stores them (FrameCache(...).load(split).images)")
    seg = segmenter_of(model)
    pipeline = InputPipeline(cache_size or frames.shape[1], seg.image_size, "clip")
    return predict_masks(model, pipeline, torch.from_numpy(frames), torch.device(device), batch_size)


def seg_objective(masks: dict[str, torch.Tensor]) -> Objective:
    """The Dice objective for :func:`fetaledge.train.loop.train`; ``masks`` by split name (model input size)."""

    def targets(frames: Frames, idx: torch.Tensor) -> torch.Tensor:
        return masks[frames.split][idx]

    @torch.no_grad()
    def val_loss(model: nn.Module, pipeline: InputPipeline, frames: Frames, ctx: DistContext) -> float:
        probs = predict_masks(model, pipeline, frames.images, ctx.device)
        y = masks[frames.split].numpy().astype(np.float64)
        if y.sum() == 0:
            return 0.0
        inter, card = float((probs * y).sum()), float(probs.sum() + y.sum())
        return 1.0 - 2 * inter / max(card, EPS)

    return Objective("dice", targets, lambda out, y: dice_loss(out, y), val_loss)


def mask_scores(probs: np.ndarray, target: np.ndarray) -> dict[str, float | int | None]:
    """Dice and IoU of the binary predicted masks (probs > 0.5) against the targets, pooled over all frames and
    averaged over frames that have a true mask."""
    pred = probs > 0.5
    y = target > 0
    inter = float(np.logical_and(pred, y).sum())
    union = float(np.logical_or(pred, y).sum())
    total = float(pred.sum() + y.sum())
    per = []
    for p, t in zip(pred, y, strict=True):
        if t.any():
            i = np.logical_and(p, t).sum()
            per.append((2 * i / (p.sum() + t.sum()), i / np.logical_or(p, t).sum()))
    return {
        "dice_pooled": 2 * inter / total if total else None,
        "iou_pooled": inter / union if union else None,
        "dice_mean_positive_frames": float(np.mean([d for d, _ in per])) if per else None,
        "iou_mean_positive_frames": float(np.mean([u for _, u in per])) if per else None,
        "positive_frames": len(per),
    }


def wfss_per_case(areas: np.ndarray, labels: np.ndarray, case: np.ndarray, uuids: list[str],
                  min_pixels: int) -> list[dict[str, Any]]:
    """WFSS of each case: the frame with the largest predicted area among frames with area >= ``min_pixels``."""
    rows = []
    for ci, uuid in enumerate(uuids):
        idx = np.flatnonzero(case == ci)
        if idx.size == 0:
            continue
        a = areas[idx]
        ok = a >= min_pixels
        sel = int(np.argmax(np.where(ok, a, -1))) if ok.any() else -1
        lab = labels[idx]
        rows.append({"case": uuid, "frames": int(idx.size), "selected_frame": sel,
                     "selected_label": int(lab[sel]) if sel >= 0 else None,
                     "has_optimal": bool((lab == 1).any()), "wfss": wfss(sel, lab)})
    return rows


def seg_report(model: nn.Module, pipeline: InputPipeline, frames: Frames, masks: np.ndarray,
               ctx: DistContext, uuids: list[str], png: Path | None = None,
               title: str = "") -> dict[str, Any]:
    """Mask quality, area-rule outputs and WFSS per case of ``frames`` (a split); writes ``png`` if given."""
    seg = segmenter_of(model)
    probs = predict_masks(model, pipeline, frames.images, ctx.device)
    target = masks_to_input(masks, seg.image_size).numpy()
    areas = (probs > 0.5).reshape(len(probs), -1).sum(1)
    k = min_area(seg.image_size)
    cases = wfss_per_case(areas, frames.labels.numpy(), np.asarray(frames.case), uuids, k)
    report = {
        "masks": mask_scores(probs, target),
        "area_rule": {"min_area_pixels": k, "image_size": seg.image_size,
                      "rule": f"(sigmoid > 0.5).sum() >= {seg.image_size}*{seg.image_size}*0.01"},
        "wfss_per_case": cases,
        "wfss_mean": float(np.mean([c["wfss"] for c in cases])) if cases else None,
    }
    if png is not None:
        plot_masks(frames, probs, target, areas, k, png, title)
        report["masks_png"] = str(png)
    return report


def plot_masks(frames: Frames, probs: np.ndarray, target: np.ndarray, areas: np.ndarray, k: int, path: Path,
               title: str, n: int = 8) -> None:
    """Up to ``n`` frames (true positives first, then the largest false areas): the frame, the true mask outline
    (green) and the predicted mask (red), with the predicted area against the rule."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pos = np.flatnonzero(target.reshape(len(target), -1).any(1))
    neg = np.flatnonzero(~target.reshape(len(target), -1).any(1))
    pick = list(pos[np.linspace(0, len(pos) - 1, min(len(pos), n // 2)).astype(int)]) if len(pos) else []
    pick += list(neg[np.argsort(-areas[neg])][: n - len(pick)])
    if not pick:
        return
    size = probs.shape[-1]
    idx = nearest_index(frames.images.shape[-1], size)
    fig, axes = plt.subplots(1, len(pick), figsize=(2.1 * len(pick), 2.5), dpi=110, squeeze=False)
    for ax, i in zip(axes[0], pick, strict=False):
        img = frames.images[i].numpy()[idx][:, idx]
        ax.imshow(img, cmap="gray", vmin=0, vmax=255)
        ax.imshow(np.ma.masked_where(probs[i] <= 0.5, probs[i]), cmap="autumn", alpha=0.45, vmin=0, vmax=1)
        if target[i].any():
            ax.contour(target[i], levels=[0.5], colors="lime", linewidths=0.8)
        verdict = "+" if areas[i] >= k else "-"
        ax.set_title(f"label {int(frames.labels[i])}, area {int(areas[i])} {verdict}", fontsize=7)
        ax.axis("off")
    fig.suptitle(f"{title} (green: true mask, red: predicted; + means area >= {k} px)", fontsize=8)
    fig.tight_layout()
    with atomic_path(Path(path), suffix=".png") as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
