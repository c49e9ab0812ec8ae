"""Accuracy of an artifact on a split: frame F1 family, agreement with its fp32 parent, and WFSS per case."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from fetaledge.bench.artifacts import BenchArtifact
from fetaledge.data import layout as L
from fetaledge.data.acouslic import AcouslicCase, AcouslicDataset
from fetaledge.data.cache import FrameCache
from fetaledge.errors import FetaledgeError
from fetaledge.metrics import binary_metrics, mean_wfss
from fetaledge.runtime.decision import DecisionParams, run_case
from fetaledge.runtime.numeric import sigmoid_array
from quantize.stats import wilson_interval


def scorer(artifact: BenchArtifact, raw_hw: tuple[int, int], threads: int = 2) -> Callable[[np.ndarray], np.ndarray]:
    """A function frames (n, H, W) uint8 -> logits (n,) for the artifact (batched for PyTorch)."""
    if artifact.runtime == "torch":
        import torch

        from fetaledge.export.pipeline import raw_model_from_dir

        torch.set_num_threads(threads)
        model, _ = raw_model_from_dir(Path(artifact.path), raw_hw)

        def run_torch(frames: np.ndarray) -> np.ndarray:
            out = []
            with torch.inference_mode():
                for i in range(0, len(frames), 16):
                    out.append(model(torch.from_numpy(np.ascontiguousarray(frames[i : i + 16]))).numpy())
            return np.concatenate(out) if out else np.zeros(0)

        return run_torch
    from fetaledge.bench.worker import _runtime_runner

    eng = _runtime_runner({"path": artifact.path, "runtime": artifact.runtime, "precision": artifact.precision,
                           "threads": threads})
    return lambda frames: np.array([eng(f) for f in frames], np.float64)


def iter_cases(cache: FrameCache, split: str) -> Iterator[tuple[str, list[int], list[np.ndarray], list[np.ndarray]]]:
    """(uuid, kept sweeps, frames per sweep, labels per sweep) for every case of ``split``, all six sweeps.

    A plane-dataset cache has one-frame cases: (uuid, [0], [frame (1, H, W)], [label (1,)]), the frame read
    back by :func:`fetaledge.data.raw.iter_raw_sweeps` (grey, letterboxed to the cache's raw size)."""
    if cache.manifest.get("source_kind") == "planes":
        from fetaledge.data.raw import iter_raw_sweeps

        for sw in iter_raw_sweeps(cache, split):
            yield sw.case, [0], [sw.frames], [sw.labels]
        return
    src = Path(cache.manifest["source"])
    if not src.is_dir():
        raise FetaledgeError(f"the source folder of cache {cache.root} is gone: {src}")
    ds = AcouslicDataset(src)
    records = {r.uuid: r for r in ds.records}
    for uuid in cache.split.cases[split]:
        case = AcouslicCase(ds.root, records[uuid])
        sweeps = [case.read_sweep(k) for k in range(L.N_SWEEPS)]
        yield uuid, cache.entries[uuid]["sweeps"], [s.frames for s in sweeps], [s.labels for s in sweeps]


def score_split(artifacts: list[BenchArtifact], cache: FrameCache, split: str, raw_hw: tuple[int, int],
                progress: Callable[[int], None] | None = None, threads: int = 2) -> dict[str, Any]:
    """Logits of every artifact on every frame of every case of ``split`` (all six sweeps), with labels and a
    mask of the frames that belong to kept (annotated) sweeps. One pass over the data for all artifacts.
    ``threads`` per runtime (1 is the robust choice on a busy shared machine, where spinning thread pools stall)."""
    runs = {a.name: scorer(a, raw_hw, threads) for a in artifacts}
    logits: dict[str, list[np.ndarray]] = {a.name: [] for a in artifacts}
    labels, kept, cases = [], [], []
    for uuid, keep, frames, labs in iter_cases(cache, split):
        n_case = 0
        for k, (f, lab) in enumerate(zip(frames, labs, strict=True)):
            for name, fn in runs.items():
                logits[name].append(fn(f))
            labels.append(lab)
            kept.append(np.full(len(lab), k in keep))
            n_case += len(lab)
            if progress:
                progress(len(lab))
        cases.append((uuid, n_case, len(frames[0])))
    return {"logits": {k: np.concatenate(v) for k, v in logits.items()}, "labels": np.concatenate(labels),
            "kept": np.concatenate(kept), "cases": cases}


def quality(scores: dict[str, Any], name: str, threshold: float, decision: DecisionParams,
            parent: str | None = None, parent_threshold: float | None = None) -> dict[str, Any]:
    """Frame metrics on kept frames (the paper's setting), agreement with the parent (on kept frames, and on every
    frame with its Wilson 95 % interval), WFSS over whole cases."""
    p = sigmoid_array(scores["logits"][name])
    lab, kept = scores["labels"], scores["kept"]
    m = binary_metrics(p[kept], (lab[kept] > 0).astype(int), threshold)
    out: dict[str, Any] = {"threshold": threshold, "n_frames": int(kept.sum()),
                           **{k: getattr(m, k) for k in ("f1", "precision", "recall", "specificity", "accuracy")}}
    if parent is not None:
        q = sigmoid_array(scores["logits"][parent])
        t2 = parent_threshold if parent_threshold is not None else threshold
        out["agreement_with_parent"] = float(np.mean((p[kept] >= threshold) == (q[kept] >= t2)))
        same = (p >= threshold) == (q >= t2)
        out["agreement_all_frames"] = float(np.mean(same)) if len(p) else 1.0
        out["agreement_all_frames_ci"] = list(wilson_interval(int(same.sum()), int(len(p))))
        out["n_all_frames"] = int(len(p))
        out["max_abs_prob_diff_vs_parent"] = float(np.max(np.abs(p - q))) if len(p) else 0.0
        out["mean_abs_prob_diff_vs_parent"] = float(np.mean(np.abs(p - q))) if len(p) else 0.0
    per_case, pos = [], 0
    for _uuid, n_case, per in scores["cases"]:
        probs = p[pos : pos + n_case]
        _, cv = run_case(decision, [probs[i : i + per].tolist() for i in range(0, n_case, per)])
        per_case.append((cv.frame, lab[pos : pos + n_case]))
        pos += n_case
    out["wfss"] = mean_wfss(per_case)
    out["cases"] = len(per_case)
    out["chosen_frames"] = [int(c[0]) for c in per_case]
    if not math.isfinite(out["f1"]):
        out["f1"] = 0.0
    return out
