"""``fetaledge finetune``: FetalCLIP (or a baseline) + LoRA + linear head on the frame cache, N trials.

What a run writes (only rank 0 writes; see :mod:`fetaledge.train.dist`)::

    OUT/cache/                  the frame cache, when --data was an ACOUSLIC-layout folder
    OUT/trials/<k>/model/       model folder (config.json + model.pt), kind fetalclip-lora or baseline
    OUT/trials/<k>/metrics.json test-split metrics at the validation-calibrated threshold
    OUT/trials/<k>/history.json per-epoch losses;  OUT/trials/<k>/curve.png the training curve
    OUT/run.json                run config, provenance, per-trial results, mean and std, the selected trial
    OUT/metrics.json            test metrics of the selected trial (lowest validation loss) + mean/std

Example:
    >>> summary = finetune(Path("phantom"), Path("runs/teacher"), FinetuneConfig())  # doctest: +SKIP
    >>> summary["selected"]["metrics"]["f1"]                                         # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from fetaledge.data.cache import FrameCache
from fetaledge.errors import FetaledgeError
from fetaledge.fsio import ensure_writable_dir, sha256_file, write_json
from fetaledge.metrics import calibrate_threshold
from fetaledge.models.checkpoint import save_model
from fetaledge.train.data import InputPipeline, cache_fingerprint, check_splits, load_frames, resolve_cache
from fetaledge.train.dist import DistContext, init_distributed, shutdown
from fetaledge.train.loop import predict_logits, sigmoid, train
from fetaledge.train.pretrain import tiny_pretrained_weights
from fetaledge.train.report import mean_std, metrics_report, plot_history, versions
from fetaledge.train.settings import FinetuneConfig

FETALCLIP = "fetalclip"
TINY = "tiny"
SEG = "fetalclip-seg"  # FetalCLIP_SEG, frozen encoder (the paper's); ViT-L with --weights, else the tiny stand-in
SEG_LORA = "fetalclip-seg-lora"  # the same with LoRA adapters in the encoder trained through the decoder
SEG_BACKBONES = (SEG, SEG_LORA)
TINY_WARNING = (
    "the default backbone 'fetaledge-tiny-vit-UNTRAINED' is NOT FetalCLIP: a toy ViT of the same family, "
    "random init + a short stand-in pretraining on the train frames. Pass --weights FetalCLIP_weights.pt for "
    "the real teacher."
)


class UntrainedBackboneWarning(UserWarning):
    """The tiny stand-in (or a baseline without --backbone-weights) is in use."""


def resolve_backbone(cfg: FinetuneConfig) -> str:
    """'fetalclip', 'tiny' or a baseline name, with clear errors for impossible combinations."""
    from fetaledge.models.baselines import BASELINES
    from fetaledge.models.fetalclip import TINY_NAME

    name = cfg.backbone
    if name is None:
        name = FETALCLIP if cfg.weights is not None else TINY
    name = {"FetalCLIP": FETALCLIP, TINY_NAME: TINY}.get(name, name)
    known = (FETALCLIP, TINY, *BASELINES, *SEG_BACKBONES)
    if name not in known:
        raise FetaledgeError(f"unknown backbone {cfg.backbone!r}", hint=f"known: {', '.join(known)}")
    if name == FETALCLIP and cfg.weights is None:
        raise FetaledgeError("--backbone fetalclip needs --weights FetalCLIP_weights.pt (nothing is downloaded)",
                             hint="pass the local FetalCLIP checkpoint, or drop --backbone for the tiny stand-in")
    if name in BASELINES and cfg.weights is not None:
        raise FetaledgeError("--weights is for FetalCLIP; a baseline takes --backbone-weights")
    if name not in BASELINES and cfg.backbone_weights is not None:
        raise FetaledgeError("--backbone-weights is for the timm baselines; FetalCLIP takes --weights")
    if cfg.weights is not None:  # fail before any data is prepared
        from fetaledge.models.fetalclip import FETALCLIP_NAME, check_weights_file

        check_weights_file(cfg.weights, FETALCLIP_NAME if name in (FETALCLIP, *SEG_BACKBONES) else TINY_NAME)
    if cfg.backbone_weights is not None:
        from fetaledge.models.baselines import check_backbone_weights

        check_backbone_weights(cfg.backbone_weights)
    return name


def _state_digest(model: nn.Module) -> str:
    """sha256 of the whole state dict (what DDP must keep equal on every rank)."""
    h = hashlib.sha256()
    for n, p in sorted(model.state_dict().items()):
        h.update(n.encode())
        h.update(p.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def seg_arch(cfg: FinetuneConfig) -> str:
    """The encoder architecture of a segmentation teacher: FetalCLIP with --weights, else the tiny stand-in."""
    from fetaledge.models.fetalclip import FETALCLIP_NAME, TINY_NAME

    return FETALCLIP_NAME if cfg.weights is not None else TINY_NAME


def _targets(cfg: FinetuneConfig) -> tuple[str, ...]:
    from fetaledge.models.fetalclip import DEFAULT_TARGETS
    from fetaledge.train.recipe import PAPER_FETALCLIP_TARGETS

    return cfg.lora_targets or (PAPER_FETALCLIP_TARGETS if cfg.recipe == "paper" else DEFAULT_TARGETS)


def _build(backbone: str, cfg: FinetuneConfig, weights: Path | None, seed: int) -> tuple[nn.Module, dict[str, Any]]:
    from fetaledge.models.lora import LoraSettings

    if backbone in SEG_BACKBONES:
        from fetaledge.models.segmentation import build_seg_teacher

        lora = (LoraSettings(_targets(cfg), cfg.lora_r, cfg.lora_alpha, cfg.lora_dropout)
                if backbone == SEG_LORA else None)
        return build_seg_teacher(seg_arch(cfg), weights, lora, seed=seed)
    if backbone in (FETALCLIP, TINY):
        from fetaledge.models.fetalclip import FETALCLIP_NAME, TINY_NAME, build_lora_classifier

        settings = LoraSettings(_targets(cfg), cfg.lora_r, cfg.lora_alpha, cfg.lora_dropout)
        return build_lora_classifier(FETALCLIP_NAME if backbone == FETALCLIP else TINY_NAME, weights, settings,
                                     seed=seed)
    from fetaledge.models.baselines import PAPER_LORA_TARGETS, build_baseline

    settings = LoraSettings(cfg.lora_targets or PAPER_LORA_TARGETS, cfg.lora_r, cfg.lora_alpha, cfg.lora_dropout)
    return build_baseline(backbone, cfg.backbone_weights, input_size=cfg.input_size or 224, lora=settings,
                          timm_kwargs=cfg.timm_kwargs, seed=seed)


def finetune(data: Path, out: Path, cfg: FinetuneConfig | None = None, log: Callable[[str], None] = print,
             warn: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Train ``cfg.trials`` models on ``data`` (ACOUSLIC folder or cache) and write them under ``out``.

    Works as one process or under ``torchrun`` (DDP). Returns the run summary (also in OUT/run.json).
    ``warn`` receives the untrained-backbone warnings (default: :class:`UntrainedBackboneWarning` via warnings).

    Example:
        >>> s = finetune(Path("cache"), Path("runs/t"), FinetuneConfig(trials=5))  # doctest: +SKIP
        >>> s["mean_std"]["f1"]                                                     # doctest: +SKIP
        {'mean': 0.74, 'std': 0.01}
    """
    from fetaledge.train.recipe import resolve_recipe

    cfg = resolve_recipe(cfg or FinetuneConfig(), trials_given=True)
    if cfg.trials < 1:
        raise FetaledgeError(f"--trials must be >= 1, got {cfg.trials}")
    backbone = resolve_backbone(cfg)
    ctx = init_distributed(cfg.device)
    try:
        quiet = lambda _m: None  # noqa: E731
        warn_fn = warn or (lambda m: warnings.warn(m, UntrainedBackboneWarning, stacklevel=4))
        if backbone == TINY or (backbone in SEG_BACKBONES and cfg.weights is None):
            (warn_fn if ctx.is_main else quiet)(TINY_WARNING)
        elif backbone != FETALCLIP and cfg.backbone_weights is None:
            (warn_fn if ctx.is_main else quiet)(
                f"baseline {backbone} starts from random init (no --backbone-weights): not the paper's "
                "ImageNet-pretrained baseline")
        return _finetune(Path(data), Path(out), cfg, backbone, ctx, log if ctx.is_main else quiet)
    finally:
        shutdown(ctx)


