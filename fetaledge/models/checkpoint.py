"""Model folders: the contract between finetune, merge, distill, export and build.

A model folder holds ``config.json`` and ``model.pt`` (a state dict). ``config["kind"]`` names the module
that rebuilds the network (:data:`BUILDERS`); each builder module exposes ``from_config(config) -> nn.Module``
whose forward maps normalised RGB (B, 3, S, S) to logits (B,) with S = ``config["input_size"]`` and the
normalisation ``config["norm"]`` ("clip" or "imagenet"). ``config["threshold"]`` is the decision threshold
on sigmoid(logit), calibrated on the validation split.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from fetaledge.errors import FetaledgeError
from fetaledge.fsio import atomic_path, read_json

# kind -> module with from_config(config). Add a family by adding a line.
BUILDERS = {
    "fetalclip-lora": "fetaledge.models.fetalclip",
    "fetalclip-merged": "fetaledge.models.fetalclip",
    "baseline": "fetaledge.models.baselines",
    "fetalclip-seg": "fetaledge.models.segmentation",
    "fetalclip-seg-lora": "fetaledge.models.segmentation",
    "fetalclip-seg-merged": "fetaledge.models.segmentation",
    "student": "fetaledge.models.students",
}
REQUIRED = ("kind", "input_size", "norm", "threshold")


def read_config(model_dir: Path) -> dict[str, Any]:
    """Read and check a model folder's config.json."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise FetaledgeError(f"model folder not found: {model_dir}")
    cfg = read_json(model_dir / "config.json", "model config")
    missing = [k for k in REQUIRED if k not in cfg]
    if missing:
        raise FetaledgeError(f"{model_dir}/config.json lacks {missing}; is this a fetaledge model folder?")
    if cfg["kind"] not in BUILDERS:
        raise FetaledgeError(
            f"{model_dir} holds a model of unknown kind {cfg['kind']!r}", hint=f"known: {', '.join(BUILDERS)}"
        )
    return cfg


def load_model(model_dir: Path, expect: tuple[str, ...] | None = None):
    """Rebuild the network of a model folder and load its weights (eval mode, CPU).

    Example:
        >>> model, cfg = load_model("runs/teacher/merged", expect=("fetalclip-merged",))  # doctest: +SKIP
    """
    import torch

    model_dir = Path(model_dir)
    cfg = read_config(model_dir)
    if expect and cfg["kind"] not in expect:
        raise FetaledgeError(
            f"{model_dir} holds a {cfg['kind']!r} model, expected {' or '.join(expect)}",
            hint="pass the folder written by the right stage (e.g. `fetaledge merge` for --teacher)",
        )
    weights = model_dir / "model.pt"
    if not weights.is_file():
        raise FetaledgeError(f"{model_dir} lacks model.pt")
    model = importlib.import_module(BUILDERS[cfg["kind"]]).from_config(cfg)
    state = torch.load(weights, map_location="cpu", weights_only=True)
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise FetaledgeError(f"{weights} does not match its config.json: {str(exc).splitlines()[0]}") from exc
    return model.eval(), cfg


def save_model(model_dir: Path, state_dict: dict, config: dict[str, Any]) -> None:
    """Write config.json and model.pt into ``model_dir`` atomically (the folder appears complete or not at all)."""
    import json

    import torch

    missing = [k for k in REQUIRED if k not in config]
    if missing:
        raise ValueError(f"model config lacks {missing}")
    with atomic_path(Path(model_dir)) as tmp:
        tmp.mkdir()
        torch.save(state_dict, tmp / "model.pt")
        (tmp / "config.json").write_text(json.dumps(config, indent=2) + "\n")
