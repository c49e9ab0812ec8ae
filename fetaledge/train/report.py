"""What a training or evaluation run leaves behind: the metrics JSON, the training curve and provenance.

Example:
    >>> report = metrics_report([0.9, 0.2, 0.7, 0.1], [1, 0, 1, 0], threshold=0.5, split="test")
    >>> report["f1"], report["confusion_matrix"]
    (1.0, [[2, 0], [0, 2]])
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from fetaledge.fsio import atomic_path
from fetaledge.metrics import auroc, binary_metrics
from fetaledge.versions import TRAINING, package_versions

METRIC_KEYS = ("f1", "precision", "recall", "accuracy", "specificity", "auroc")


def metrics_report(scores: Any, labels: Any, threshold: float, split: str) -> dict[str, Any]:
    """The metrics JSON body: F1 family at ``threshold``, AUROC, confusion matrix [[tn, fp], [fn, tp]], n."""
    m = binary_metrics(scores, labels, threshold)
    a = auroc(scores, labels)
    return {
        "split": split,
        "n": m.n,
        "positives": m.tp + m.fn,
        "threshold": float(threshold),
        "f1": m.f1,
        "precision": m.precision,
        "recall": m.recall,
        "accuracy": m.accuracy,
        "specificity": m.specificity,
        "auroc": None if math.isnan(a) else a,
        "confusion_matrix": [[m.tn, m.fp], [m.fn, m.tp]],
        "tp": m.tp,
        "fp": m.fp,
        "tn": m.tn,
        "fn": m.fn,
    }


def mean_std(reports: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Mean and (population) standard deviation of each metric over trials, as the paper reports them."""
    out = {}
    for k in METRIC_KEYS:
        vals = [r[k] for r in reports if r.get(k) is not None]
        if vals:
            out[k] = {"mean": float(np.mean(vals)), "std": float(np.std(vals))}
    return out


def versions() -> dict[str, str]:
    """Versions of the packages that decide what a trained model computes."""
    return package_versions(TRAINING)


def plot_history(history: list[dict[str, Any]], path: Path, title: str) -> None:
    """Training and validation loss per epoch as a PNG (matplotlib, Agg), written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] for h in history]
    fig, ax = plt.subplots(figsize=(5.5, 3.6), dpi=110)
    ax.plot(epochs, [h["train_loss"] for h in history], "o-", label="train loss")
    ax.plot(epochs, [h["val_loss"] for h in history], "s-", label="validation loss")
    best = min(history, key=lambda h: h["val_loss"])
    ax.axvline(best["epoch"], color="grey", ls=":", lw=1, label=f"best (epoch {best['epoch']})")
    ax.set_xlabel("epoch")
    ax.set_ylabel("BCE loss")
    ax.set_title(title, fontsize=9)
    ax.set_xticks(epochs)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(Path(path), suffix=".png") as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
