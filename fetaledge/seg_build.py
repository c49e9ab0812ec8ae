"""The segment stage of ``fetaledge build``: the measurement model of the bundle, from the frame cache's masks.

1. Data: the kept sweeps of the cache's train and val splits are read from its ACOUSLIC-layout source (phantom or
   real); every frame with an abdomen mask (label 1 or 2 pixels) plus ``negatives_per_sweep`` frames without one,
   letterboxed to the student's grid (frame and soft mask alike). On the build's own phantom (a generator, with few
   masked frames per case) extra cross sweeps are rendered from seeds no case uses (``segment.phantom_sweeps``).
   The reference circumference of a frame is the torch-free measurement of its full-size ground-truth mask
   (inside the fan: :mod:`fetaledge.runtime.fov`), the number the student is chosen to reproduce
   (:mod:`fetaledge.train.seg_distill` keeps the epoch with the lowest validation circumference error).
2. Export: the student with the raw frame in the graph (:mod:`fetaledge.export.seg_onnx`), checked against PyTorch.
3. INT8: ONNX Runtime static QDQ (S8S8, per-channel; the in-graph letterbox resample kept float) calibrated on train
   frames, gated by
   :func:`fetaledge.seg_eval.seg_gate` on every validation frame (with and without a mask) against fp32: mask Dice,
   the ok / rescan / none decision and the mm. A failed gate ships fp32 only (the bundle report says why).
4. ``seg.json``: what was trained and measured (validation AC error of fp32 and INT8 against the masks' AC, the gate),
   plus raw validation frames for the bundle's measurement goldens (``golden_frames.npy``).

A plane-dataset cache has no masks: the stage writes ``seg.json`` with ``"skipped"`` and the bundle stays
classification-only. Everything is written under a temporary name and renamed into place.

Example:
    >>> build_segmentation(Path("work/cache"), Path("work/segment"), SegmentSection(epochs=2))  # doctest: +SKIP
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fetaledge.config import SegmentSection
from fetaledge.data.acouslic import AcouslicCase, AcouslicDataset
from fetaledge.data.cache import FrameCache
from fetaledge.data.phantom import PhantomConfig
from fetaledge.errors import FetaledgeError
from fetaledge.fsio import atomic_path, read_json, write_json
from fetaledge.runtime.fov import field_of_view
from fetaledge.runtime.geometry import letterbox
from fetaledge.runtime.measure import FrameMap, Measurement, MeasureParams, measure_mask

__all__ = ["FOV_RULE", "SEG_SUMMARY", "SegArrays", "build_segmentation", "gather_seg_arrays", "read_seg_summary"]

SEG_SUMMARY = "seg.json"
FOV_RULE = "nonzero_span"  # ACOUSLIC and the phantom: black outside the fan


@dataclass
class SegArrays:
    """Frames of one split for the segmentation student: grid frames + soft masks, raw frames, reference AC (mm,
    NaN without a mask), whether a frame has a mask, the pixel spacing (x, y) and where each frame came from."""

    grid: np.ndarray
    masks: np.ndarray
    raw: np.ndarray
    ref_mm: np.ndarray
    positive: np.ndarray
    spacing_mm: tuple[float, float]
    sources: list[str]


def _reference(mask: np.ndarray, frame: np.ndarray, spacing: tuple[float, float]) -> float:
    m = measure_mask(mask, FrameMap.identity(*mask.shape), spacing, MeasureParams(), field_of_view(frame, FOV_RULE))
    return float("nan") if m.circumference_mm is None else float(m.circumference_mm)


def _arrays(items: list[tuple[np.ndarray, np.ndarray, int, str]], grid: tuple[int, int],
            spacing: tuple[float, float]) -> SegArrays:
    """SegArrays from (raw frame, bool mask, label, source) items."""
    grids = [letterbox(f, *grid) for f, _, _, _ in items]
    masks = [letterbox(m.astype(np.uint8) * 255, *grid) for _, m, _, _ in items]
    pos = np.array([bool(m.any()) for _, m, _, _ in items])
    refs = np.array([_reference(m, f, spacing) if p else float("nan") for (f, m, _, _), p in zip(items, pos,
                                                                                                  strict=True)])
    return SegArrays(np.stack(grids), np.stack(masks), np.stack([f for f, _, _, _ in items]), refs, pos, spacing,
                     [s for _, _, _, s in items])


def gather_seg_arrays(cache: FrameCache, split: str, grid: tuple[int, int], negatives_per_sweep: int,
                      seed: int = 0, max_frames: int | None = None) -> SegArrays:
    """The masked frames (and a few unmasked ones per sweep) of ``split``'s kept sweeps (module docstring)."""
    ds = AcouslicDataset(Path(cache.manifest["source"]))
    records = {r.uuid: r for r in ds.records}
    rng = np.random.default_rng(seed)
    items: list[tuple[np.ndarray, np.ndarray, int, str]] = []
    spacing: tuple[float, float] | None = None
    for uuid in cache.split.cases[split]:
        case = AcouslicCase(ds.root, records[uuid])
        sp = (float(case.image.spacing[0]), float(case.image.spacing[1]))
        if spacing is None:
            spacing = sp
        elif not np.allclose(sp, spacing):
            raise FetaledgeError(f"case {uuid}: pixel spacing {sp} differs from the other cases' {spacing}",
                                 hint="one bundle measures with one spacing; resample the stacks or split the data")
        for k in cache.entries[uuid]["sweeps"]:
            data = case.read_sweep(k)
            mask = case.read_sweep_mask(k) > 0
            has = mask.any(axis=(1, 2))
            empty = np.flatnonzero(~has)
            pick = list(np.flatnonzero(has))
            pick += sorted(rng.choice(empty, min(negatives_per_sweep, len(empty)), replace=False).tolist())
            items += [(data.frames[i], mask[i], int(data.labels[i]),
                       f"case {uuid} sweep {k + 1} frame {i} label {int(data.labels[i])}") for i in pick]
    if not items:
        raise FetaledgeError(f"cache {cache.root}: the {split} split holds no frame for the segment stage",
                             hint="use more cases (phantom.cases) or disable the stage (segment.enabled false)")
    if max_frames is not None and len(items) > max_frames:  # keep the masked frames first, then negatives
        order = sorted(range(len(items)), key=lambda i: (not items[i][1].any(), rng.random()))[:max_frames]
        items = [items[i] for i in sorted(order)]
    return _arrays(items, grid, spacing or (1.0, 1.0))


