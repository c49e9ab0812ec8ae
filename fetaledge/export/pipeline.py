"""Export a model folder to ONNX and TFLite (fp32, raw uint8 frame in), each checked against PyTorch."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fetaledge.errors import FetaledgeError
from fetaledge.fsio import ensure_writable_dir, sha256_file, write_json
from fetaledge.preprocess import FrameGeometry

FORMATS = ("onnx", "tflite")
TOLERANCE = {"onnx": 1e-3, "tflite": 1e-2}  # |logit diff|; TFLite reorders float sums more than ORT does


@dataclass
class ExportResult:
    files: dict[str, Path]
    reports: dict[str, dict]


def raw_model_from_dir(model_dir: Path, raw_hw: tuple[int, int]):
    """(RawFrameModel, config): the model folder's network with preprocessing for raw frames of ``raw_hw``."""
    from fetaledge.models.checkpoint import load_model
    from fetaledge.models.preprocess import RawFrameModel

    model, cfg = load_model(model_dir)
    cache_size = int(cfg.get("cache_size", 224))
    size = int(cfg["input_size"])
    stages = (cache_size,) if size == cache_size else (cache_size, size)
    return RawFrameModel(FrameGeometry(raw_hw[0], raw_hw[1], stages), model, cfg["norm"]).eval(), cfg


def parity_frames(raw_hw: tuple[int, int], n: int = 12, seed: int = 0, source: Path | None = None) -> np.ndarray:
    """Real-looking raw frames: from an ACOUSLIC-layout ``source`` when given (frames around the labelled
    plane and elsewhere) or from a plane dataset (images made grey and letterboxed to ``raw_hw``, as on the
    device), else rendered phantom frames at the ACOUSLIC size, else smooth textured noise."""
    from fetaledge.data import layout as L
    from fetaledge.data.planes import is_planes_source

    if source is not None and is_planes_source(source):
        from fetaledge.data.planes import load_grey, read_planes
        from fetaledge.runtime.geometry import letterbox

        images = read_planes(source, skip_missing=True).images
        picks = [images[i] for i in np.linspace(0, len(images) - 1, min(n, len(images))).astype(int)]
        return np.stack([letterbox(load_grey(im.path), raw_hw[0], raw_hw[1]) for im in picks])
    if source is not None:
        from fetaledge.data.acouslic import AcouslicDataset

        ds = AcouslicDataset(source)
        out = []
        for case in ds.cases():
            if (case.image.height, case.image.width) != tuple(raw_hw):
                break
            for k in case.record.annotated_sweeps or [0]:
                sw = case.read_sweep(k)
                pos = np.flatnonzero(sw.labels > 0)
                centre = int(pos[len(pos) // 2]) if pos.size else len(sw.labels) // 2
                picks = sorted({centre, max(0, centre - 6), min(len(sw.labels) - 1, centre + 6), 0})
                out.extend(sw.frames[picks])
                if len(out) >= n:
                    return np.stack(out[:n])
        if out:
            return np.stack(out)
    if tuple(raw_hw) == (L.FRAME_HEIGHT, L.FRAME_WIDTH):
        from fetaledge.data.phantom import PhantomConfig, render_case

        frames, _, _ = render_case(PhantomConfig(cases=1, seed=seed, frames_per_sweep=max(10, (n + 5) // 6)), 0)
        return frames[np.linspace(0, len(frames) - 1, n).astype(int)]
    rng = np.random.default_rng(seed)
    base = rng.random((n, raw_hw[0] // 8 + 1, raw_hw[1] // 8 + 1)) * 255
    return np.repeat(np.repeat(base, 8, 1), 8, 2)[:, : raw_hw[0], : raw_hw[1]].astype(np.uint8)


def export_model(model_dir: Path, out_dir: Path, *, raw_hw: tuple[int, int] = (562, 744),
                 formats: tuple[str, ...] = FORMATS, dynamic_batch: bool = False, name: str | None = None,
                 source: Path | None = None, tolerance: dict[str, float] | None = None) -> ExportResult:
    """Export a model folder for raw frames of ``raw_hw`` and check each artifact against PyTorch.

    Every artifact is compared on real-looking frames; all mismatches are listed in ``export.json`` and the
    call fails (after writing the report) if any artifact is over tolerance.

    Example:
        >>> export_model(Path("runs/student"), Path("runs/export"), formats=("onnx", "tflite"))  # doctest: +SKIP
    """
    import torch

    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise FetaledgeError(f"unknown export format(s) {unknown}", hint=f"use {', '.join(FORMATS)}")
    out_dir = ensure_writable_dir(Path(out_dir))
    model, cfg = raw_model_from_dir(model_dir, raw_hw)
    name = name or Path(model_dir).name
    frames = parity_frames(raw_hw, source=source)
    with torch.no_grad():
        reference = torch.cat([model(torch.from_numpy(f[None])) for f in frames]).numpy()
    example = torch.from_numpy(frames[:1])
    tol = {**TOLERANCE, **(tolerance or {})}
    files, reports, parity = {}, {}, {}
    from fetaledge.export.parity import compare_outputs

    for fmt in formats:
        if fmt == "onnx":
            from fetaledge.export.onnx import export_onnx, run_onnx_model

            path = export_onnx(model, example, out_dir / f"{name}.onnx", dynamic_batch=dynamic_batch)
            got = run_onnx_model(path, frames)
        else:
            from fetaledge.export.tflite import export_tflite, run_tflite_model

            path = export_tflite(model, example, out_dir / f"{name}.tflite")
            got = run_tflite_model(path, frames)
        parity[fmt] = compare_outputs(path.name, reference, got, tol[fmt])
        files[fmt] = path
        reports[fmt] = {**parity[fmt].to_json(), "sha256": sha256_file(path), "bytes": path.stat().st_size}
    write_json(out_dir / f"{name}.export.json", {
        "model_dir": str(Path(model_dir).resolve()),
        "model_config": cfg,
        "raw_height": raw_hw[0],
        "raw_width": raw_hw[1],
        "input": {"name": "frame", "dtype": "uint8", "shape": [1, raw_hw[0], raw_hw[1]]},
        "output": {"name": "logit", "kind": "logit"},
        "preprocessing": "folded into the graph: pad to square, antialiased triangle resample, grey->RGB, "
                         f"{cfg['norm']} normalisation (fetaledge/preprocess.py)",
        "reports": reports,
    })
    for report in parity.values():
        report.raise_if_failed()
    return ExportResult(files, reports)


def summary_line(result: ExportResult) -> str:
    return json.dumps({f: {"max_abs_diff": r["max_abs_diff"], "bytes": r["bytes"]} for f, r in result.reports.items()})
