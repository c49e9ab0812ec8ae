"""TFLite (LiteRT) fp32 export through litert-torch: uint8 frame in, logit out, preprocessing in the graph."""

from __future__ import annotations

from pathlib import Path

from fetaledge.errors import FetaledgeError
from fetaledge.fsio import atomic_path


def _litert_torch():
    try:
        import litert_torch
    except ImportError as exc:
        raise FetaledgeError("TFLite export needs litert-torch", hint="pip install 'fetaledge[litert]'") from exc
    return litert_torch


def export_tflite(model, example, path: Path) -> Path:
    """Convert ``model`` (uint8 (1, H, W) -> logits (1,)) to a fp32 .tflite with litert-torch.

    Example:
        >>> frame = torch.zeros(1, 562, 744, dtype=torch.uint8)
        >>> export_tflite(raw_model, frame, Path("student.tflite"))  # doctest: +SKIP
    """
    lt = _litert_torch()
    edge = lt.convert(model.eval(), (example,))
    with atomic_path(Path(path), suffix=".tflite") as tmp:
        edge.export(str(tmp))
    return Path(path)


def run_tflite_model(path: Path, frames, threads: int = 1):
    """Logits of a fp32 .tflite raw-frame model for frames (N, H, W) uint8."""
    import numpy as np

    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError as exc:
        raise FetaledgeError("running .tflite needs ai-edge-litert", hint="pip install 'fetaledge[litert]'") from exc
    it = Interpreter(model_path=str(path), num_threads=threads)
    it.allocate_tensors()
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    res = []
    for f in frames:
        it.set_tensor(inp["index"], f[None].astype(inp["dtype"]))
        it.invoke()
        res.append(np.array(it.get_tensor(out["index"])).reshape(-1))
    return np.concatenate(res)
