"""Hand-written semantics of fetaledge.runtime.decision (docs/decision_logic.md), beyond the goldens."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from fetaledge.errors import FetaledgeError
from fetaledge.runtime.decision import (
    CaseSelector,
    DecisionParams,
    EventType,
    SweepTracker,
    SweepVerdict,
    Verdict,
    run_case,
    run_sweep,
)

PLAIN = DecisionParams(threshold=0.5, enter_threshold=0.6, exit_threshold=0.4, min_run=3, smoothing_alpha=1.0)


def kinds(events: list) -> list[tuple[str, int]]:
    return [(e.type.value, e.frame) for e in events]


# ------------------------------------------------------------------------------------------ params
@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"threshold": float("nan")}, "threshold"),
        ({"threshold": 1.5}, "threshold"),
        ({"enter_threshold": "0.6"}, "enter_threshold"),
        ({"exit_threshold": True}, "exit_threshold"),
        ({"exit_threshold": 0.55}, "exit_threshold: must be <= threshold"),
        ({"enter_threshold": 0.45}, "enter_threshold: must be >= threshold"),
        ({"min_run": 0}, "min_run"),
        ({"min_run": 2.0}, "min_run"),
        ({"min_run": True}, "min_run"),
        ({"smoothing_alpha": 0.0}, "smoothing_alpha"),
        ({"smoothing_alpha": -0.1}, "smoothing_alpha"),
    ],
)
def test_params_reject_bad_values_naming_the_field(changes: dict, field: str) -> None:
    with pytest.raises(FetaledgeError) as info:
        DecisionParams(**{**PLAIN.to_dict(), **changes})
    assert str(info.value).startswith(field)


def test_from_threshold_clips_rounds_and_keeps_the_order() -> None:
    p = DecisionParams.from_threshold(0.42, enter_margin=0.08, exit_margin=0.12)
    assert (p.threshold, p.enter_threshold, p.exit_threshold) == (0.42, 0.5, 0.3)
    p = DecisionParams.from_threshold(0.98, enter_margin=0.05, exit_margin=0.99)
    assert (p.enter_threshold, p.exit_threshold) == (1.0, 0.0)
    p = DecisionParams.from_threshold(0.1234567891, enter_margin=0.0, exit_margin=0.0)
    assert p.exit_threshold <= p.threshold <= p.enter_threshold
    with pytest.raises(FetaledgeError, match="margins"):
        DecisionParams.from_threshold(0.5, enter_margin=-0.1)


def test_params_ints_for_floats_become_floats() -> None:
    p = DecisionParams(threshold=1, enter_threshold=1, exit_threshold=0, min_run=1, smoothing_alpha=1)
    assert isinstance(p.threshold, float) and isinstance(p.smoothing_alpha, float)


# ------------------------------------------------------------------------------------------ sweep
def test_empty_sweep_is_rescan() -> None:
    events, v = run_sweep(PLAIN, [])
    assert events == [] and v == SweepVerdict(Verdict.RESCAN, -1, None, 0)


def test_smoothing_is_the_documented_expression() -> None:
    prm = DecisionParams(0.5, 0.6, 0.4, min_run=1, smoothing_alpha=0.3)
    t = SweepTracker(prm)
    s = None
    for p in (0.2, 0.9, 0.7, 0.1, 0.95):
        t.update(p)
        s = p if s is None else 0.3 * p + (1.0 - 0.3) * s
        assert t.smoothed == s  # bit for bit


def test_min_run_confirms_and_new_best_may_name_an_earlier_frame() -> None:
    t = SweepTracker(PLAIN)
    assert t.update(0.7) == [] and t.update(0.95) == []
    out = t.update(0.8)
    assert kinds(out) == [("PLANE_FOUND", 2), ("NEW_BEST", 1)]
    assert out[0].score == 0.8 and out[1].score == 0.95
    assert t.in_plane and t.best == (1, 0.95)


def test_hysteresis_holds_between_exit_and_enter_and_loses_strictly_below_exit() -> None:
    t = SweepTracker(PLAIN)
    for p in (0.7, 0.7, 0.7):
        t.update(p)
    assert t.update(0.4) == []  # == exit: still in plane
    assert t.update(0.59) == []
    out = t.update(0.3999)
    assert kinds(out) == [("PLANE_LOST", 5)] and not t.in_plane


def test_a_lost_plane_needs_a_full_new_run() -> None:
    events, v = run_sweep(PLAIN, [0.7, 0.7, 0.7, 0.1, 0.7, 0.7, 0.1, 0.7])
    assert kinds(events) == [("PLANE_FOUND", 2), ("NEW_BEST", 0), ("PLANE_LOST", 3)]
    assert v.frame == 0


def test_broken_run_candidate_is_discarded() -> None:
    events, v = run_sweep(PLAIN, [0.99, 0.99, 0.2, 0.7, 0.8, 0.7])
    assert kinds(events) == [("PLANE_FOUND", 5), ("NEW_BEST", 4)]
    assert (v.verdict, v.frame, v.score) == (Verdict.USABLE, 4, 0.8)


def test_ties_first_occurrence_wins_everywhere() -> None:
    _, v = run_sweep(PLAIN, [0.9, 0.9, 0.9, 0.9, 0.1, 0.9, 0.9, 0.9])
    assert v.frame == 0


@pytest.mark.parametrize(
    "bad", [float("nan"), float("inf"), -float("inf"), -1e-9, 1.0000001, "0.5", True, None]
)
def test_invalid_probability_is_rejected_and_leaves_the_state_unchanged(bad: object) -> None:
    a, b = SweepTracker(PLAIN), SweepTracker(PLAIN)
    for p in (0.7, 0.8):
        a.update(p)
        b.update(p)
    with pytest.raises(FetaledgeError, match=r"frame 2: probability must be a finite number in \[0, 1\]"):
        a.update(bad)  # type: ignore[arg-type]
    assert a.n_frames == 2
    assert kinds(a.update(0.9)) == kinds(b.update(0.9))
    assert a.finish() == b.finish()


def test_numpy_scalars_and_ints_are_accepted() -> None:
    t = SweepTracker(DecisionParams(0.5, 0.5, 0.5, min_run=1, smoothing_alpha=1.0))
    out = t.update(np.float32(0.75))
    assert out[1].score == float(np.float32(0.75))  # float32 -> binary64 is exact
    t.update(np.float64(0.2))
    t.update(1)
    assert t.finish().score == 1.0


def test_finish_is_idempotent_and_closes_the_sweep() -> None:
    t = SweepTracker(PLAIN)
    t.update(0.1)
    v = t.finish()
    assert t.finish() is v
    with pytest.raises(FetaledgeError, match="finished"):
        t.update(0.5)


def test_tracker_memory_is_constant() -> None:
    t = SweepTracker(DecisionParams.from_threshold(0.42))
    rng = random.Random(0)
    t.update(0.5)
    before = {k: type(v) for k, v in vars(t).items()}
    for _ in range(50_000):
        t.update(rng.random())
    after = {k: type(v) for k, v in vars(t).items()}
    assert before.keys() == after.keys()
    assert all(tp in (int, float, bool, type(None), DecisionParams) for tp in after.values())


def reference(params: DecisionParams, probs: list[float]) -> tuple[int, list[bool]]:
    """Non-streaming restatement: eligible = inside a confirmed run or the plane, and p >= threshold;
    chosen = first index of the maximal p among eligible frames."""
    n = len(probs)
    s = []
    for i, p in enumerate(probs):
        s.append(p if i == 0 else params.smoothing_alpha * p + (1.0 - params.smoothing_alpha) * s[-1])
    confirmed = [False] * n
    in_plane, run_start = False, None
    for i in range(n):
        if not in_plane:
            if s[i] >= params.enter_threshold:
                run_start = i if run_start is None else run_start
                if i - run_start + 1 >= params.min_run:
                    in_plane = True
                    for k in range(run_start, i + 1):
                        confirmed[k] = True
                    run_start = None
            else:
                run_start = None
        elif s[i] < params.exit_threshold:
            in_plane = False
        else:
            confirmed[i] = True
    eligible = [confirmed[i] and probs[i] >= params.threshold for i in range(n)]
    best = -1
    for i in range(n):
        if eligible[i] and (best < 0 or probs[i] > probs[best]):
            best = i
    return best, confirmed


@pytest.mark.parametrize("seed", range(40))
def test_streaming_equals_the_non_streaming_definition(seed: int) -> None:
    rng = random.Random(seed)
    t = round(rng.uniform(0.2, 0.8), 2)
    params = DecisionParams.from_threshold(
        t, rng.choice([0.0, 0.05, 0.1]), rng.choice([0.0, 0.05, 0.1]), rng.randint(1, 4),
        rng.choice([1.0, 0.5, 0.3]),
    )
    probs = [round(rng.choice([rng.random(), rng.uniform(t - 0.1, t + 0.1), 0.9]), 2) for _ in range(60)]
    probs = [min(1.0, max(0.0, p)) for p in probs]
    events, v = run_sweep(params, probs)
    best, _ = reference(params, probs)
    assert v.frame == best
    # Documented invariant: with exit <= threshold <= enter, a sweep is USABLE iff PLANE_FOUND happened.
    assert (v.verdict is Verdict.USABLE) == any(e.type is EventType.PLANE_FOUND for e in events)
    # NEW_BEST scores strictly increase.
    bests = [e.score for e in events if e.type is EventType.NEW_BEST]
    assert bests == sorted(set(bests))


# ------------------------------------------------------------------------------------------ case
def test_case_selector_offsets_ties_and_rescan() -> None:
    sel = CaseSelector()
    assert sel.finish().frame == -1
    sel.add(SweepVerdict(Verdict.RESCAN, -1, None, 140))
    sel.add(SweepVerdict(Verdict.USABLE, 10, 0.8, 140))
    sel.add(SweepVerdict(Verdict.USABLE, 3, 0.8, 100))  # tie: the earlier sweep stays
    sel.add(SweepVerdict(Verdict.RESCAN, -1, None, 0))
    v = sel.finish()
    assert (v.frame, v.sweep, v.sweep_frame, v.score, v.n_frames) == (150, 1, 10, 0.8, 380)
    sel.add(SweepVerdict(Verdict.USABLE, 0, 0.81, 5))
    assert sel.finish().frame == 380 and sel.n_sweeps == 5


def test_case_selector_rejects_an_inconsistent_verdict() -> None:
    with pytest.raises(FetaledgeError, match="inconsistent"):
        CaseSelector().add(SweepVerdict(Verdict.USABLE, 7, 0.9, 5))


def test_run_case_six_sweeps() -> None:
    low = [0.1] * 140
    plane = [0.1] * 50 + [0.7, 0.9, 0.8] + [0.1] * 87
    verdicts, case = run_case(PLAIN, [low, low, plane, low, low, low])
    assert [v.verdict.value for v in verdicts].count("USABLE") == 1
    assert (case.frame, case.sweep, case.sweep_frame) == (2 * 140 + 51, 2, 51)
    assert not math.isnan(case.score or 0.0)


@pytest.mark.parametrize(
    "module",
    [
        "fetaledge.runtime.decision",
        "fetaledge.runtime.spec",
        "fetaledge.fsio",
        "fetaledge.runtime.goldens",
        "fetaledge.golden_cases",
        "fetaledge.runtime.numeric",
        "fetaledge.metrics",
        "fetaledge.typed",
        "fetaledge.config",
        "fetaledge.work",
        "fetaledge.progress",
        "fetaledge.versions",
        "fetaledge.codegraph",
    ],
)
def test_docstring_examples_run(module: str) -> None:
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0
