"""fetaledge.metrics: F1 family, AUROC, max-F1 threshold calibration, WFSS, group bootstrap."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from fetaledge.errors import FetaledgeError
from fetaledge.metrics import (
    auroc,
    binary_metrics,
    bootstrap_ci,
    calibrate_threshold,
    confusion_matrix,
    f1_score,
    frame_labels_from_masks,
    mean_wfss,
    wfss,
)


def test_binary_metrics_by_hand() -> None:
    s = [0.9, 0.8, 0.6, 0.4, 0.3, 0.1]
    y = [1, 0, 1, 1, 0, 0]
    m = binary_metrics(s, y, 0.5)
    assert (m.tp, m.fp, m.tn, m.fn) == (2, 1, 2, 1)
    assert m.precision == 2 / 3 and m.recall == 2 / 3 and m.specificity == 2 / 3
    assert m.accuracy == 4 / 6 and m.f1 == 2 / 3 and m.positive_rate == 0.5
    assert confusion_matrix(s, y, 0.5).tolist() == [[2, 1], [1, 2]]
    assert binary_metrics(s, y, 0.6).tp == 2  # score == threshold is positive
    assert set(m.as_dict()) >= {"f1", "precision", "recall", "tp"}


def test_zero_division_is_zero_not_nan() -> None:
    m = binary_metrics([0.1, 0.2], [0, 0], 0.5)
    assert (m.precision, m.recall, m.f1, m.specificity) == (0.0, 0.0, 0.0, 1.0)
    assert f1_score([], [], 0.5) == 0.0


def test_input_errors() -> None:
    with pytest.raises(FetaledgeError, match="differ in length"):
        f1_score([0.1], [0, 1], 0.5)
    with pytest.raises(FetaledgeError, match="labels must be 0 or 1"):
        f1_score([0.1, 0.2], [0, 2], 0.5)
    with pytest.raises(FetaledgeError, match="finite"):
        f1_score([0.1, float("nan")], [0, 1], 0.5)


def brute_force_auroc(s: np.ndarray, y: np.ndarray) -> float:
    pos, neg = s[y == 1], s[y == 0]
    wins = sum(1.0 if a > b else 0.5 if a == b else 0.0 for a, b in itertools.product(pos, neg))
    return wins / (len(pos) * len(neg))


@pytest.mark.parametrize("seed", range(10))
def test_auroc_equals_the_pair_count_with_ties(seed: int) -> None:
    rng = np.random.default_rng(seed)
    s = np.round(rng.random(60), 1)  # many ties
    y = (rng.random(60) < 0.3).astype(int)
    y[0], y[1] = 0, 1
    assert auroc(s, y) == pytest.approx(brute_force_auroc(s, y), abs=1e-12)


def test_auroc_edge_cases() -> None:
    assert auroc([0.9, 0.1], [1, 0]) == 1.0
    assert auroc([0.1, 0.9], [1, 0]) == 0.0
    assert auroc([0.5, 0.5], [1, 0]) == 0.5
    assert np.isnan(auroc([0.1, 0.2], [1, 1]))


def brute_force_best_f1(s: list[float], y: list[int]) -> float:
    return max(f1_score(s, y, t) for t in set(s))


@pytest.mark.parametrize("seed", range(15))
def test_calibrate_threshold_picks_the_max_f1_threshold(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = (rng.random(80) < 0.2).astype(int)
    y[3] = 1
    s = np.round(np.clip(0.3 * y + rng.random(80) * 0.8, 0, 1), 2)
    t, f1 = calibrate_threshold(s, y)
    assert t not in set(s.tolist()), "the threshold lies between two validation scores, never on one"
    above, below = s[s >= t], s[s < t]
    assert t == pytest.approx((above.min() + below.max()) / 2, abs=1e-12)  # the middle of the gap
    assert f1 == pytest.approx(f1_score(s, y, t), abs=1e-15)
    assert f1 == pytest.approx(brute_force_best_f1(s.tolist(), y.tolist()), abs=1e-15)
    # Tie rule: no HIGHER candidate threshold reaches the same F1.
    assert all(f1_score(s, y, u) < f1 - 1e-15 for u in set(s.tolist()) if u > above.min())


def test_calibrate_threshold_tie_rule_and_errors() -> None:
    # thresholds 0.8 (tp1 fp0 fn1: F1 2/3) and 0.4 (tp2 fp2 fn0: F1 2/3) tie: the higher one wins, and the
    # threshold sits halfway to the next lower score
    assert calibrate_threshold([0.8, 0.6, 0.5, 0.4], [1, 0, 0, 1]) == (pytest.approx(0.7), 2 / 3)
    assert calibrate_threshold([0.3, 0.9], [1, 1]) == (0.3, 1.0)  # every frame positive: no lower score
    with pytest.raises(FetaledgeError, match="no positive"):
        calibrate_threshold([0.1, 0.2], [0, 0])
    with pytest.raises(FetaledgeError, match="zero frames"):
        calibrate_threshold([], [])


@pytest.mark.parametrize(
    ("frame", "labels", "expected"),
    [
        (2, [0, 2, 1, 0], 1.0),  # optimal
        (1, [0, 2, 1, 0], 0.6),  # suboptimal while an optimal exists
        (1, [0, 2, 2, 0], 1.0),  # suboptimal, no optimal anywhere
        (0, [0, 2, 1, 0], 0.0),  # background frame
        (-1, [0, 2, 1, 0], 0.0),  # nothing selected although annotations exist
        (-1, [0, 0, 0], 0.0),  # no annotations at all
        (1, [0, 0, 0], 0.0),
    ],
)
def test_wfss_challenge_rules(frame: int, labels: list[int], expected: float) -> None:
    assert wfss(frame, labels) == expected


def test_wfss_errors_and_mean() -> None:
    with pytest.raises(FetaledgeError, match="outside the case"):
        wfss(4, [0, 1, 0])
    with pytest.raises(FetaledgeError, match="0, 1 or 2"):
        wfss(0, [3])
    with pytest.raises(FetaledgeError, match="integer index"):
        wfss(True, [1])  # type: ignore[arg-type]
    assert mean_wfss([(0, [1]), (0, [2, 1]), (-1, [1])]) == pytest.approx((1.0 + 0.6 + 0.0) / 3)
    assert wfss(np.int64(0), np.array([1])) == 1.0


def test_frame_labels_from_masks() -> None:
    masks = np.zeros((3, 4, 4), dtype=np.uint8)
    masks[0, 1, 1] = 2
    masks[1, 0, 0], masks[1, 3, 3] = 2, 1
    assert frame_labels_from_masks(masks).tolist() == [2, 1, 0]
    with pytest.raises(FetaledgeError, match="frames, H, W"):
        frame_labels_from_masks(np.zeros((4, 4)))


def test_bootstrap_is_deterministic_and_resamples_groups() -> None:
    rng = np.random.default_rng(1)
    groups = np.repeat(np.arange(12), 10)
    y = (rng.random(120) < 0.3).astype(int)
    s = np.clip(0.4 * y + rng.random(120) * 0.7, 0, 1)
    fn = lambda a, b: f1_score(a, b, 0.5)  # noqa: E731
    a = bootstrap_ci(fn, s, y, groups, n=300, seed=7)
    b = bootstrap_ci(fn, s, y, groups, n=300, seed=7)
    c = bootstrap_ci(fn, s, y, groups, n=300, seed=8)
    assert a == b and a != c
    assert a.low <= a.estimate <= a.high and a.n_groups == 12 and a.n_valid == 300
    assert a.estimate == f1_score(s, y, 0.5)


def test_bootstrap_keeps_groups_whole() -> None:
    # Every resample must be a union of whole groups: record the sizes the metric sees.
    groups = np.array([0] * 3 + [1] * 5 + [2] * 7)
    s, y = np.linspace(0, 1, 15), np.array([0, 1] * 7 + [0])
    seen: list[int] = []

    def size(a: np.ndarray, b: np.ndarray) -> float:
        seen.append(len(a))
        return float(len(a))

    bootstrap_ci(size, s, y, groups, n=200, seed=0)
    sums = {a + b + c for a, b, c in itertools.product((3, 5, 7), repeat=3)}
    assert set(seen[1:]) <= sums and len(set(seen[1:])) > 3


def test_bootstrap_drops_undefined_resamples_and_validates() -> None:
    s = np.array([0.9, 0.1, 0.8, 0.2])
    y = np.array([1, 1, 0, 0])
    ci = bootstrap_ci(auroc, s, y, groups=[0, 0, 1, 1], n=100, seed=0)
    assert 0 < ci.n_valid < 100  # resamples of one group hold one class: AUROC undefined
    with pytest.raises(FetaledgeError, match="n \\(bootstrap resamples\\)"):
        bootstrap_ci(auroc, s, y, [0, 0, 1, 1], n=0)
    with pytest.raises(FetaledgeError, match="groups and scores differ"):
        bootstrap_ci(auroc, s, y, [0, 1], n=10)
