"""Training recipes: ``default`` (fetaledge's) and ``paper`` (FetalCLIP-IQA @ fbcbdd2, as published).

* split: ``paper`` by scan uuid with the paper's seed (:func:`fetaledge.data.splits.paper_split`);
  ``default`` by subject (the cache's split).
* label: ``paper`` any pixel of the mask after hole filling and nearest resize to the cache size;
  ``default`` any pixel of the full-size mask.
* training frames: ``paper`` each train frame + 2 offline augmented copies (:mod:`fetaledge.train.paper_augment`),
  no online augmentation; ``default`` 1x with online augmentation.
* LoRA targets (FetalCLIP): ``paper`` ``c_fc, c_proj, out_proj`` (out_proj never trains under
  nn.MultiheadAttention, as in the paper's code); ``default`` ``attn, c_fc, c_proj``.
* trials: ``paper`` 5 from the CLI (``--trials`` overrides); ``default`` 1. Mean +- sd is reported either way.
* headline F1: ``paper`` at 0.5; ``default`` at the validation-calibrated threshold.

Both thresholds are reported by every run. The subject split stays the default because the paper's lets a
subject scanned twice sit in train and test (19 of ACOUSLIC-AI's 281 subjects have two scans).

Example:
    >>> resolve_recipe(FinetuneConfig(recipe="paper", trials=2), trials_given=True).trials
    2
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fetaledge.data.cache import FrameCache
from fetaledge.data.splits import SPLITS, paper_split
from fetaledge.errors import FetaledgeError
from fetaledge.train.data import Frames
from fetaledge.train.settings import FinetuneConfig

RECIPES = ("default", "paper")
PAPER_TRIALS = 5
PAPER_COPIES = 2
PAPER_FETALCLIP_TARGETS = ("c_fc", "c_proj", "out_proj")
WHY_SUBJECT_SPLIT = ("the default split is by subject: the paper's uuid split can put the two scans of one "
                     "subject in train and test (ACOUSLIC-AI: 300 scans of 281 subjects)")


def check_recipe(name: str) -> str:
    if name not in RECIPES:
        raise FetaledgeError(f"unknown recipe {name!r}", hint=f"known: {', '.join(RECIPES)}")
    return name


def resolve_recipe(cfg: FinetuneConfig, trials_given: bool = False) -> FinetuneConfig:
    """The config the recipe implies: for ``paper``, no online augmentation (its copies are offline) and, when
    ``trials_given`` is False, the paper's 5 trials. (The paper's LoRA targets are picked at model build.)"""
    check_recipe(cfg.recipe)
    if cfg.recipe != "paper":
        return cfg
    return replace(cfg, trials=cfg.trials if trials_given else PAPER_TRIALS, augment=False)


@dataclass
class RecipeData:
    """The frames of each split as the recipe sees them, the masks when loaded, and what the report says."""

    frames: dict[str, Frames]
    masks: dict[str, np.ndarray] | None
    info: dict[str, Any]
    cases: dict[str, list[str]]  # uuids per split, in the order Frames.case indexes them


def _frames(split: str, images: np.ndarray, labels: np.ndarray, case: np.ndarray,
            targets: np.ndarray) -> Frames:
    return Frames(split, torch.from_numpy(np.ascontiguousarray(images)), torch.from_numpy(targets.astype(np.float32)),
                  torch.from_numpy(labels.astype(np.int64)), case)


def mask_labels(masks: np.ndarray) -> np.ndarray:
    """Per-frame ACOUSLIC label (0/1/2) of label masks (n, S, S): the label value present, 0 when empty."""
    flat = masks.reshape(len(masks), -1)
    return flat.max(axis=1).astype(np.int64) if flat.size else np.zeros(len(masks), np.int64)


def load_recipe_data(cache: Path, recipe: str, *, with_masks: bool = False, seed: int = 0,
                     log=print) -> RecipeData:
    """Frames (and masks) per split for ``recipe``: the cache's subject split, or the paper's uuid split with
    mask labels and two augmented copies of every train frame."""
    from fetaledge.train.data import load_frames
    from fetaledge.train.masks import ensure_masks, load_split_masks

    fc = FrameCache(cache)
    if recipe == "default":
        frames = {s: load_frames(fc, s) for s in SPLITS}
        masks = {s: load_split_masks(fc, s) for s in SPLITS} if with_masks else None
        info = {"recipe": "default", "split": "subject", "split_seed": fc.split.seed, "label": "full-size mask",
                "why": WHY_SUBJECT_SPLIT}
        return RecipeData(frames, masks, info, {k: list(v) for k, v in fc.split.cases.items()})
    ensure_masks(fc)
    uuids = [e["uuid"] for e in fc.manifest["cases"]]  # CSV row order: the paper permutes df["uuid"]
    split = paper_split(uuids, {u: e["subject_id"] for u, e in fc.entries.items()})
    fc.split = split
    frames, masks, relabelled = {}, {}, 0
    for name in SPLITS:
        sf = fc.load(name)
        m = load_split_masks(fc, name, split.cases[name])
        labels = mask_labels(m)
        relabelled += int(((labels > 0) != (sf.labels > 0)).sum())
        images, case = sf.images, sf.case
        if name == "train":
            aug_i, aug_m = augmented_copies_logged(sf.images, m, seed, log)
            images = np.concatenate([images, aug_i])
            m = np.concatenate([m, aug_m])
            labels = np.concatenate([labels, mask_labels(aug_m)])
            case = np.concatenate([case] * (1 + PAPER_COPIES))
        frames[name] = _frames(name, images, labels, case, (labels > 0).astype(np.float32))
        masks[name] = m
    for name in SPLITS:
        if frames[name].positives == 0:
            raise FetaledgeError(f"the paper split leaves the {name} split without a positive frame",
                                 hint="use more cases (e.g. `fetaledge data phantom --cases 8`)")
    info = {
        "recipe": "paper", "split": "paper (by scan uuid)", "split_seed": split.seed,
        "cases": {k: len(v) for k, v in split.cases.items()},
        "subjects_shared_between_splits": split.shared_subjects(),
        "label": "any pixel of the mask after hole filling and nearest resize to the cache size",
        "frames_relabelled_by_mask_rule": relabelled,
        "train_copies": PAPER_COPIES,
        "why_not_default": WHY_SUBJECT_SPLIT,
    }
    return RecipeData(frames, masks, info, {k: list(v) for k, v in split.cases.items()})


def augmented_copies_logged(images: np.ndarray, masks: np.ndarray, seed: int, log) -> tuple[np.ndarray, np.ndarray]:
    from fetaledge.train.paper_augment import augmented_copies

    log(f"paper recipe: {PAPER_COPIES} augmented copies of {len(images)} train frames (ColorJitter, CLAHE, Affine)")
    return augmented_copies(images, masks, PAPER_COPIES, seed)
