"""Frame- and case-level metrics, numpy only (no torch): used by train, bench, build and the quantize gate.

Conventions shared by every function here:

* ``scores`` are probabilities (or any monotone score) of the positive class, ``labels`` are 0/1.
* A frame is predicted positive when ``score >= threshold`` (the same rule as ``fetaledge.runtime.decision``).
* A ratio with a zero denominator is 0.0 (torchmetrics' ``zero_division=0``), never NaN, so an all-negative
  prediction has precision 0 and F1 0.
* ``auroc`` returns NaN when only one class is present (the area is undefined); ``bootstrap_ci`` drops NaN
  resamples and says how many it kept.

Example:
    >>> import numpy as np
    >>> s, y = np.array([0.9, 0.8, 0.3, 0.1]), np.array([1, 0, 1, 0])
    >>> binary_metrics(s, y, 0.5).f1
    0.5
    >>> calibrate_threshold(s, y)
    (0.2, 0.8)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from fetaledge.errors import FetaledgeError

__all__ = [
    "BinaryMetrics",
    "BootstrapCI",
    "auroc",
    "binary_metrics",
    "bootstrap_ci",
    "calibrate_threshold",
    "confusion_matrix",
    "f1_score",
    "frame_labels_from_masks",
    "mean_wfss",
    "wfss",
]


def _as_scores_labels(scores: Any, labels: Any) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    y_raw = np.asarray(labels).reshape(-1)
    if s.shape != y_raw.shape:
        raise FetaledgeError(f"scores and labels differ in length: {s.size} vs {y_raw.size}")
    if s.size and not np.all(np.isfinite(s)):
        bad = int(np.flatnonzero(~np.isfinite(s))[0])
        raise FetaledgeError(f"scores must be finite; scores[{bad}] = {s[bad]}")
    if y_raw.size and not np.all((y_raw == 0) | (y_raw == 1)):
        bad = int(np.flatnonzero(~((y_raw == 0) | (y_raw == 1)))[0])
        raise FetaledgeError(
            f"labels must be 0 or 1; labels[{bad}] = {y_raw[bad]!r}",
            hint="map mask labels 1 (optimal) and 2 (suboptimal) to 1 before computing binary metrics",
        )
    return s, y_raw.astype(np.int64)


def _ratio(num: int, den: int) -> float:
    return num / den if den else 0.0


@dataclass(frozen=True)
class BinaryMetrics:
    """Confusion counts and the binary metrics derived from them at one threshold."""

    threshold: float
    tp: int
    fp: int
    tn: int
    fn: int

    @property
    def n(self) -> int:
        return self.tp + self.fp + self.tn + self.fn

    @property
    def precision(self) -> float:
        return _ratio(self.tp, self.tp + self.fp)

    @property
    def recall(self) -> float:
        return _ratio(self.tp, self.tp + self.fn)

    @property
    def specificity(self) -> float:
        return _ratio(self.tn, self.tn + self.fp)

    @property
    def accuracy(self) -> float:
        return _ratio(self.tp + self.tn, self.n)

    @property
    def f1(self) -> float:
        return _ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn)

    @property
    def positive_rate(self) -> float:
        """Fraction of frames whose label is positive (report it next to accuracy: ~8.5 % on ACOUSLIC)."""
        return _ratio(self.tp + self.fn, self.n)

    def as_dict(self) -> dict[str, float | int]:
        """Counts and metrics as a flat JSON-ready dict."""
        out: dict[str, float | int] = asdict(self)
        for name in ("precision", "recall", "specificity", "accuracy", "f1", "positive_rate"):
            out[name] = getattr(self, name)
        return out


def confusion_matrix(scores: Any, labels: Any, threshold: float) -> np.ndarray:
    """2x2 confusion matrix ``[[tn, fp], [fn, tp]]`` (rows: true label 0/1; columns: predicted 0/1).

    Example:
        >>> confusion_matrix([0.9, 0.2, 0.6], [1, 0, 0], 0.5).tolist()
        [[1, 1], [0, 1]]
    """
    m = binary_metrics(scores, labels, threshold)
    return np.array([[m.tn, m.fp], [m.fn, m.tp]], dtype=np.int64)


def binary_metrics(scores: Any, labels: Any, threshold: float) -> BinaryMetrics:
    """Confusion counts at ``threshold`` (positive when ``score >= threshold``) and the metrics on them.

    Example:
        >>> m = binary_metrics([0.9, 0.2, 0.6], [1, 0, 0], 0.5)
        >>> (m.tp, m.fp, m.tn, m.fn, m.precision, m.recall)
        (1, 1, 1, 0, 0.5, 1.0)
    """
    if not math.isfinite(float(threshold)):
        raise FetaledgeError(f"threshold must be finite, got {threshold}")
    s, y = _as_scores_labels(scores, labels)
    pred = s >= float(threshold)
    pos = y == 1
    return BinaryMetrics(
        threshold=float(threshold),
        tp=int(np.sum(pred & pos)),
        fp=int(np.sum(pred & ~pos)),
        tn=int(np.sum(~pred & ~pos)),
        fn=int(np.sum(~pred & pos)),
    )


def f1_score(scores: Any, labels: Any, threshold: float) -> float:
    """Binary F1 of the positive class at ``threshold``; 0.0 when there is no true or predicted positive.

    Example:
        >>> f1_score([0.9, 0.2, 0.6], [1, 0, 0], 0.5)
        0.6666666666666666
    """
    return binary_metrics(scores, labels, threshold).f1


def auroc(scores: Any, labels: Any) -> float:
    """Area under the ROC curve by the rank-sum (Mann-Whitney U) formula, ties counted as 1/2.

    Equals the fraction of (positive, negative) pairs where the positive scores higher, plus half the tied
    pairs. NaN when the labels hold only one class.

    Example:
        >>> auroc([0.9, 0.5, 0.5, 0.1], [1, 1, 0, 0])
        0.875
    """
    s, y = _as_scores_labels(scores, labels)
    n_pos = int(np.sum(y == 1))
    n_neg = int(y.size - n_pos)
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(s, kind="mergesort")
    sorted_s = s[order]
    ranks = np.empty(s.size, dtype=np.float64)
    # Average rank (1-based) over each run of equal scores.
    starts = np.flatnonzero(np.r_[True, sorted_s[1:] != sorted_s[:-1]])
    ends = np.r_[starts[1:], s.size]
    for a, b in zip(starts, ends, strict=True):
        ranks[order[a:b]] = (a + 1 + b) / 2.0
    u = float(np.sum(ranks[y == 1])) - n_pos * (n_pos + 1) / 2.0
    return u / (n_pos * n_neg)


def calibrate_threshold(scores: Any, labels: Any) -> tuple[float, float]:
    """The threshold that maximises binary F1 on (validation) scores, and that F1.

    Candidates are the distinct observed scores; a candidate ``t`` predicts ``score >= t`` positive. The
    returned threshold lies halfway between the lowest score still called positive and the next lower score
    (every threshold in that gap gives the same F1 on these scores; the midpoint keeps the largest margin to
    both, whereas a threshold *at* a validation score makes that frame flip on any numeric change: fp32 ONNX vs
    PyTorch, INT8, another CPU). With no lower score it is the lowest score itself. F1 values are compared
    exactly as fractions ``2tp / (2tp + fp + fn)`` (integer cross-multiplication, no float ties).
    **Tie rule:** among thresholds with equal maximal F1 the HIGHEST threshold wins (fewest frames called
    positive). Raises when there is no positive label (F1 is 0 at every threshold).

    Example:
        >>> calibrate_threshold([0.9, 0.8, 0.3, 0.1], [1, 0, 1, 0])
        (0.2, 0.8)
        >>> calibrate_threshold([0.9, 0.7, 0.2], [1, 0, 0])
        (0.8, 1.0)
    """
    s, y = _as_scores_labels(scores, labels)
    if s.size == 0:
        raise FetaledgeError("cannot calibrate a threshold on zero frames", hint="check the validation split")
    n_pos = int(np.sum(y))
    if n_pos == 0:
        raise FetaledgeError(
            "cannot calibrate a threshold: the validation labels hold no positive frame",
            hint="use a validation split that contains abdominal-plane frames (split by subject)",
        )
    order = np.argsort(-s, kind="mergesort")
    s_desc, y_desc = s[order], y[order]
    # Last index of each run of equal scores: predicting "score >= s_desc[i]" positive takes all of the run.
    last = np.flatnonzero(np.r_[s_desc[1:] != s_desc[:-1], True])
    tp_cum = np.cumsum(y_desc)
    best_i, best_num, best_den = int(last[0]), -1, 1
    for i in last:  # descending thresholds: strict improvement keeps the highest threshold on ties
        tp = int(tp_cum[i])
        predicted = int(i) + 1
        # F1 = 2tp / (2tp + fp + fn), and fp + tp = predicted, fn + tp = n_pos
        num, den = 2 * tp, predicted + n_pos
        if num * best_den > best_num * den:
            best_i, best_num, best_den = int(i), num, den
    lowest_positive = float(s_desc[best_i])
    if best_i + 1 < s_desc.size:
        return (lowest_positive + float(s_desc[best_i + 1])) / 2.0, best_num / best_den
    return lowest_positive, best_num / best_den


# --------------------------------------------------------------------------------------------- WFSS
def frame_labels_from_masks(masks: Any) -> np.ndarray:
    """Per-frame ACOUSLIC labels from masks shaped ``(frames, H, W)``: 1 if any pixel is 1 (optimal), else 2
    if any pixel is 2 (suboptimal), else 0.

    Example:
        >>> frame_labels_from_masks(np.array([[[0, 2]], [[1, 2]], [[0, 0]]])).tolist()
        [2, 1, 0]
    """
    m = np.asarray(masks)
    if m.ndim != 3:
        raise FetaledgeError(f"masks must be shaped (frames, H, W), got shape {m.shape}")
    flat = m.reshape(m.shape[0], -1)
    has1 = np.any(flat == 1, axis=1)
    has2 = np.any(flat == 2, axis=1)
    return np.where(has1, 1, np.where(has2, 2, 0)).astype(np.int64)


def wfss(selected_frame: int, frame_labels: Sequence[int] | np.ndarray) -> float:
    """Weighted frame-selection score of one case, as the ACOUSLIC-AI challenge defines it.

    ``frame_labels`` holds one label per frame of the whole case (all sweeps concatenated, 0 none,
    1 optimal, 2 suboptimal); ``selected_frame`` is an index into it or -1 (no frame selected).

    * the selected frame is label 1 -> 1.0
    * label 2 -> 1.0 when the case has no label-1 frame, else 0.6
    * label 0, or -1 -> 0.0; a case with no annotated frame at all -> 0.0 whatever was selected.

    Example:
        >>> wfss(1, [0, 2, 1]), wfss(1, [0, 2, 2]), wfss(2, [0, 2, 1]), wfss(-1, [0, 1]), wfss(-1, [0, 0])
        (0.6, 1.0, 1.0, 0.0, 0.0)
    """
    lab = np.asarray(frame_labels).reshape(-1)
    if lab.size and not np.all(np.isin(lab, (0, 1, 2))):
        raise FetaledgeError("frame labels must be 0, 1 or 2 (none, optimal, suboptimal)")
    if isinstance(selected_frame, bool) or not isinstance(selected_frame, (int, np.integer)):
        raise FetaledgeError(f"selected frame must be an integer index or -1, got {selected_frame!r}")
    idx = int(selected_frame)
    if idx < -1 or idx >= lab.size:
        raise FetaledgeError(f"selected frame {idx} is outside the case (frames 0..{lab.size - 1} or -1)")
    if idx == -1 or not np.any(lab != 0):
        return 0.0
    label = int(lab[idx])
    if label == 1:
        return 1.0
    if label == 2:
        return 0.6 if bool(np.any(lab == 1)) else 1.0
    return 0.0


def mean_wfss(cases: Sequence[tuple[int, Sequence[int] | np.ndarray]]) -> float:
    """Mean WFSS over ``(selected_frame, frame_labels)`` pairs, one per case (the challenge's ranking input).

    Example:
        >>> mean_wfss([(1, [0, 1]), (-1, [0, 2])])
        0.5
    """
    if not cases:
        raise FetaledgeError("mean WFSS over zero cases is undefined")
    return float(np.mean([wfss(f, lab) for f, lab in cases]))


# --------------------------------------------------------------------------------------------- bootstrap
@dataclass(frozen=True)
class BootstrapCI:
    """A point estimate with a percentile bootstrap interval."""

    estimate: float
    low: float
    high: float
    alpha: float
    n_resamples: int
    n_valid: int  # resamples whose metric was defined (not NaN)
    n_groups: int

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def bootstrap_ci(
    metric_fn: Callable[[np.ndarray, np.ndarray], float],
    scores: Any,
    labels: Any,
    groups: Any,
    n: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> BootstrapCI:
    """Percentile bootstrap CI of ``metric_fn(scores, labels)``, resampling whole GROUPS (e.g. subjects).

    Frames of one subject are correlated, so resampling frames would give too narrow an interval: each
    resample draws ``len(unique(groups))`` groups with replacement (``numpy.random.default_rng(seed)``, groups
    in sorted order) and concatenates all their frames. Deterministic for a given ``seed``. Resamples whose
    metric is NaN (e.g. AUROC with one class) are dropped; ``n_valid`` says how many remain.

    Example:
        >>> s = np.array([0.9, 0.8, 0.3, 0.1, 0.7, 0.2]); y = np.array([1, 0, 1, 0, 1, 0])
        >>> ci = bootstrap_ci(lambda a, b: f1_score(a, b, 0.5), s, y, groups=[0, 0, 1, 1, 2, 2], n=200)
        >>> ci.low <= ci.estimate <= ci.high
        True
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise FetaledgeError(f"n (bootstrap resamples) must be an integer >= 1, got {n!r}")
    if not 0.0 < alpha < 1.0:
        raise FetaledgeError(f"alpha must be in (0, 1), got {alpha}")
    s, y = _as_scores_labels(scores, labels)
    g = np.asarray(groups).reshape(-1)
    if g.shape != s.shape:
        raise FetaledgeError(f"groups and scores differ in length: {g.size} vs {s.size}")
    if s.size == 0:
        raise FetaledgeError("cannot bootstrap a metric over zero frames")
    uniq, inverse = np.unique(g, return_inverse=True)
    order = np.argsort(inverse, kind="mergesort")
    bounds = np.r_[0, np.cumsum(np.bincount(inverse, minlength=uniq.size))]
    members = [order[bounds[k] : bounds[k + 1]] for k in range(uniq.size)]
    rng = np.random.default_rng(seed)
    estimate = float(metric_fn(s, y))
    values = np.empty(n, dtype=np.float64)
    for r in range(n):
        pick = rng.integers(0, uniq.size, size=uniq.size)
        idx = np.concatenate([members[k] for k in pick])
        values[r] = float(metric_fn(s[idx], y[idx]))
    valid = values[~np.isnan(values)]
    if valid.size == 0:
        low = high = float("nan")
    else:
        low, high = (float(v) for v in np.quantile(valid, [alpha / 2.0, 1.0 - alpha / 2.0]))
    return BootstrapCI(
        estimate=estimate,
        low=low,
        high=high,
        alpha=float(alpha),
        n_resamples=n,
        n_valid=int(valid.size),
        n_groups=int(uniq.size),
    )