def _finetune(data: Path, out: Path, cfg: FinetuneConfig, backbone: str, ctx: DistContext,
              log: Callable[[str], None]) -> dict[str, Any]:
    t_start = time.perf_counter()
    if ctx.is_main:
        ensure_writable_dir(out)
        cache = resolve_cache(data, out)
        if cfg.recipe == "paper" or backbone in SEG_BACKBONES:
            from fetaledge.train.masks import ensure_masks

            ensure_masks(cache)  # once, before the other ranks read them
    ctx.barrier()
    if not ctx.is_main:
        cache = resolve_cache(data, out, prepare=False)
    stats = check_splits(cache)
    seg = backbone in SEG_BACKBONES
    recipe_data = None
    if cfg.recipe == "paper" or seg:
        from fetaledge.train.recipe import load_recipe_data

        recipe_data = load_recipe_data(cache, cfg.recipe, with_masks=seg, seed=cfg.train.seed, log=log)
        frames = recipe_data.frames
        recipe_info = recipe_data.info
    else:
        frames = {s: load_frames(cache, s) for s in ("train", "val", "test")}
        from fetaledge.train.recipe import WHY_SUBJECT_SPLIT

        recipe_info = {"recipe": "default", "split": "subject", "why": WHY_SUBJECT_SPLIT}
    if cfg.recipe == "paper":
        shared = recipe_info["subjects_shared_between_splits"]
        log(f"paper recipe: split by scan uuid {recipe_info['cases']} (seed {recipe_info['split_seed']}), "
            f"{len(shared)} subject(s) in more than one split; {recipe_info['why_not_default']}")
    cache_size = FrameCache(cache).size
    weights, encoder_info = cfg.weights, None
    if (backbone == TINY or (seg and weights is None)) and weights is None and cfg.pretrain is not None:
        weights, pre_info = tiny_pretrained_weights(cache, cfg.pretrain, ctx, log=log)
        encoder_info = {"source": "stand-in pretraining (NOT FetalCLIP)", "path": str(weights),
                        "head_init": str(weights.parent / "head.pt"),
                        "seconds": pre_info["seconds"], "settings": pre_info["settings"]}
        log(f"stand-in pretrained encoder: {weights.parent} ({pre_info['seconds']} s when made)")
        if cfg.recipe == "paper":
            log("note: the stand-in pretraining learnt from the cache's subject-split train frames, some of which "
                "sit in the paper split's val/test: tiny-stand-in paper numbers are optimistic")
    if weights is not None and encoder_info is None:
        encoder_info = {"source": "--weights", "path": str(Path(weights).resolve()), "sha256": sha256_file(weights)}
    data_info = {"path": str(Path(data).resolve()), "cache": str(Path(cache).resolve()),
                 "cache_fingerprint": cache_fingerprint(cache), "split_seed": FrameCache(cache).split.seed,
                 "stats": stats, "recipe": recipe_info,
                 "split_cases": recipe_data.cases if recipe_data is not None else None}
    masks = recipe_data.masks if recipe_data is not None else None
    trials = []
    for k in range(cfg.trials):
        trials.append(_trial(k, backbone, cfg, weights, encoder_info, frames, cache_size, data_info, out, ctx, log,
                             masks))
    selected = min(trials, key=lambda t: t["best_val_loss"])
    summary = {
        "what": "fetaledge finetune run",
        "backbone": backbone,
        "config": cfg.to_json(),
        "data": data_info,
        "world_size": ctx.world_size,
        "rank": ctx.rank,  # of the process that returns this summary (only rank 0 wrote it)
        "versions": versions(),
        "seconds": round(time.perf_counter() - t_start, 1),
        "trials": trials,
        "mean_std": mean_std([t["metrics"] for t in trials]),
        "mean_std_at_0.5": mean_std([t["metrics_at_0.5"] for t in trials]),
        "selected": {"trial": selected["trial"], "model": selected["model"], "metrics": selected["metrics"],
                     "metrics_at_0.5": selected["metrics_at_0.5"], "rule": "lowest best validation loss"},
    }
    if ctx.is_main:
        write_json(out / "run.json", summary)
        write_json(out / "metrics.json", {**selected["metrics"], "trial": selected["trial"],
                                          "model": selected["model"], "mean_std_over_trials": summary["mean_std"],
                                          "at_0.5": selected["metrics_at_0.5"],
                                          "mean_std_over_trials_at_0.5": summary["mean_std_at_0.5"],
                                          "trials": cfg.trials, "recipe": recipe_info})
        for line in summary_lines(summary):
            log(line)
    ctx.barrier()
    return summary


