"""ONNX export of a segmentation student with the raw frame in the graph, its parity check, and INT8.

The graph: uint8 frame (1, H, W) -> mask logits (1, out_h, out_w) (``RawFrameSegModel``: letterbox as two
MatMuls, normalisation, the U-Net). INT8 goes through the domain-free ``quantize`` library (ONNX Runtime QDQ);
whether it may ship is decided by :func:`fetaledge.seg_eval.seg_gate` on measurements, not by a logit metric.

Example:
    >>> path = export_seg_onnx(net, 540, 800, 96, 128, Path("seg.onnx"))   # doctest: +SKIP
    >>> run_seg_onnx(path, frames).shape                                     # doctest: +SKIP
    (4, 96, 128)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fetaledge.errors import FetaledgeError
from fetaledge.export.onnx import export_onnx

__all__ = ["SegParity", "check_seg_parity", "export_seg_onnx", "quantize_seg_ort", "run_seg_onnx"]


def export_seg_onnx(net, frame_h: int, frame_w: int, out_h: int, out_w: int, path: Path) -> Path:
    """Wrap ``net`` (a TinyUNet) with the in-graph letterbox and export it (batch 1, opset 17), atomically."""
    import torch

    from fetaledge.models.seg_students import RawFrameSegModel

    model = RawFrameSegModel(frame_h, frame_w, out_h, out_w, net).eval()
    return export_onnx(model, torch.zeros(1, frame_h, frame_w, dtype=torch.uint8), Path(path))


def run_seg_onnx(path: Path, frames: np.ndarray, threads: int = 1) -> np.ndarray:
    """Logit maps (N, out_h, out_w) of an exported segmentation model for raw frames (N, H, W) uint8."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0]
    want = tuple(inp.shape[1:])
    if frames.ndim != 3 or tuple(frames.shape[1:]) != want:
        raise FetaledgeError(f"frames of shape {frames.shape[1:]} do not fit the model's input {want}",
                             hint="letterbox frames to the bundle's input size first (runtime.geometry)")
    return np.concatenate([sess.run(None, {inp.name: f[None]})[0] for f in frames]).astype(np.float32)


@dataclass(frozen=True)
class SegParity:
    max_abs_logit: float
    max_abs_prob: float
    n: int


def check_seg_parity(net, onnx_path: Path, frames: np.ndarray, frame_hw: tuple[int, int],
                     grid: tuple[int, int], tol_prob: float = 1e-3) -> SegParity:
    """ONNX vs PyTorch probabilities on ``frames``; a clear error listing the worst frame when over ``tol_prob``."""
    import torch

    from fetaledge.models.seg_students import RawFrameSegModel

    model = RawFrameSegModel(*frame_hw, *grid, net).eval()
    with torch.no_grad():
        ref = model(torch.from_numpy(frames)).numpy()
    got = run_seg_onnx(onnx_path, frames)
    d_logit = np.abs(ref - got).max(axis=(1, 2))
    d_prob = np.abs(1 / (1 + np.exp(-ref)) - 1 / (1 + np.exp(-got))).max(axis=(1, 2))
    if d_prob.max() > tol_prob:
        k = int(d_prob.argmax())
        raise FetaledgeError(f"ONNX export differs from PyTorch: frame {k} max |dp| {d_prob[k]:.2e} > {tol_prob}",
                             hint="check the opset and the exporter version")
    return SegParity(float(d_logit.max()), float(d_prob.max()), len(frames))


def quantize_seg_ort(fp32_onnx: Path, calibration: np.ndarray, out_dir: Path, *, data_types: str = "S8S8",
                     per_channel: bool = True, nodes_to_exclude: tuple[str, ...] = (), name: str = "seg"):
    """INT8 (ONNX Runtime static QDQ) of an exported segmentation model; ``calibration`` raw frames (N, H, W)."""
    from quantize import quantize
    from quantize.backends.ort import ORTRecipe

    recipe = ORTRecipe(data_types=data_types, per_channel=per_channel, nodes_to_exclude=tuple(nodes_to_exclude))
    return quantize(recipe, calibration=calibration, out_dir=Path(out_dir), fp32_onnx=Path(fp32_onnx), name=name)
