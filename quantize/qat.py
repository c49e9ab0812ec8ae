"""Quantization-aware fine-tuning that every backend can use: teach the fp32 weights to survive 8-bit rounding.

The model is fine-tuned with simulated INT8 (straight-through fake quantization: per-channel symmetric weights of
every Conv2d / Linear, per-tensor asymmetric activations at their inputs and outputs, ranges fixed from the
calibration data as MinMax post-training quantization will set them), distilling from its *own* fp32 outputs, so
that what it learns is to give the fp32 answer under quantization noise. The result is a plain fp32 model (the
fake quantizers are removed) that each backend then quantizes post-training: ONNX Runtime / NNCF from its ONNX
export, LiteRT through PT2E. One fine-tune serves all backends; no NNCF C++ extension and no TensorFlow are needed.

Batch norm stays frozen (eval statistics), so no folding is needed: per-channel symmetric quantization commutes
with the per-channel scale a folded batch norm applies (q(k w) = k q(w) for k != 0), so fake-quantizing the
unfolded conv weight is fake-quantizing the folded one.

Example:
    >>> tuned, report = qat_finetune(model, calibration=frames[:110], train_inputs=frames)  # doctest: +SKIP
    >>> report["loss_first"] > report["loss_last"]  # doctest: +SKIP
    True
"""

from __future__ import annotations

import copy
import dataclasses
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from quantize.errors import QuantizeError


@dataclasses.dataclass(frozen=True)
class QATSettings:
    """Fine-tuning knobs. ``lr`` is small: the weights are already good; only their rounding is being fixed."""

    epochs: int = 8
    batch_size: int = 8
    lr: float = 1e-4
    label_weight: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or not self.lr > 0:
            raise QuantizeError(f"QATSettings: epochs, batch_size >= 1 and lr > 0 needed, got {self}")


def _torch() -> Any:
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - the train extra brings torch
        from quantize.errors import MissingExtraError

        raise MissingExtraError("qat", "torch", "pip install torch", str(exc)) from exc
    return torch


def _in_scopes(name: str, scopes: tuple[str, ...]) -> bool:
    return any(name == s or name.startswith(s + ".") for s in scopes)


def quantizable_layers(model: Any, keep_float: tuple[str, ...] = ()) -> list[tuple[str, Any]]:
    """(name, module) of every Conv2d / Linear outside the ``keep_float`` scopes."""
    torch = _torch()
    return [(n, m) for n, m in model.named_modules()
            if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)) and not _in_scopes(n, keep_float)]


class _Ranges:
    """Running min/max per observed tensor during the calibration pass."""

    def __init__(self) -> None:
        self.lo: dict[str, float] = {}
        self.hi: dict[str, float] = {}

    def update(self, key: str, x: Any) -> None:
        lo, hi = float(x.min()), float(x.max())
        self.lo[key] = min(self.lo.get(key, lo), lo)
        self.hi[key] = max(self.hi.get(key, hi), hi)

    def qparams(self, key: str) -> tuple[float, int]:
        lo, hi = min(self.lo[key], 0.0), max(self.hi[key], 0.0)
        scale = max((hi - lo) / 255.0, 1e-8)
        return scale, int(np.clip(round(-lo / scale), 0, 255))


def _fake_weight(torch: Any, w: Any) -> Any:
    dims = tuple(range(1, w.ndim))
    scale = (w.detach().abs().amax(dim=dims) / 127.0).clamp_min(1e-12)
    zp = torch.zeros(w.shape[0], dtype=torch.int32, device=w.device)
    return torch.fake_quantize_per_channel_affine(w, scale.float(), zp, 0, -127, 127)