def phantom_seg_arrays(phantom: PhantomConfig, n_sweeps: int, tag: int, grid: tuple[int, int],
                       negatives: int) -> SegArrays:
    """Extra phantom cross sweeps (:mod:`fetaledge.data.phantom_masks`) as SegArrays (phantom spacing)."""
    from fetaledge.data import layout as L
    from fetaledge.data.phantom_masks import render_mask_sweeps

    frames, masks, labels = render_mask_sweeps(phantom, n_sweeps, tag, negatives)
    items = [(f, m, int(lab), f"extra phantom sweep set {tag} frame {i} label {int(lab)}")
             for i, (f, m, lab) in enumerate(zip(frames, masks, labels, strict=True))]
    return _arrays(items, grid, (L.SPACING_MM, L.SPACING_MM))


def _join(a: SegArrays, b: SegArrays) -> SegArrays:
    if not np.allclose(a.spacing_mm, b.spacing_mm) or a.raw.shape[1:] != b.raw.shape[1:]:
        raise FetaledgeError(f"extra phantom frames ({b.raw.shape[1:]}, {b.spacing_mm} mm) do not match the cache's "
                             f"({a.raw.shape[1:]}, {a.spacing_mm} mm)", hint="set segment.phantom_sweeps 0")
    return SegArrays(*(np.concatenate([getattr(a, k), getattr(b, k)]) for k in ("grid", "masks", "raw", "ref_mm",
                                                                              "positive")),
                     a.spacing_mm, a.sources + b.sources)


def _measure_all(probs: np.ndarray, raw: np.ndarray, grid: tuple[int, int], spacing: tuple[float, float]
                 ) -> list[Measurement]:
    fmap = FrameMap.letterbox(raw.shape[1], raw.shape[2], *grid)
    return [measure_mask(p, fmap, spacing, MeasureParams(), field_of_view(f, FOV_RULE)) for p, f in zip(
        probs, raw, strict=True)]


