"""The full-size proof on CPU: FetalCLIP's real ViT-L/14 through the same code a GPU run takes.

:func:`fullsize_proof` writes a checkpoint in the released FetalCLIP format (the whole open_clip CLIP state dict
of ``FetalCLIP_config.json``: vision AND text towers, random weights, ``torch.save`` of the state dict), then,
through the code ``fetaledge finetune --weights`` runs (:func:`fetaledge.train.finetune.resolve_backbone`, the
model builders, :func:`fetaledge.train.loop.train`, model folders), trains one LoRA step of FetalCLIP_CLS and
one of FetalCLIP_SEG (LoRA through the decoder) at batch 2, merges both with ``fetaledge merge``'s verified merge
(merged == unmerged), exports the merged CLS teacher to ONNX with the parity check, and records seconds per
step and the peak RSS. Random weights make every number but time and memory meaningless.

Run it alone for the record: ``python -m fetaledge.train.fullsize --out benchmarks/results/fullsize_cpu.json``.

Example:
    >>> report = fullsize_proof(Path("/tmp/fullsize"))  # doctest: +SKIP
    >>> report["seconds"]["total"] < 300                 # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fetaledge.fsio import write_json

BATCH = 2


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (MB; Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def cpu_isa() -> str:
    """The CPU model and its SIMD extensions that matter here (from /proc/cpuinfo)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or "unknown"
    model = next((ln.split(":", 1)[1].strip() for ln in text.splitlines() if ln.startswith("model name")), "?")
    flags = next((ln.split(":", 1)[1].split() for ln in text.splitlines() if ln.startswith("flags")), [])
    isa = [f for f in ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_tile") if f in flags]
    return f"{model} ({', '.join(isa) or 'no avx2'})"


def write_fetalclip_checkpoint(path: Path, seed: int = 0) -> dict[str, Any]:
    """A random-weight checkpoint in the released format: open_clip ``create_model("FetalCLIP")``'s state dict."""
    import open_clip

    from fetaledge.models.fetalclip import register_open_clip_configs

    register_open_clip_configs()
    torch.manual_seed(seed)
    model = open_clip.create_model("FetalCLIP", pretrained=None)
    state = model.state_dict()
    n = sum(v.numel() for v in state.values())
    visual = sum(v.numel() for k, v in state.items() if k.startswith("visual."))
    torch.save(state, path)
    del model, state
    return {"tensors_total": n, "visual_parameters": visual, "bytes": path.stat().st_size}


def _frames(n: int, seed: int, split: str):
    from fetaledge.train.data import Frames

    rng = np.random.default_rng(seed)
    images = torch.from_numpy(rng.integers(0, 256, (n, 224, 224), dtype=np.uint8))
    targets = torch.tensor([1.0, 0.0] * (n // 2))
    return Frames(split, images, targets, targets.long(), np.zeros(n, np.int64))


def _one_step(kind: str, cfg, weights: Path, folder: Path, timings: dict[str, float]) -> Path:
    """Build (via --weights), train one step at batch 2, save the model folder; returns it."""
    from fetaledge.models.checkpoint import save_model
    from fetaledge.train.data import InputPipeline
    from fetaledge.train.dist import DistContext
    from fetaledge.train.finetune import _build, resolve_backbone
    from fetaledge.train.loop import train

    backbone = resolve_backbone(cfg)
    t0 = time.perf_counter()
    model, arch = _build(backbone, cfg, weights, seed=0)
    timings[f"{kind}_build_and_load_s"] = round(time.perf_counter() - t0, 1)
    ctx = DistContext(0, 1, torch.device("cpu"))
    pipeline = InputPipeline(224, int(arch["input_size"]), arch["norm"])
    train_f, val_f = _frames(BATCH, 1, "train"), _frames(BATCH, 2, "val")
    objective = None
    if kind == "seg":
        from fetaledge.models.segmentation import segmenter_of
        from fetaledge.train.seg_teacher import seg_objective

        rng = np.random.default_rng(3)
        masks = {s: torch.from_numpy((rng.random((BATCH, 224, 224)) < 0.05).astype(np.uint8)) for s in ("train", "val")}
        objective = seg_objective(masks)
        segmenter_of(model).return_masks = True
    t0 = time.perf_counter()
    result = train(model, pipeline, train_f, val_f, replace(cfg.train, epochs=1, batch_size=BATCH), ctx,
                   desc=f"full-size {kind}", objective=objective)
    timings[f"{kind}_one_step_and_val_s"] = round(time.perf_counter() - t0, 1)
    if kind == "seg":
        segmenter_of(model).return_masks = False
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    timings[f"{kind}_trainable_parameters"] = trainable
    timings[f"{kind}_train_loss"] = result.history[0].train_loss
    save_model(folder, model.state_dict(), {**arch, "threshold": 0.5, "encoder_weights": {"path": str(weights)},
                                            "note": "random weights: a proof of size, not a model"})
    return folder


def fullsize_proof(work: Path, *, export: bool = True, log=print) -> dict[str, Any]:
    """Run the proof in ``work`` (about 2 GB of checkpoints are written there); returns the report."""
    from fetaledge.train.merge import merge_run
    from fetaledge.train.recipe import PAPER_FETALCLIP_TARGETS
    from fetaledge.train.settings import FinetuneConfig

    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    t_all, cpu_all = time.perf_counter(), time.process_time()
    times: dict[str, Any] = {}
    ckpt = work / "FetalCLIP_weights.pt"
    t0 = time.perf_counter()
    info = write_fetalclip_checkpoint(ckpt)
    times["write_checkpoint_s"] = round(time.perf_counter() - t0, 1)
    log(f"released-format checkpoint: {info['tensors_total']:,} parameters ({info['visual_parameters']:,} visual), "
        f"{info['bytes'] / 1e9:.2f} GB")
    cls_cfg = FinetuneConfig(weights=ckpt, pretrain=None)
    seg_cfg = FinetuneConfig(weights=ckpt, backbone="fetalclip-seg-lora", lora_targets=PAPER_FETALCLIP_TARGETS[:2],
                             pretrain=None)
    merged: dict[str, Any] = {}
    for kind, cfg in (("cls", cls_cfg), ("seg", seg_cfg)):
        folder = _one_step(kind, cfg, ckpt, work / kind / "model", times)
        log(f"{kind}: one LoRA step at batch {BATCH} in {times[f'{kind}_one_step_and_val_s']} s")
        t0 = time.perf_counter()
        m = merge_run(folder, work / kind / "merged", random_frames=BATCH)  # 3 ViT-L passes per frame
        times[f"{kind}_merge_s"] = round(time.perf_counter() - t0, 1)
        merged[kind] = {"max_abs_diff": m["max_abs_diff"], "kind": m["kind"], "batch": m["batch"]}
        log(f"{kind}: merged == unmerged within {m['max_abs_diff']:.2e} ({m['kind']})")
    exported = None
    if export:
        from fetaledge.export.pipeline import export_model

        t0 = time.perf_counter()
        res = export_model(work / "cls" / "merged", work / "export", formats=("onnx",), name="fetalclip_cls")
        times["export_onnx_s"] = round(time.perf_counter() - t0, 1)
        exported = {"max_abs_diff": res.reports["onnx"]["max_abs_diff"], "bytes": res.reports["onnx"]["bytes"]}
        log(f"exported the merged CLS teacher: {exported['bytes'] / 1e9:.2f} GB ONNX, max |diff| "
            f"{exported['max_abs_diff']:.2e}")
    times["total"] = round(time.perf_counter() - t_all, 1)
    times["cpu_total"] = round(time.process_time() - cpu_all, 1)  # CPU seconds: comparable on a busy machine
    return {
        "what": "full-size FetalCLIP (ViT-L/14, FetalCLIP_config.json) on CPU, random weights",
        "checkpoint": info,
        "seconds": times,
        "peak_rss_mb": round(peak_rss_mb(), 0),
        "merge": merged,
        "export": exported,
        "batch": BATCH,
        "host": {"cpu": cpu_isa(), "threads": torch.get_num_threads(), "torch": torch.__version__,
                 "load_average_1m_at_end": round(os.getloadavg()[0], 1)},
        "gpu": "not run on a GPU",
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True, help="Report JSON to write.")
    ap.add_argument("--work", type=Path, default=Path("/tmp/fetaledge-fullsize"), help="Scratch folder (~4 GB).")
    args = ap.parse_args(argv)
    report = fullsize_proof(args.work)
    write_json(args.out, report)
    print(json.dumps({k: report[k] for k in ("seconds", "peak_rss_mb", "host")}, indent=2))


if __name__ == "__main__":  # pragma: no cover
    main()
