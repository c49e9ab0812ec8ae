"""Streaming decision logic for a handheld probe: one frame probability in, UI events out, O(1) memory.

The exact semantics (order of operations, float expressions, tie rules) are written down in
``docs/decision_logic.md`` and pinned by the golden files in ``tests/goldens/decision/`` that the Kotlin
``iqa-core`` (android_demo) reproduces too. Change the behaviour here only together with both.

In one paragraph: each probability ``p`` is validated, smoothed (``s = a*p + (1-a)*s_prev``), and fed to a
hysteresis: while SEARCHING, ``min_run`` consecutive frames with ``s >= enter_threshold`` confirm a plane
(PLANE_FOUND); while IN_PLANE, one frame with ``s < exit_threshold`` loses it (PLANE_LOST). The best frame is
the frame with the highest RAW ``p`` among "eligible" frames (inside a confirmed run and ``p >= threshold``);
the first such frame wins ties. A sweep is USABLE when it has a best frame, RESCAN (frame -1) otherwise.

Example:
    >>> params = DecisionParams(threshold=0.5, enter_threshold=0.6, exit_threshold=0.4, min_run=2,
    ...                         smoothing_alpha=1.0)
    >>> tracker = SweepTracker(params)
    >>> [e.type.value for p in (0.1, 0.7, 0.9, 0.2) for e in tracker.update(p)]
    ['PLANE_FOUND', 'NEW_BEST', 'PLANE_LOST']
    >>> tracker.finish()
    SweepVerdict(verdict=<Verdict.USABLE: 'USABLE'>, frame=2, score=0.9, n_frames=4)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from enum import Enum
from typing import Any

from fetaledge.errors import FetaledgeError

__all__ = [
    "CaseSelector",
    "CaseVerdict",
    "DecisionParams",
    "Event",
    "EventType",
    "SweepTracker",
    "SweepVerdict",
    "Verdict",
    "run_case",
    "run_sweep",
]


def _check_unit_float(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise FetaledgeError(f"{name}: must be a number, got {value!r}")
    v = float(value)
    if not math.isfinite(v) or v < 0.0 or v > 1.0:
        raise FetaledgeError(f"{name}: must be a finite number in [0, 1], got {value!r}")
    return v


@dataclass(frozen=True)
class DecisionParams:
    """Every parameter of the sweep decision, stored in ``iqa_spec.json`` under ``decision``.

    Attributes:
        threshold: frame-level threshold calibrated on the validation split (max F1,
            ``fetaledge.metrics.calibrate_threshold``): a frame is "good" when ``p >= threshold``. Only good
            frames can become the best frame.
        enter_threshold: the smoothed score must be ``>=`` this for ``min_run`` consecutive frames to enter
            the plane. ``threshold <= enter_threshold <= 1``.
        exit_threshold: a smoothed score ``<`` this leaves the plane. ``0 <= exit_threshold <= threshold``.
        min_run: consecutive frames at or above ``enter_threshold`` needed before PLANE_FOUND (>= 1).
        smoothing_alpha: weight of the new frame in the exponential moving average, in (0, 1]; 1 = no
            smoothing.

    Example:
        >>> DecisionParams.from_threshold(0.42).enter_threshold
        0.47
    """

    threshold: float
    enter_threshold: float
    exit_threshold: float
    min_run: int = 3
    smoothing_alpha: float = 0.5

    def __post_init__(self) -> None:
        t = _check_unit_float("threshold", self.threshold)
        enter = _check_unit_float("enter_threshold", self.enter_threshold)
        exit_ = _check_unit_float("exit_threshold", self.exit_threshold)
        alpha = _check_unit_float("smoothing_alpha", self.smoothing_alpha)
        hint = "exit_threshold <= threshold <= enter_threshold: use DecisionParams.from_threshold(t, ...)"
        if exit_ > t:
            raise FetaledgeError(f"exit_threshold: must be <= threshold ({t}), got {exit_}", hint=hint)
        if enter < t:
            raise FetaledgeError(f"enter_threshold: must be >= threshold ({t}), got {enter}", hint=hint)
        if alpha <= 0.0:
            raise FetaledgeError(f"smoothing_alpha: must be in (0, 1], got {self.smoothing_alpha!r}")
        if isinstance(self.min_run, bool) or not isinstance(self.min_run, int) or self.min_run < 1:
            raise FetaledgeError(f"min_run: must be an integer >= 1, got {self.min_run!r}")
        for name, v in (("threshold", t), ("enter_threshold", enter), ("exit_threshold", exit_),
                        ("smoothing_alpha", alpha)):
            object.__setattr__(self, name, v)

    @classmethod
    def from_threshold(
        cls,
        threshold: float,
        enter_margin: float = 0.05,
        exit_margin: float = 0.05,
        min_run: int = 3,
        smoothing_alpha: float = 0.5,
    ) -> DecisionParams:
        """Parameters around a calibrated ``threshold``: enter/exit at ``threshold +/- margin``, clipped to
        [0, 1] and rounded to 6 decimals (the spec stores the resulting values; devices never recompute them).

        Example:
            >>> p = DecisionParams.from_threshold(0.98, enter_margin=0.05, exit_margin=0.1)
            >>> (p.enter_threshold, p.exit_threshold)
            (1.0, 0.88)
        """
        t = _check_unit_float("threshold", threshold)
        if not all(math.isfinite(m) and m >= 0 for m in (enter_margin, exit_margin)):
            raise FetaledgeError(f"margins must be finite and >= 0, got {enter_margin}, {exit_margin}")
        enter = max(t, min(1.0, round(t + enter_margin, 6)))
        exit_ = min(t, max(0.0, round(t - exit_margin, 6)))
        return cls(t, enter, exit_, min_run=min_run, smoothing_alpha=smoothing_alpha)

    def to_dict(self) -> dict[str, float | int]:
        """The JSON form (field order as declared)."""
        return asdict(self)


def decision_params(threshold: float) -> DecisionParams:
    """The build's decision parameters around a calibrated threshold: enter/exit 0.05 above/below it, but never
    more than half the distance to 1 / 0, so a high calibrated threshold (0.98) still leaves a reachable enter
    threshold.

    Example:
        >>> decision_params(0.98).enter_threshold
        0.99
    """
    t = float(threshold)
    return DecisionParams.from_threshold(t, enter_margin=min(0.05, (1.0 - t) / 2), exit_margin=min(0.05, t / 2))


class EventType(str, Enum):
    """What a UI shows live during a sweep."""

    PLANE_FOUND = "PLANE_FOUND"  # frame: the frame that confirmed the plane; score: its smoothed score
    PLANE_LOST = "PLANE_LOST"  # frame: the frame that lost it; score: its smoothed score
    NEW_BEST = "NEW_BEST"  # frame: the new best frame (may be earlier than the current one); score: its raw p


class Verdict(str, Enum):
    USABLE = "USABLE"
    RESCAN = "RESCAN"


@dataclass(frozen=True)
class Event:
    type: EventType
    frame: int
    score: float

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type.value, "frame": self.frame, "score": self.score}


@dataclass(frozen=True)
class SweepVerdict:
    """The end of a sweep: USABLE with the chosen frame and its raw p, or RESCAN with frame -1, score None."""

    verdict: Verdict
    frame: int
    score: float | None
    n_frames: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict.value,
            "frame": self.frame,
            "score": self.score,
            "n_frames": self.n_frames,
        }


@dataclass(frozen=True)
class CaseVerdict:
    """The chosen frame of a case: ``frame`` indexes all sweeps concatenated (sweep offset + frame), or -1."""

    verdict: Verdict
    frame: int
    sweep: int
    sweep_frame: int
    score: float | None
    n_frames: int

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["verdict"] = self.verdict.value
        return d


def _check_probability(p: Any, frame: int) -> float:
    try:
        v = float(p)
        ok = not isinstance(p, (bool, str, bytes)) and math.isfinite(v) and 0.0 <= v <= 1.0
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise FetaledgeError(
            f"frame {frame}: probability must be a finite number in [0, 1], got {p!r}",
            hint="the model output is broken or not passed through a sigmoid; this frame was not counted",
        )
    return v


class SweepTracker:
    """Per-sweep streaming state machine. ``update(p)`` per frame, ``finish()`` once at the end.

    State is a handful of scalars whatever the sweep length. An invalid probability raises
    ``FetaledgeError`` and leaves the state exactly as it was (the frame is not counted).

    Example:
        >>> t = SweepTracker(DecisionParams(0.5, 0.5, 0.5, min_run=1, smoothing_alpha=1.0))
        >>> [(e.type.value, e.frame, e.score) for e in t.update(0.8)]
        [('PLANE_FOUND', 0, 0.8), ('NEW_BEST', 0, 0.8)]
    """

    def __init__(self, params: DecisionParams) -> None:
        if not isinstance(params, DecisionParams):
            raise FetaledgeError(f"SweepTracker needs DecisionParams, got {type(params).__name__}")
        self.params = params
        self._n = 0
        self._smoothed = 0.0
        self._in_plane = False
        self._run = 0
        self._cand_frame = -1  # best eligible frame of the pending (not yet confirmed) run
        self._cand_score = 0.0
        self._best_frame = -1  # best eligible frame so far (confirmed)
        self._best_score = 0.0
        self._verdict: SweepVerdict | None = None

    @property
    def n_frames(self) -> int:
        return self._n

    @property
    def in_plane(self) -> bool:
        """True between PLANE_FOUND and PLANE_LOST (the UI's "plane found" state)."""
        return self._in_plane

    @property
    def smoothed(self) -> float | None:
        """The smoothed score after the last frame (None before the first)."""
        return self._smoothed if self._n else None

    @property
    def best(self) -> tuple[int, float] | None:
        """``(frame, p)`` of the best frame so far, or None."""
        return (self._best_frame, self._best_score) if self._best_frame >= 0 else None

    def update(self, p: float) -> list[Event]:
        """Feed the probability of the next frame; return the events it caused, in emission order."""
        if self._verdict is not None:
            raise FetaledgeError("this sweep is finished; start a new SweepTracker for the next sweep")
        i = self._n
        p = _check_probability(p, i)
        prm = self.params
        a = prm.smoothing_alpha
        s = p if i == 0 else a * p + (1.0 - a) * self._smoothed
        self._smoothed = s
        self._n = i + 1
        events: list[Event] = []
        if not self._in_plane:
            if s >= prm.enter_threshold:
                self._run += 1
                if p >= prm.threshold and (self._cand_frame < 0 or p > self._cand_score):
                    self._cand_frame, self._cand_score = i, p
            else:
                self._run = 0
                self._cand_frame, self._cand_score = -1, 0.0
            if self._run >= prm.min_run:
                self._in_plane = True
                self._run = 0
                events.append(Event(EventType.PLANE_FOUND, i, s))
                if self._cand_frame >= 0 and (self._best_frame < 0 or self._cand_score > self._best_score):
                    self._best_frame, self._best_score = self._cand_frame, self._cand_score
                    events.append(Event(EventType.NEW_BEST, self._best_frame, self._best_score))
                self._cand_frame, self._cand_score = -1, 0.0
        elif s < prm.exit_threshold:
            self._in_plane = False
            events.append(Event(EventType.PLANE_LOST, i, s))
        elif p >= prm.threshold and (self._best_frame < 0 or p > self._best_score):
            self._best_frame, self._best_score = i, p
            events.append(Event(EventType.NEW_BEST, i, p))
        return events

    def finish(self) -> SweepVerdict:
        """End the sweep: USABLE with the best frame, or RESCAN (frame -1). Idempotent."""
        if self._verdict is None:
            if self._best_frame >= 0:
                self._verdict = SweepVerdict(Verdict.USABLE, self._best_frame, self._best_score, self._n)
            else:
                self._verdict = SweepVerdict(Verdict.RESCAN, -1, None, self._n)
        return self._verdict


class CaseSelector:
    """Chooses the frame of a case from its sweeps' verdicts, in acquisition order (six sweeps in ACOUSLIC).

    The chosen sweep is the USABLE sweep with the highest score (its best frame's raw p); the EARLIEST such
    sweep wins ties. The case frame index is the sweep's offset (sum of the frame counts of the sweeps before
    it) plus the frame in the sweep; -1 when no sweep is usable.

    Example:
        >>> sel = CaseSelector()
        >>> sel.add(SweepVerdict(Verdict.RESCAN, -1, None, 140))
        >>> sel.add(SweepVerdict(Verdict.USABLE, 7, 0.9, 140))
        >>> sel.finish().frame
        147
    """

    def __init__(self) -> None:
        self._offset = 0
        self._n_sweeps = 0
        self._best: tuple[int, int, int, float] | None = None  # (case frame, sweep, sweep frame, score)

    @property
    def n_sweeps(self) -> int:
        return self._n_sweeps

    def add(self, verdict: SweepVerdict) -> None:
        """Add the verdict of the next sweep."""
        if not isinstance(verdict, SweepVerdict):
            raise FetaledgeError(f"CaseSelector.add needs a SweepVerdict, got {type(verdict).__name__}")
        if verdict.verdict is Verdict.USABLE:
            if verdict.score is None or not 0 <= verdict.frame < verdict.n_frames:
                raise FetaledgeError(f"inconsistent USABLE sweep verdict: {verdict}")
            if self._best is None or verdict.score > self._best[3]:
                self._best = (self._offset + verdict.frame, self._n_sweeps, verdict.frame, verdict.score)
        self._offset += verdict.n_frames
        self._n_sweeps += 1

    def finish(self) -> CaseVerdict:
        """The case verdict so far (``n_frames`` = frames of all sweeps added)."""
        if self._best is None:
            return CaseVerdict(Verdict.RESCAN, -1, -1, -1, None, self._offset)
        frame, sweep, sweep_frame, score = self._best
        return CaseVerdict(Verdict.USABLE, frame, sweep, sweep_frame, score, self._offset)


def run_sweep(params: DecisionParams, probabilities: Iterable[float]) -> tuple[list[Event], SweepVerdict]:
    """Run a whole sweep through a fresh ``SweepTracker``; returns all events and the verdict.

    Example:
        >>> events, v = run_sweep(DecisionParams(0.5, 0.6, 0.4, min_run=2, smoothing_alpha=1.0), [0.7, 0.8])
        >>> v.frame, v.verdict.value
        (1, 'USABLE')
    """
    tracker = SweepTracker(params)
    events: list[Event] = []
    for p in probabilities:
        events.extend(tracker.update(p))
    return events, tracker.finish()


def run_case(
    params: DecisionParams, sweeps: Sequence[Iterable[float]]
) -> tuple[list[SweepVerdict], CaseVerdict]:
    """Run every sweep of a case and choose the case's frame; returns the sweep verdicts and the case verdict.

    Example:
        >>> prm = DecisionParams(0.5, 0.5, 0.5, min_run=1, smoothing_alpha=1.0)
        >>> run_case(prm, [[0.1, 0.2], [0.3, 0.9]])[1].frame
        3
    """
    selector = CaseSelector()
    verdicts = []
    for sweep in sweeps:
        _, v = run_sweep(params, sweep)
        verdicts.append(v)
        selector.add(v)
    return verdicts, selector.finish()
