"""ONNX export of a raw-frame model (preprocessing folded into the graph): uint8 frame in, logit out."""

from __future__ import annotations

from pathlib import Path

from fetaledge.fsio import atomic_path

INPUT_NAME, OUTPUT_NAME = "frame", "logit"
OPSET = 17


def export_onnx(model, example, path: Path, *, dynamic_batch: bool = False, opset: int = OPSET) -> Path:
    """Export ``model`` (uint8 (B, H, W) -> logits (B,)) to ONNX, batch 1 static unless ``dynamic_batch``.

    Uses the TorchScript exporter (``dynamo=False``): it keeps the resampling MatMuls and the nn.MultiheadAttention
    of open_clip in plain ONNX ops that onnxruntime, NNCF and its quantizers all read.

    Example:
        >>> export_onnx(raw_model, torch.zeros(1, 562, 744, dtype=torch.uint8), Path("student.onnx"))  # doctest: +SKIP
    """
    import onnx
    import torch

    axes = {INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}} if dynamic_batch else None
    with atomic_path(Path(path), suffix=".onnx") as tmp, torch.no_grad():
        torch.onnx.export(model.eval(), (example,), str(tmp), opset_version=opset, input_names=[INPUT_NAME],
                          output_names=[OUTPUT_NAME], dynamic_axes=axes, dynamo=False)
        graph = onnx.load(str(tmp))
        if constants_to_initializers(graph.graph):
            onnx.save(graph, str(tmp))
    return Path(path)


def constants_to_initializers(graph) -> int:
    """Move tensor ``Constant`` nodes (what the exporter makes of non-persistent buffers, e.g. the resampling
    maps) into initializers, in place; returns how many. Same computation; NNCF's accuracy control looks up a
    MatMul's constant operand among the initializers and fails on a Constant node ("There is no tensor with
    the name /resample/Constant_output_0")."""
    keep, moved = [], 0
    for node in graph.node:
        value = [a for a in node.attribute if a.name == "value"] if node.op_type == "Constant" else []
        if value and value[0].HasField("t"):
            tensor = value[0].t
            tensor.name = node.output[0]
            graph.initializer.append(tensor)
            moved += 1
        else:
            keep.append(node)
    if moved:
        del graph.node[:]
        graph.node.extend(keep)
    return moved


def run_onnx_model(path: Path, frames, threads: int = 1):
    """Logits of an ONNX raw-frame model for frames (N, H, W) uint8, one frame at a time (batch 1)."""
    import numpy as np
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    return np.concatenate([sess.run(None, {name: f[None]})[0].reshape(-1) for f in frames])
