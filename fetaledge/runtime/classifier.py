"""Frame classifier and sweep/case processing over a bundle: raw uint8 frame -> probability -> decision."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fetaledge.errors import FetaledgeError
from fetaledge.runtime.bundle import load_bundle
from fetaledge.runtime.decision import CaseSelector, CaseVerdict, Event, SweepTracker, SweepVerdict
from fetaledge.runtime.engines import Opened, open_first_runnable
from fetaledge.runtime.geometry import fit_frame
from fetaledge.runtime.numeric import sigmoid
from fetaledge.runtime.spec import IqaSpec


class FrameClassifier:
    """Loads a bundle (checking every sha256) and scores raw frames with one of its models: ``model`` if named,
    else the first whose runtime is installed here and loads (``fallback_note`` says which was skipped and why).

    Example:
        >>> clf = FrameClassifier("bundle")          # doctest: +SKIP
        >>> p = clf.probability(frame)               # frame: (562, 744) uint8
    """

    def __init__(self, bundle_dir: Path | str, model: str | None = None, threads: int | None = None) -> None:
        self.root = Path(bundle_dir)
        self.spec: IqaSpec = load_bundle(self.root)
        self.opened: Opened = open_first_runnable(self.root, self.spec, model, threads)
        self.model = self.opened.model
        self.engine = self.opened.engine

    @property
    def fallback_note(self) -> str | None:
        """Why a model other than the bundle's primary runs (None when the primary runs)."""
        return self.opened.note()

    def check_frame(self, frame: np.ndarray) -> np.ndarray:
        """Validate a raw frame against the spec's input (dtype, channels); returns it as (H, W).

        A frame of another size is refused or letterboxed as the spec's ``input.other_sizes`` says
        (:func:`fetaledge.runtime.geometry.fit_frame`)."""
        inp = self.spec.input
        if not isinstance(frame, np.ndarray):
            raise FetaledgeError(f"a frame must be a numpy array, got {type(frame).__name__}")
        if frame.dtype != np.uint8:
            raise FetaledgeError(f"frame dtype is {frame.dtype}, the bundle takes uint8",
                                 hint="pass the probe's 8-bit grey frame unscaled")
        if frame.ndim == 3 and frame.shape[2] == 1:
            frame = frame[:, :, 0]
        if frame.ndim != 2:
            raise FetaledgeError(
                f"frame has shape {frame.shape}; the bundle takes one grey channel ({inp.height}x{inp.width})",
                hint="convert colour frames to grey before scoring (fetaledge.runtime.geometry.to_grey)",
            )
        return np.ascontiguousarray(fit_frame(frame, inp.height, inp.width, inp.other_sizes))

    def score(self, frame: np.ndarray) -> float:
        """The model's raw output for one frame (a logit unless the spec says probability)."""
        return self.engine(self.check_frame(frame))

    def probability(self, frame: np.ndarray) -> float:
        y = self.score(frame)
        return y if self.model.output_kind == "probability" else sigmoid(y)


@dataclass
class SweepResult:
    probabilities: list[float]
    events: list[Event]
    verdict: SweepVerdict


def process_sweep(clf: FrameClassifier, frames: Iterable[np.ndarray]) -> SweepResult:
    """Stream a sweep through the classifier and the decision logic, one frame at a time."""
    tracker = SweepTracker(clf.spec.decision)
    probs, events = [], []
    for frame in frames:
        p = clf.probability(frame)
        probs.append(p)
        events.extend(tracker.update(p))
    return SweepResult(probs, events, tracker.finish())


def process_case(clf: FrameClassifier, sweeps: Iterable[Iterable[np.ndarray]]) -> tuple[list[SweepResult], CaseVerdict]:
    """All sweeps of a case; the case verdict holds the chosen frame index in the case, or -1."""
    selector = CaseSelector()
    results = []
    for frames in sweeps:
        r = process_sweep(clf, frames)
        results.append(r)
        selector.add(r.verdict)
    return results, selector.finish()