def _ac_scores(ms: list[Measurement], arrays: SegArrays) -> dict[str, Any]:
    """AC of the masked frames vs their ground-truth mask's AC; frames without a mask that got a number."""
    pos = np.flatnonzero(arrays.positive & np.isfinite(arrays.ref_mm))
    errs = [abs(ms[i].circumference_mm - arrays.ref_mm[i]) for i in pos if ms[i].circumference_mm is not None]
    neg = np.flatnonzero(~arrays.positive)
    return {"masked_frames": int(len(pos)), "measured": len(errs),
            "ac_mae_mm": float(np.mean(errs)) if errs else None,
            "ac_normalised_error": float(np.mean([e / arrays.ref_mm[i] for e, i in zip(errs, [
                i for i in pos if ms[i].circumference_mm is not None], strict=True)])) if errs else None,
            "ok": sum(ms[i].status == "ok" for i in pos),
            "unmasked_frames": int(len(neg)), "unmasked_with_a_number": sum(ms[i].circumference_mm is not None
                                                                          for i in neg)}


def _golden_pick(arrays: SegArrays, n: int) -> np.ndarray:
    """Validation frames for the bundle's measurement goldens: masked ones first (spread), then one without."""
    pos, neg = np.flatnonzero(arrays.positive), np.flatnonzero(~arrays.positive)
    k = max(1, n - 1) if len(neg) else n
    take = pos[np.linspace(0, len(pos) - 1, min(k, len(pos))).round().astype(int)] if len(pos) else pos
    return np.unique(np.concatenate([take, neg[: n - len(take)]])).astype(int)


