"""Parity of an exported artifact against PyTorch: every mismatch listed at once, then a verdict."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from fetaledge.errors import FetaledgeError


@dataclass
class ParityReport:
    """Outputs of an artifact vs the PyTorch reference on the same inputs."""

    artifact: str
    n_inputs: int
    tolerance: float
    max_abs_diff: float
    mean_abs_diff: float
    mismatches: list[dict] = field(default_factory=list)  # {"input": i, "reference": r, "artifact": a, "diff": d}

    @property
    def passed(self) -> bool:
        return not self.mismatches

    def to_json(self) -> dict:
        return {**asdict(self), "passed": self.passed}

    def raise_if_failed(self) -> None:
        """Raise one error that lists every input over tolerance (not just the first)."""
        if self.passed:
            return
        lines = [f"input {m['input']}: torch {m['reference']:.6g} vs artifact {m['artifact']:.6g} "
                 f"(|diff| {m['diff']:.3g})" for m in self.mismatches]
        raise FetaledgeError(
            f"{self.artifact} disagrees with PyTorch on {len(self.mismatches)}/{self.n_inputs} inputs "
            f"(max |diff| {self.max_abs_diff:.3g} > tolerance {self.tolerance:g}): " + "; ".join(lines),
            hint="the exporter changed the model's arithmetic; inspect the listed inputs",
        )


def compare_outputs(artifact: str, reference: np.ndarray, candidate: np.ndarray, tolerance: float) -> ParityReport:
    """Compare per-input outputs (logits); a mismatch is any input whose |diff| exceeds ``tolerance``.

    Example:
        >>> r = compare_outputs("m.onnx", np.array([1.0, 2.0]), np.array([1.0, 2.5]), 1e-3)
        >>> [m["input"] for m in r.mismatches]
        [1]
    """
    reference = np.asarray(reference, np.float64).reshape(len(reference), -1)
    candidate = np.asarray(candidate, np.float64).reshape(len(candidate), -1)
    if reference.shape != candidate.shape:
        raise FetaledgeError(f"{artifact}: output shape {candidate.shape} differs from PyTorch {reference.shape}")
    diff = np.abs(reference - candidate).max(axis=1)
    bad = np.flatnonzero(~(diff <= tolerance))  # NaN counts as a mismatch
    mism = [{"input": int(i), "reference": float(reference[i, 0]), "artifact": float(candidate[i, 0]),
             "diff": float(diff[i])} for i in bad]
    return ParityReport(artifact, int(len(diff)), float(tolerance), float(np.nanmax(diff)) if len(diff) else 0.0,
                        float(np.nanmean(diff)) if len(diff) else 0.0, mism)