def qat_finetune(model: Any, *, calibration: np.ndarray, train_inputs: np.ndarray,
                 labels: np.ndarray | None = None, keep_float: tuple[str, ...] = (),
                 settings: QATSettings = QATSettings(), log: Callable[[str], None] = print) -> tuple[Any, dict]:
    """Fine-tune a copy of ``model`` under simulated INT8 to reproduce the original's outputs; return it (fp32,
    hooks removed) and a report (losses per epoch, output error under fake quantization before / after).

    ``calibration`` fixes the activation ranges (fed one row at a time: ``x[i:i+1]`` is one model input);
    ``train_inputs`` are what it trains on, in batches ``x[idx]`` (the model must take a batch); ``labels`` (0/1
    per train input) add a BCE term of ``label_weight``.
    """
    torch = _torch()
    calibration, train_inputs = np.asarray(calibration), np.asarray(train_inputs)
    if len(calibration) == 0 or len(train_inputs) == 0:
        raise QuantizeError("qat_finetune needs calibration and train inputs")
    original = model.eval()
    student = copy.deepcopy(model).eval()
    layers = quantizable_layers(student, tuple(keep_float))
    if not layers:
        raise QuantizeError("qat_finetune: no Conv2d / Linear outside keep_float to quantize")

    def as_t(rows: np.ndarray) -> Any:  # rows[i:i+1] is one model input, so rows[idx] is a batch of len(idx)
        return torch.from_numpy(np.ascontiguousarray(rows))

    def run(m: Any, rows: np.ndarray, chunk: int = 32) -> Any:
        return torch.cat([m(as_t(rows[i : i + chunk])).reshape(min(chunk, len(rows) - i), -1)
                          for i in range(0, len(rows), chunk)])

    with torch.no_grad():
        target = run(original, train_inputs)

    ranges, observing = _Ranges(), {"on": True}
    handles = []

    def act(key: str, x: Any) -> Any:
        if observing["on"]:
            ranges.update(key, x.detach())
            return x
        scale, zp = ranges.qparams(key)
        return torch.fake_quantize_per_tensor_affine(x, scale, zp, 0, 255)

    for name, mod in layers:
        handles.append(mod.register_forward_pre_hook(lambda m, a, k=f"{name}:in": (act(k, a[0]), *a[1:])))
        handles.append(mod.register_forward_hook(lambda m, a, out, k=f"{name}:out": act(k, out)))
        torch.nn.utils.parametrize.register_parametrization(mod, "weight", _WeightFQ())

    with torch.no_grad():
        for i in range(len(calibration)):  # one at a time, as the backends' calibration sees them
            student(as_t(calibration[i : i + 1]))
    observing["on"] = False

    def output_error() -> float:
        with torch.no_grad():
            got = run(student, train_inputs)
        return float((got - target).abs().mean())

    err_before = output_error()
    params = [p for p in student.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=settings.lr)
    gen = np.random.default_rng(settings.seed)
    y = None if labels is None else torch.as_tensor(np.asarray(labels, np.float32)).reshape(-1, 1)
    losses = []
    t0 = time.perf_counter()
    for epoch in range(settings.epochs):
        order = gen.permutation(len(train_inputs))
        total, n = 0.0, 0
        for start in range(0, len(order), settings.batch_size):
            idx = order[start : start + settings.batch_size]
            idx = np.sort(idx)
            out = student(as_t(train_inputs[idx])).reshape(len(idx), -1)
            loss = torch.nn.functional.mse_loss(out, target[idx])
            if y is not None and settings.label_weight > 0:
                loss = loss + settings.label_weight * torch.nn.functional.binary_cross_entropy_with_logits(
                    out[:, :1], y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
            n += len(idx)
        losses.append(total / n)
        elapsed = time.perf_counter() - t0
        log(f"[qat] epoch {epoch + 1}/{settings.epochs}: loss {losses[-1]:.5f} ({elapsed:.0f} s, "
            f"~{elapsed / (epoch + 1) * (settings.epochs - epoch - 1):.0f} s left)")
    err_after = output_error()
    for h in handles:
        h.remove()
    for _, mod in layers:
        torch.nn.utils.parametrize.remove_parametrizations(mod, "weight", leave_parametrized=False)
    student.eval()
    report = {"settings": dataclasses.asdict(settings), "layers": len(layers), "train_inputs": int(len(train_inputs)),
              "calibration": int(len(calibration)), "losses": losses, "loss_first": losses[0], "loss_last": losses[-1],
              "fake_quant_mean_abs_err_before": err_before, "fake_quant_mean_abs_err_after": err_after,
              "seconds": round(time.perf_counter() - t0, 1)}
    return student, report


class _WeightFQ:
    """Parametrization: per-channel symmetric int8 fake quantization of a weight (straight-through)."""

    def __new__(cls) -> Any:
        torch = _torch()

        class WeightFQ(torch.nn.Module):
            def forward(self, w: Any) -> Any:
                return _fake_weight(torch, w)

        return WeightFQ()
