"""``fetaledge merge``: fold LoRA adapters into the weights (peft ``merge_and_unload``), verified every time.

The merged model is a plain fp32 model folder (kind ``fetalclip-merged``, or ``baseline`` without adapters)
with the same threshold and provenance. Before anything is written, the merged logits are compared with the
adapter model's on a batch (validation frames of the run's cache when reachable, plus seeded random frames)
and again after rebuilding the merged folder from its config; a difference above ``atol`` (1e-4) is an error.
That check is what catches a peft release whose MultiheadAttention merge differs from its forward.

Example:
    >>> info = merge_run(Path("runs/teacher"), Path("runs/teacher-merged"))  # doctest: +SKIP
    >>> info["max_abs_diff"] <= 1e-4                                         # doctest: +SKIP
    True
"""

from __future__ import annotations

import copy
import importlib
from pathlib import Path
from typing import Any

import torch
from torch import nn

from fetaledge.data.cache import FrameCache, is_cache
from fetaledge.errors import FetaledgeError
from fetaledge.fsio import read_json
from fetaledge.models.checkpoint import BUILDERS, load_model, save_model
from fetaledge.models.lora import merge_lora
from fetaledge.train.data import InputPipeline

ATOL = 1e-4
MERGED_KIND = {"fetalclip-lora": "fetalclip-merged", "baseline": "baseline",
               "fetalclip-seg-lora": "fetalclip-seg-merged", "fetalclip-seg": "fetalclip-seg-merged"}


def resolve_model_dir(path: Path) -> Path:
    """A model folder as is; a finetune run folder -> its selected trial's model folder."""
    path = Path(path)
    if (path / "config.json").is_file():
        return path
    if (path / "run.json").is_file():
        return Path(read_json(path / "run.json", "run summary")["selected"]["model"])
    raise FetaledgeError(f"{path} is neither a model folder (config.json) nor a finetune run (run.json)",
                         hint="pass the --out folder of `fetaledge finetune` or one of its trials/<k>/model")


def check_batch(config: dict[str, Any], n_real: int = 8, n_random: int = 4, seed: int = 0) -> tuple[torch.Tensor, str]:
    """Normalised model inputs to compare logits on: real validation frames when the run's cache is there."""
    size, norm = int(config["input_size"]), config["norm"]
    gen = torch.Generator().manual_seed(seed)
    parts, what = [], []
    cache = (config.get("data") or {}).get("cache")
    if cache and is_cache(Path(cache)):
        fc = FrameCache(cache)
        val = fc.load("val")
        take = torch.linspace(0, len(val.labels) - 1, min(n_real, len(val.labels))).long()
        if len(take):
            pipe = InputPipeline(fc.size, size, norm).eval()
            parts.append(pipe(torch.from_numpy(val.images[take.numpy()])))
            what.append(f"{len(take)} validation frames of {cache}")
    raw = torch.randint(0, 256, (n_random, size, size), generator=gen, dtype=torch.uint8)
    parts.append(InputPipeline(size, size, norm).eval()(raw))
    what.append(f"{n_random} seeded random frames")
    return torch.cat(parts), " + ".join(what)


@torch.no_grad()
def _logits(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The model's logits; for a segmentation teacher its per-pixel logits (its area logit moves in steps)."""
    model.eval()
    from fetaledge.models.segmentation import FetalCLIPSegmenter

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    if isinstance(base, FetalCLIPSegmenter):
        return base.masks(x).float().reshape(-1)
    return model(x).float().reshape(-1)


def merge_run(run_dir: Path, out: Path, atol: float = ATOL, random_frames: int = 4) -> dict[str, Any]:
    """Merge the adapters of a finetune run (its selected trial) or model folder into ``out``; verified.

    Example:
        >>> merge_run(Path("runs/teacher"), Path("runs/teacher-merged"))["kind"]  # doctest: +SKIP
        'fetalclip-merged'
    """
    src = resolve_model_dir(run_dir)
    model, cfg = load_model(src, expect=tuple(MERGED_KIND))
    frozen_seg = cfg["kind"] == "fetalclip-seg"  # the paper's frozen encoder: no adapters, written as merged
    if not cfg.get("lora") and not frozen_seg:
        raise FetaledgeError(f"{src} has no LoRA adapters (a fully fine-tuned {cfg.get('arch')}): nothing to merge",
                             hint="use the model folder as it is")
    x, batch_desc = check_batch(cfg, n_random=random_frames)
    reference = _logits(model, x)
    merged = model if frozen_seg else merge_lora(model)
    diff = float((_logits(merged, x) - reference).abs().max())
    _fail_if(diff, atol, "merged model", src)
    new_cfg = copy.deepcopy(cfg)
    new_cfg["kind"] = MERGED_KIND[cfg["kind"]]
    new_cfg["lora"] = None
    state = {k: v.detach().float().contiguous() for k, v in merged.state_dict().items()}
    rebuilt = importlib.import_module(BUILDERS[new_cfg["kind"]]).from_config(new_cfg)
    rebuilt.load_state_dict(state)
    diff_rebuilt = float((_logits(rebuilt, x) - reference).abs().max())
    _fail_if(diff_rebuilt, atol, "merged model rebuilt from its config", src)
    new_cfg["merged_from"] = {
        "model": str(src.resolve()),
        "lora": cfg["lora"],
        "note": "frozen encoder, no adapters: weights copied unchanged" if frozen_seg else None,
        "check": {"batch": batch_desc, "n": int(x.shape[0]), "max_abs_diff": diff,
                  "max_abs_diff_rebuilt": diff_rebuilt, "atol": atol},
    }
    save_model(Path(out), state, new_cfg)
    return {"model": str(Path(out)), "kind": new_cfg["kind"], "threshold": new_cfg["threshold"],
            "max_abs_diff": max(diff, diff_rebuilt), "batch": batch_desc, "source": str(src)}


def _fail_if(diff: float, atol: float, what: str, src: Path) -> None:
    if not diff <= atol:  # also catches NaN
        raise FetaledgeError(
            f"the {what} disagrees with the adapter model of {src}: max |logit difference| {diff:.3g} > {atol:g}; "
            "nothing was written",
            hint="a peft MultiheadAttention merge bug is the usual cause: install the pinned peft (0.21.*)",
        )