def summary_lines(summary: dict[str, Any]) -> list[str]:
    """The closing lines of a run: F1 at 0.5 and at the calibrated threshold, mean +- sd over trials."""
    sel, n = summary["selected"], len(summary["trials"])
    ms, ms5 = summary["mean_std"]["f1"], summary["mean_std_at_0.5"]["f1"]
    rule = "the area rule" if summary["backbone"] in SEG_BACKBONES else "0.5"
    paper = summary["config"].get("recipe") == "paper"
    at5 = f"F1 at {rule} {ms5['mean']:.4f} +- {ms5['std']:.4f}"
    cal = f"F1 at the calibrated threshold {ms['mean']:.4f} +- {ms['std']:.4f}"
    lines = [f"over {n} trial(s) (mean +- sd): " + (f"{at5}; {cal}" if paper else f"{cal}; {at5}"),
             f"selected trial {sel['trial']}: test F1 {sel['metrics']['f1']:.4f} at threshold "
             f"{sel['metrics']['threshold']:.4f}, {sel['metrics_at_0.5']['f1']:.4f} at {rule}"]
    segs = [t["seg"] for t in summary["trials"] if t.get("seg")]
    if segs:
        dice = [s["masks"]["dice_pooled"] for s in segs if s["masks"]["dice_pooled"] is not None]
        iou = [s["masks"]["iou_pooled"] for s in segs if s["masks"]["iou_pooled"] is not None]
        wf = [s["wfss_mean"] for s in segs if s["wfss_mean"] is not None]
        if dice and iou and wf:
            lines.append(f"masks: Dice {np.mean(dice):.4f} +- {np.std(dice):.4f}, IoU {np.mean(iou):.4f} +- "
                         f"{np.std(iou):.4f}; WFSS {np.mean(wf):.4f} +- {np.std(wf):.4f} (test cases)")
    return lines


