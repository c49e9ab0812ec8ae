"""``fetaledge evaluate``: any model folder (or finetune run) on any split of a cache, same metrics JSON.

The decision threshold is the one saved with the model (calibrated on the validation split at training).

Example:
    >>> report = evaluate(Path("runs/teacher-merged"), Path("cache"), split="test")  # doctest: +SKIP
    >>> report["f1"], report["threshold"]                                             # doctest: +SKIP
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from fetaledge.data.cache import FrameCache, is_cache
from fetaledge.data.splits import SPLITS
from fetaledge.errors import FetaledgeError
from fetaledge.fsio import write_json
from fetaledge.models.checkpoint import load_model
from fetaledge.train.data import InputPipeline, cache_fingerprint, check_splits, load_frames, resolve_cache
from fetaledge.train.dist import DistContext, resolve_device
from fetaledge.train.loop import predict_logits, sigmoid
from fetaledge.train.merge import resolve_model_dir
from fetaledge.train.report import metrics_report


def evaluate(checkpoint: Path, data: Path, split: str = "test", out: Path | None = None, device: str = "cpu",
             batch_size: int = 64, cache_dir: Path | None = None) -> dict[str, Any]:
    """Score ``split`` of ``data`` with a model folder at its saved threshold; write ``out`` if given.

    ``data`` is a prepared cache, or an ACOUSLIC-layout folder that is prepared into ``cache_dir`` (default:
    ``cache`` beside ``out``).
    """
    if split not in SPLITS:
        raise FetaledgeError(f"unknown split {split!r}", hint=f"use one of {', '.join(SPLITS)}")
    model_dir = resolve_model_dir(Path(checkpoint))
    model, cfg = load_model(model_dir)
    data = Path(data)
    if not is_cache(data):
        if cache_dir is None and out is None:
            raise FetaledgeError(f"{data} is not a prepared cache; say where to prepare it",
                                 hint="pass --out (the cache goes beside it) or run `fetaledge data prepare` first")
        cache_root = Path(cache_dir) if cache_dir is not None else Path(out).parent  # type: ignore[arg-type]
        cache = resolve_cache(data, cache_root)
    else:
        cache = data
    check_splits(cache, (split,))
    frames = load_frames(cache, split)
    fc = FrameCache(cache)
    ctx = DistContext(0, 1, resolve_device(device))
    pipeline = InputPipeline(fc.size, int(cfg["input_size"]), cfg["norm"])
    t0 = time.perf_counter()
    logits = predict_logits(model, pipeline, frames, ctx, batch_size=batch_size)
    seconds = time.perf_counter() - t0
    scores = sigmoid(logits)
    report = metrics_report(scores, frames.targets.numpy(), float(cfg["threshold"]), split)
    # The paper's threshold beside the calibrated one (for a segmentation teacher 0.5 is its area rule).
    report["at_0.5"] = metrics_report(scores, frames.targets.numpy(), 0.5, split)
    report.update({
        "model": str(model_dir),
        "kind": cfg["kind"],
        "arch": cfg.get("arch"),
        "data": {"cache": str(Path(cache).resolve()), "cache_fingerprint": cache_fingerprint(cache)},
        "seconds": round(seconds, 2),
        "frames_per_s": round(len(frames) / max(seconds, 1e-9), 1),
        "device": device,
    })
    if out is not None:
        write_json(Path(out), report)
    return report