def build_segmentation(cache_dir: Path, out_dir: Path, cfg: SegmentSection, log: Callable[[str], None] = print,
                       phantom: PhantomConfig | None = None) -> dict[str, Any]:
    """Train, export, quantize and gate the segmentation student; write ``out_dir`` atomically (module docstring).

    ``phantom``: the build's phantom config when the cache is that phantom; then ``cfg.phantom_sweeps`` (train) and
    ``cfg.phantom_val_sweeps`` (validation and gate) extra cross sweeps are rendered from seeds no case uses."""
    import torch

    from fetaledge.export.seg_onnx import check_seg_parity, export_seg_onnx, quantize_seg_ort, run_seg_onnx
    from fetaledge.seg_eval import seg_gate
    from fetaledge.train.seg_distill import SegSet, SegTrainConfig, train_seg_student

    cache = FrameCache(cache_dir)
    t0 = time.perf_counter()
    with atomic_path(Path(out_dir)) as tmp:
        tmp.mkdir()
        if cache.manifest.get("source_kind") == "planes":
            summary = {"skipped": "plane dataset: no segmentation masks, so the bundle does not measure"}
            log(f"[segment] {summary['skipped']}")
            write_json(tmp / SEG_SUMMARY, summary)
            return summary
        grid = (cfg.grid_height, cfg.grid_width)
        train = gather_seg_arrays(cache, "train", grid, cfg.negatives_per_sweep, cfg.seed, cfg.max_train_frames)
        val = gather_seg_arrays(cache, "val", grid, cfg.negatives_per_sweep, cfg.seed + 1)
        if phantom is not None and cfg.phantom_sweeps:
            log(f"[segment] rendering {cfg.phantom_sweeps} + {cfg.phantom_val_sweeps} extra phantom cross sweeps "
                "(seeds no case uses) for training and validation")
            train = _join(train, phantom_seg_arrays(phantom, cfg.phantom_sweeps, 0, grid, cfg.negatives_per_sweep))
            if cfg.phantom_val_sweeps:
                val = _join(val, phantom_seg_arrays(phantom, cfg.phantom_val_sweeps, 1, grid,
                                                    cfg.negatives_per_sweep))
        n_pos = int(train.positive.sum())
        if n_pos < 4:
            raise FetaledgeError(f"cache {cache.root}: the train split holds {n_pos} frames with an abdomen mask; the "
                                 "segment stage needs >= 4", hint="use more cases, or set segment.enabled false")
        vsel = val.positive & np.isfinite(val.ref_mm)
        if not vsel.any():
            raise FetaledgeError(f"cache {cache.root}: no validation frame has a measurable abdomen mask",
                                 hint="use more cases (phantom.cases), or set segment.enabled false")
        hw = train.raw.shape[1:]
        log(f"[segment] {len(train.grid)} train frames ({n_pos} with a mask), {len(val.grid)} val frames "
            f"({int(val.positive.sum())} with a mask), grid {grid[0]}x{grid[1]}, spacing {train.spacing_mm} mm")

        def segset(a: SegArrays, sel: np.ndarray) -> SegSet:
            return SegSet(a.grid[sel], a.masks[sel], tuple(hw), np.full(int(sel.sum()), a.spacing_mm[0]),
                          a.ref_mm[sel])

        tcfg = SegTrainConfig(student=cfg.student, out_h=grid[0], out_w=grid[1], epochs=cfg.epochs,
                              batch_size=cfg.batch_size, lr=cfg.lr, seed=cfg.seed, threads=cfg.threads)
        res = train_seg_student(tcfg, segset(train, np.ones(len(train.grid), bool)), segset(val, vsel),
                                progress=lambda s: log(f"[segment] {s}"))
        torch.save({"config": tcfg.to_dict(), "state_dict": res.model.state_dict()}, tmp / "model.pt")
        fp32 = export_seg_onnx(res.model, hw[0], hw[1], *grid, tmp / "seg.onnx")
        parity = check_seg_parity(res.model, fp32, val.raw[:4], tuple(hw), grid)
        rng = np.random.default_rng(cfg.seed)
        calib = train.raw[np.sort(rng.permutation(len(train.raw))[: cfg.calibration_frames])]
        # The letterbox resample (two MatMuls with constant matrices) stays float, as the classifier recipes keep the
        # preprocessing float: quantized per channel, its QLinearMatMul has a per-row zero point on the constant left
        # operand, which onnxruntime 1.22 (the arm64 runtime under qemu) refuses at run time ("input zero point must
        # be a scalar"): found by the arm64-emulated verify of a build that quantized it.
        import onnx

        resample = tuple(n.name for n in onnx.load(str(fp32)).graph.node if n.name.startswith("/resample/"))
        art = quantize_seg_ort(fp32, calib, tmp / "int8", name="seg", nodes_to_exclude=resample)
        int8 = tmp / "seg.int8.onnx"
        Path(art.path).replace(int8)

        def probs(path: Path) -> np.ndarray:
            return 1.0 / (1.0 + np.exp(-np.clip(run_seg_onnx(path, val.raw, cfg.threads), -60, 60)))

        p32, p8 = probs(fp32), probs(int8)
        m32, m8 = (_measure_all(p, val.raw, grid, val.spacing_mm) for p in (p32, p8))
        gate = seg_gate(list(zip(p32, m32, strict=True)), list(zip(p8, m8, strict=True)), cfg.min_dice,
                        cfg.min_agreement, cfg.max_mean_mm)
        log(f"[segment] INT8 gate {'passed' if gate.passed else 'FAILED: ' + '; '.join(gate.reasons)} on "
            f"{gate.n} val frames: Dice {gate.mean_dice:.4f}, decisions agree {gate.status_agreement:.3f}, "
            f"mean |mm| {gate.mean_abs_mm:.3f}")
        pick = _golden_pick(val, cfg.golden_frames)
        np.save(tmp / "golden_frames.npy", val.raw[pick])
        summary = {
            "student": cfg.student, "grid": list(grid), "frame": list(hw), "spacing_mm": list(val.spacing_mm),
            "field_of_view": FOV_RULE, "train_frames": int(len(train.grid)), "train_with_mask": n_pos,
            "extra_phantom_sweeps": {"train": cfg.phantom_sweeps, "val": cfg.phantom_val_sweeps}
            if phantom is not None else None,
            "val_frames": int(len(val.grid)), "val_with_mask": int(val.positive.sum()),
            "epochs": cfg.epochs, "best_epoch": res.best_epoch, "history": res.history, "train_seconds": res.seconds,
            "parity": asdict(parity), "gate": gate.to_dict(),
            "val_ac": {"fp32": _ac_scores(m32, val), "int8": _ac_scores(m8, val)},
            "fp32": "seg.onnx", "int8": "seg.int8.onnx", "int8_passed": gate.passed,
            "golden_sources": [val.sources[i] for i in pick], "seconds": round(time.perf_counter() - t0, 1),
        }
        write_json(tmp / SEG_SUMMARY, summary)
    return summary


def read_seg_summary(folder: Path) -> dict[str, Any]:
    """The segment stage's ``seg.json`` (an error naming the stage when it is missing)."""
    path = Path(folder) / SEG_SUMMARY
    if not path.is_file():
        raise FetaledgeError(f"the segment stage's {path} is missing", hint="re-run fetaledge build")
    return read_json(path, "segment summary")