def _trial(k: int, backbone: str, cfg: FinetuneConfig, weights: Path | None, encoder_info: dict | None,
           frames: dict, cache_size: int, data_info: dict, out: Path, ctx: DistContext,
           log: Callable[[str], None], masks: dict | None = None) -> dict[str, Any]:
    seed = cfg.train.seed + k
    settings = replace(cfg.train, seed=seed)
    model, arch = _build(backbone, cfg, weights, seed)
    seg = backbone in SEG_BACKBONES
    if encoder_info and encoder_info.get("head_init") and not seg:
        head = torch.load(encoder_info["head_init"], map_location="cpu", weights_only=True)
        model.get_base_model().head.load_state_dict(head)
    # Segmentation: no online augmentation (it would move the frame but not its mask).
    pipeline = InputPipeline(cache_size, int(arch["input_size"]), arch["norm"], augment=cfg.augment and not seg)
    objective = None
    if seg:
        from fetaledge.models.segmentation import segmenter_of
        from fetaledge.train.seg_teacher import masks_to_input, seg_objective

        assert masks is not None
        objective = seg_objective({s: masks_to_input(m, int(arch["input_size"])) for s, m in masks.items()})
        segmenter_of(model).return_masks = True
    torch.manual_seed(seed)  # LoRA dropout and augmentation draw from the global generator
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    log(f"trial {k}: {backbone}, {trainable:,} trainable parameters, seed {seed}")
    t0 = time.perf_counter()
    desc = "teacher" if cfg.trials == 1 else f"teacher trial {k}"
    result = train(model, pipeline, frames["train"], frames["val"], settings, ctx, desc=desc, log=log,
                   objective=objective)
    seconds = time.perf_counter() - t0
    if seg:
        segmenter_of(model).return_masks = False
    digests = ctx.gather_objects(_state_digest(model))
    if len(set(digests)) != 1:
        raise FetaledgeError(f"DDP ranks ended trial {k} with different weights: {digests}")
    val_scores = sigmoid(predict_logits(model, pipeline, frames["val"], ctx))
    threshold, val_f1 = calibrate_threshold(val_scores, frames["val"].targets.numpy())
    test_scores = sigmoid(predict_logits(model, pipeline, frames["test"], ctx))
    metrics = metrics_report(test_scores, frames["test"].targets.numpy(), threshold, "test")
    metrics_05 = metrics_report(test_scores, frames["test"].targets.numpy(), 0.5, "test")
    folder = out / "trials" / str(k)
    seg_info = None
    if seg and ctx.is_main:
        from fetaledge.train.seg_teacher import seg_report

        ensure_writable_dir(folder)
        seg_info = seg_report(model, pipeline, frames["test"], masks["test"], ctx,
                              _split_cases(data_info, frames["test"]),
                              png=folder / "masks.png", title=f"{backbone} trial {k}, test split")
    config = {
        **arch,
        "threshold": float(threshold),
        "calibration": {"split": "val", "rule": "max F1", "val_f1": val_f1, "n": len(frames["val"])},
        "recipe": cfg.recipe,
        "backbone": backbone,
        "encoder_weights": encoder_info,
        "train": asdict(settings),
        "augment": cfg.augment,
        "trainable_parameters": trainable,
        "best_epoch": result.best_epoch,
        "best_val_loss": result.best_val_loss,
        "data": {k2: v for k2, v in data_info.items() if k2 not in ("stats", "split_cases")},
        "seed": seed,
        "trial": k,
        "world_size": ctx.world_size,
        "versions": versions(),
    }
    if ctx.is_main:
        ensure_writable_dir(folder)
        save_model(folder / "model", model.state_dict(), config)
        write_json(folder / "history.json", result.history_json())
        write_json(folder / "metrics.json", {**metrics, "model": str(folder / "model"), "at_0.5": metrics_05,
                                             **({"segmentation": seg_info} if seg_info else {})})
        plot_history(result.history_json(), folder / "curve.png",
                     f"{backbone} trial {k}: best epoch {result.best_epoch}, test F1 {metrics['f1']:.3f}")
        log(f"trial {k}: best epoch {result.best_epoch} (val loss {result.best_val_loss:.4f}), "
            f"threshold {threshold:.4f} (val F1 {val_f1:.3f}), test F1 {metrics['f1']:.4f} "
            f"({metrics_05['f1']:.4f} at {'the area rule' if seg else '0.5'}), "
            f"AUROC {metrics['auroc'] if metrics['auroc'] is None else round(metrics['auroc'], 4)}, "
            f"{seconds:.0f} s")
    return {
        "trial": k,
        "seed": seed,
        "model": str(folder / "model"),
        "best_epoch": result.best_epoch,
        "best_val_loss": result.best_val_loss,
        "threshold": float(threshold),
        "val_f1": val_f1,
        "metrics": metrics,
        "metrics_at_0.5": metrics_05,
        "seg": seg_info,
        "trainable_parameters": trainable,
        "seconds": round(seconds, 1),
        "rank_digests": digests,
        "history": result.history_json(),
    }


def _split_cases(data_info: dict[str, Any], frames: Any) -> list[str]:
    """uuids of a split in the order its frames' ``case`` indices refer to."""
    split = (data_info.get("split_cases") or {}).get(frames.split)
    if split is not None:
        return list(split)
    return list(FrameCache(data_info["cache"]).split.cases[frames.split])
