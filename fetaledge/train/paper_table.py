"""The paper's comparison table: six baselines, FetalCLIP_CLS and FetalCLIP_SEG through one harness and recipe.

Every row is a :func:`fetaledge.train.finetune.finetune` run with the same recipe (default ``paper``), data,
epochs and trials; the table reports F1 at 0.5 (for FetalCLIP_SEG: the area rule) and at the validation-
calibrated threshold, mean +- sd over trials, beside the paper's number (FetalCLIP-IQA README, "mean over five
runs"; FetalCLIP_SEG from the abstract).

Weights never download. A baseline's pretrained weights come from a local timm checkpoint the user passes
(``weights={"densenet121": Path(...)}``), FetalCLIP's from ``fetalclip_weights``; a row without one says
``random init`` (or, for FetalCLIP, the tiny stand-in), so nobody reads it as the paper's number. ``tiny=True``
shrinks the large transformers and the input size (the CPU phantom check); the row says so.

Example:
    >>> table = paper_table(Path("phantom"), Path("runs/table"), tiny=True, trials=2, epochs=1)  # doctest: +SKIP
    >>> print(Path("runs/table/paper_table.md").read_text())                                   # doctest: +SKIP
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fetaledge.errors import FetaledgeError
from fetaledge.fsio import atomic_path, write_json


@dataclass(frozen=True)
class Row:
    """One row of the paper's table: our backbone name and the paper's F1."""

    label: str
    backbone: str
    family: str
    paper_f1: float


ROWS = (
    Row("DenseNet121", "densenet121", "CNN", 0.7024),
    Row("EfficientNet-B0", "efficientnet_b0", "CNN", 0.7253),
    Row("VGG16", "vgg16", "CNN", 0.7084),
    Row("Swin-L", "swin_large_patch4_window7_224", "Transformer", 0.7429),
    Row("DeiT3-L", "deit3_large_patch16_224", "Transformer", 0.7466),
    Row("CLIP ViT-L/14", "vit_large_patch14_clip_224", "Transformer", 0.7506),
    Row("FetalCLIP_CLS", "fetalclip", "FM", 0.757),
    Row("FetalCLIP_SEG", "fetalclip-seg", "FM", 0.771),
)

#: ``tiny``: the same timm families at toy size (CPU phantom check), as tests/test_teacher_models.py builds them.
TINY_TIMM = {
    "vgg16": {"mlp_ratio": 0.0625},
    "swin_large_patch4_window7_224": {"embed_dim": 32, "depths": (1, 1, 1, 1), "num_heads": (1, 1, 2, 2),
                                      "window_size": 2},
    "deit3_large_patch16_224": {"embed_dim": 64, "depth": 2, "num_heads": 2},
    "vit_large_patch14_clip_224": {"embed_dim": 64, "depth": 2, "num_heads": 2},
}
#: ``tiny`` input sides: CNNs take any size (32 px keeps DenseNet's step short); the transformers are built at 64.
TINY_SIZE = {"full": 32, "lora": 64}


def _fmt(ms: dict[str, float] | None) -> str:
    return "n/a" if not ms else f"{ms['mean']:.3f} +- {ms['std']:.3f}"


def _config(row: Row, *, recipe: str, trials: int, epochs: int, batch_size: int, tiny: bool,
            weights: dict[str, Path], fetalclip_weights: Path | None, device: str):
    from fetaledge.train.settings import FinetuneConfig, PretrainSettings, TrainSettings

    train = TrainSettings(epochs=epochs, batch_size=batch_size)
    pretrain = PretrainSettings(epochs=1) if tiny else PretrainSettings()
    if row.family == "FM":
        source = (f"--weights {fetalclip_weights}" if fetalclip_weights else
                  "tiny stand-in (NOT FetalCLIP): random init + stand-in pretraining")
        backbone = row.backbone if (fetalclip_weights or row.backbone != "fetalclip") else "tiny"
        return FinetuneConfig(backbone=backbone, weights=fetalclip_weights, train=train, trials=trials,
                              device=device, recipe=recipe, pretrain=pretrain), source
    from fetaledge.models.baselines import BASELINES

    w = weights.get(row.backbone)
    source = f"local timm checkpoint {w}" if w else "random init"
    kwargs = TINY_TIMM.get(row.backbone) if tiny else None
    size = TINY_SIZE[BASELINES[row.backbone].mode] if tiny else None
    if tiny:
        source += f", shrunk for the CPU check (input {size} px{', ' + str(kwargs) if kwargs else ''})"
    return FinetuneConfig(backbone=row.backbone, backbone_weights=w, train=train, trials=trials, device=device,
                          recipe=recipe, input_size=size, timm_kwargs=kwargs), source


def paper_table(data: Path, out: Path, *, recipe: str = "paper", trials: int = 5, epochs: int = 5,
                batch_size: int = 32, tiny: bool = False, weights: dict[str, Path] | None = None,
                fetalclip_weights: Path | None = None, rows: tuple[str, ...] | None = None, device: str = "cpu",
                log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run every row (or ``rows``, by backbone name) on ``data`` into ``out/<backbone>``; write
    ``out/paper_table.md`` and ``out/paper_table.json``. Returns the JSON body."""
    from fetaledge.train.finetune import finetune

    weights = dict(weights or {})
    known = {r.backbone for r in ROWS}
    unknown = sorted(set(weights) - known) + sorted(set(rows or ()) - known)
    if unknown:
        raise FetaledgeError(f"unknown table row(s) {unknown}", hint=f"known: {', '.join(r.backbone for r in ROWS)}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    source_data = data = Path(data)
    results = []
    for row in ROWS:
        if rows and row.backbone not in rows:
            continue
        cfg, source = _config(row, recipe=recipe, trials=trials, epochs=epochs, batch_size=batch_size, tiny=tiny,
                              weights=weights, fetalclip_weights=fetalclip_weights, device=device)
        log(f"== {row.label} ({cfg.backbone}): {source}")
        t0 = time.perf_counter()
        # The first run prepares the cache; later rows read it (one split and frame set for all rows).
        summary = finetune(data, out / row.backbone, cfg, log=log, warn=lambda m: log(f"WARNING: {m}"))
        if not (data / "manifest.json").is_file() and (out / row.backbone / "cache").is_dir():
            data = out / row.backbone / "cache"
        results.append({
            "model": row.label, "backbone": cfg.backbone, "family": row.family, "weights": source,
            "trials": len(summary["trials"]), "recipe": recipe,
            "f1_at_0.5": summary["mean_std_at_0.5"].get("f1"), "f1_calibrated": summary["mean_std"].get("f1"),
            "auroc": summary["mean_std"].get("auroc"),
            "trainable_parameters": summary["trials"][0].get("trainable_parameters"),
            "paper_f1": row.paper_f1, "seconds": round(time.perf_counter() - t0, 1), "run": str(out / row.backbone),
        })
    body = {"what": "FetalCLIP-IQA comparison table, one harness", "data": str(source_data), "cache": str(data),
            "recipe": recipe,
            "epochs": epochs, "trials": trials, "tiny": tiny, "rows": results,
            "note": ("tiny settings on the phantom: a check that every row runs through the same harness, NOT a "
                     "reproduction; the paper column is the published number") if tiny else None}
    write_json(out / "paper_table.json", body)
    with atomic_path(out / "paper_table.md", suffix=".md") as tmp:
        tmp.write_text(render_markdown(body))
    return body


def render_markdown(body: dict[str, Any]) -> str:
    """The table as Markdown, one row per model, like the paper's."""
    rule = "F1 at 0.5 (SEG: area rule)"
    lines = [f"# FetalCLIP-IQA comparison ({body['recipe']} recipe, {body['epochs']} epoch(s), "
             f"{body['trials']} trial(s), data {body['data']})", ""]
    if body.get("note"):
        lines += [f"**{body['note']}**", ""]
    lines += [f"| model | family | weights | {rule} | F1 calibrated | AUROC | trainable | paper F1 | s |",
              "|---|---|---|---|---|---|---|---|---|"]
    for r in body["rows"]:
        tp = r.get("trainable_parameters")
        lines.append(f"| {r['model']} | {r['family']} | {r['weights']} | {_fmt(r['f1_at_0.5'])} | "
                     f"{_fmt(r['f1_calibrated'])} | {_fmt(r['auroc'])} | {tp if tp is not None else 'n/a'} | "
                     f"{r['paper_f1']:.3f} | {r['seconds']:.0f} |")
    return "\n".join(lines) + "\n"
