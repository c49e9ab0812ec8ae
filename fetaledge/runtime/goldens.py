"""Decision goldens shared by pytest and the Kotlin ``iqa-core`` tests (``tests/goldens/decision/*.json``).

Each golden is one JSON file: the decision parameters, the input probabilities and what must come out
(events, verdicts, chosen frames, or the error). The inputs are defined here, the expected outputs are
computed by ``fetaledge.runtime.decision`` and reviewed by hand (``docs/decision_logic.md`` explains them).

    python -m fetaledge.runtime.goldens               # check: the files on disk reproduce (exit 1 if not)
    python -m fetaledge.runtime.goldens --regenerate  # rewrite them ON PURPOSE (the only way they change)

Tests never write them. File format (``"format": 1``):

* ``kind: "sweep"``: ``params``, ``probabilities`` (a list), ``expected: {events, verdict, error}``.
* ``kind: "case"``: ``params``, ``sweeps`` (a list of lists), ``expected: {sweeps: [{events, verdict, error}],
  case}``.
* An event is ``{"at": i, "type": ..., "frame": ..., "score": ...}`` where ``at`` is the index of the
  ``update()`` call that returned it. ``error`` is null or ``{"frame": i}`` (the frame whose probability was
  rejected; events before it are listed, and there is no verdict).
* JSON has no NaN or infinity: an input written as the STRING ``"NaN"``, ``"Infinity"`` or ``"-Infinity"``
  means that IEEE-754 value. Every other number is a binary64 double, written by Python's shortest
  round-trip ``repr``, so it parses back to the same bits in any correct JSON reader.

Example:
    >>> [c.name for c in golden_cases()][:2]
    ['empty_sweep', 'all_below_threshold']
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fetaledge.errors import FetaledgeError
from fetaledge.fsio import atomic_path
from fetaledge.runtime.decision import CaseSelector, DecisionParams, SweepTracker

__all__ = ["GOLDEN_FORMAT", "GoldenCase", "check_goldens", "default_golden_dir", "golden_cases", "main",
           "write_goldens"]

GOLDEN_FORMAT = 1
_NONFINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}

# The parameters most goldens use: no smoothing (alpha 1) keeps the arithmetic readable by hand.
PLAIN = DecisionParams(threshold=0.5, enter_threshold=0.6, exit_threshold=0.4, min_run=3, smoothing_alpha=1.0)
SMOOTH = DecisionParams(threshold=0.5, enter_threshold=0.6, exit_threshold=0.4, smoothing_alpha=0.5)
REALISTIC = DecisionParams.from_threshold(0.42, enter_margin=0.08, exit_margin=0.12, smoothing_alpha=0.4)


def _with(params: DecisionParams, **changes: Any) -> DecisionParams:
    return DecisionParams(**{**params.to_dict(), **changes})


@dataclass(frozen=True)
class GoldenCase:
    """The inputs of one golden. ``sweeps`` has one list for a sweep golden, several for a case golden."""

    name: str
    description: str
    params: DecisionParams
    sweeps: Sequence[Sequence[float | str]]
    kind: str = "sweep"
    extra: dict[str, Any] = field(default_factory=dict)


def decode_probability(value: float | int | str) -> float:
    """A golden input value as a float (``"NaN"``, ``"Infinity"``, ``"-Infinity"`` strings included)."""
    if isinstance(value, str):
        if value not in _NONFINITE:
            raise FetaledgeError(f"golden input string must be NaN, Infinity or -Infinity, got {value!r}")
        return _NONFINITE[value]
    return float(value)


# ------------------------------------------------------------------------------------------ realistic inputs
def _realistic_sweep(rng: random.Random, n: int, plane: tuple[int, int, float] | None,
                     spikes: Sequence[int] = (), flicker: tuple[int, int] | None = None,
                     dropout: int | None = None) -> list[float]:
    """A plausible probability trace: low noisy background, an optional bell-shaped plane (start, end, peak),
    one-frame spikes, a region flickering around the threshold and a one-frame dropout inside the plane."""
    out = []
    for i in range(n):
        p = min(0.25, abs(rng.gauss(0.06, 0.05)))
        if plane is not None and plane[0] <= i <= plane[1]:
            mid, half = (plane[0] + plane[1]) / 2.0, (plane[1] - plane[0]) / 2.0 + 1.0
            bell = plane[2] * (1.0 - ((i - mid) / half) ** 2)
            p = max(p, bell + rng.gauss(0.0, 0.04))
        if flicker is not None and flicker[0] <= i <= flicker[1]:
            p = 0.42 + (0.12 if (i - flicker[0]) % 2 == 0 else -0.12) + rng.gauss(0.0, 0.02)
        if i in spikes:
            p = 0.85 + rng.gauss(0.0, 0.03)
        if dropout is not None and i == dropout:
            p = 0.15
        out.append(round(min(1.0, max(0.0, p)), 4))
    return out


def golden_cases() -> list[GoldenCase]:
    """Every decision golden, in file order. Inputs only; expected outputs come from running them."""
    rng = random.Random(20240611)
    low = [0.05, 0.1, 0.2, 0.3, 0.35, 0.39, 0.25, 0.15, 0.1, 0.05]
    cases = [
        GoldenCase("empty_sweep", "No frame at all: RESCAN, frame -1, n_frames 0, no event.", PLAIN, [[]]),
        GoldenCase("all_below_threshold", "Nothing reaches enter_threshold: no event, RESCAN.", PLAIN, [low]),
        GoldenCase(
            "ties_first_occurrence_wins",
            "Equal best probabilities: the earliest eligible frame wins, inside a pending run (frame 1 and 2 "
            "tie before confirmation), inside the plane (0.9 again at frame 5) and across runs (0.9 again at "
            "frame 12 after the plane was lost and found again): NEW_BEST only on a strictly higher p.",
            PLAIN,
            [[0.3, 0.9, 0.9, 0.7, 0.8, 0.9, 0.2, 0.1, 0.1, 0.7, 0.8, 0.7, 0.9, 0.9, 0.1]],
        ),
        GoldenCase(
            "flicker_never_confirmed",
            "Raw p alternating across the threshold: runs of 1 never reach min_run 3: no event, RESCAN.",
            PLAIN,
            [[0.65, 0.35, 0.7, 0.3, 0.66, 0.34, 0.62, 0.38, 0.9, 0.1, 0.61, 0.39]],
        ),
        GoldenCase(
            "flicker_in_plane_suppressed",
            "Once in the plane, p oscillating between exit (0.4) and enter (0.6) never loses it "
            "(hysteresis); 0.45 frames are below the frame threshold and never become the best.",
            PLAIN,
            [[0.7, 0.7, 0.7, 0.45, 0.55, 0.45, 0.58, 0.41, 0.59, 0.45, 0.55, 0.4, 0.39]],
        ),
        GoldenCase(
            "flicker_smoothed",
            "Smoothing (alpha 0.5): a raw 0.95/0.15 flicker never gives 3 smoothed scores >= 0.6 in a row; "
            "after three 0.95 the plane is found and the same flicker no longer loses it (smoothed stays "
            ">= 0.4) until two 0.15 in a row. Exact binary64 arithmetic: s = a*p + (1-a)*s_prev.",
            SMOOTH,
            [[0.95, 0.15, 0.95, 0.15, 0.95, 0.15, 0.95, 0.95, 0.95, 0.15, 0.95, 0.15, 0.95, 0.15, 0.95, 0.15,
              0.15, 0.15]],
        ),
        GoldenCase(
            "plane_at_first_frame",
            "min_run 1: the very first frame confirms the plane and is the best; the next frame loses it.",
            _with(PLAIN, min_run=1),
            [[0.9, 0.2, 0.1, 0.1]],
        ),
        GoldenCase(
            "plane_from_first_frame_min_run",
            "min_run 3 starting at frame 0: confirmed at frame 2, and NEW_BEST names frame 1 (0.95), earlier "
            "than the confirming frame.",
            PLAIN,
            [[0.8, 0.95, 0.7, 0.2, 0.1]],
        ),
        GoldenCase(
            "plane_at_last_frame",
            "The run completes exactly at the last frame: PLANE_FOUND at the last frame, USABLE.",
            PLAIN,
            [[0.1, 0.2, 0.1, 0.3, 0.7, 0.95, 0.8]],
        ),
        GoldenCase(
            "single_good_last_frame",
            "min_run 1: only the last frame is good.",
            _with(PLAIN, min_run=1),
            [[0.1, 0.2, 0.3, 0.2, 0.61]],
        ),
        GoldenCase(
            "min_run_not_reached",
            "Runs of 2 (< min_run 3) in the middle and at the very end: never confirmed, RESCAN.",
            PLAIN,
            [[0.1, 0.9, 0.9, 0.1, 0.2, 0.95, 0.1, 0.99, 0.99]],
        ),
        GoldenCase(
            "found_lost_found",
            "Plane found, lost, found again with a higher p: two PLANE_FOUND, one PLANE_LOST, the second "
            "run's best replaces the first.",
            PLAIN,
            [[0.1, 0.7, 0.8, 0.75, 0.3, 0.2, 0.65, 0.9, 0.97, 0.92, 0.5, 0.35]],
        ),
        GoldenCase(
            "found_lost_found_lower",
            "Plane found, lost, found again with lower p: the first run keeps the best (no NEW_BEST).",
            PLAIN,
            [[0.9, 0.95, 0.9, 0.2, 0.7, 0.8, 0.7, 0.2]],
        ),
        GoldenCase(
            "broken_run_discarded",
            "A run broken before min_run (frames 0-1) is discarded, including its 0.99: the best comes from "
            "the confirmed run.",
            PLAIN,
            [[0.99, 0.99, 0.3, 0.7, 0.8, 0.75, 0.1]],
        ),
        GoldenCase(
            "boundary_equalities",
            "Comparisons: s >= enter_threshold counts (0.6 three times confirms), s < exit_threshold loses "
            "(0.4 does NOT lose, 0.3999 does).",
            PLAIN,
            [[0.6, 0.6, 0.6, 0.4, 0.5, 0.4, 0.3999, 0.6]],
        ),
        GoldenCase(
            "boundary_threshold_equal",
            "enter_threshold == threshold == 0.5, min_run 1: p == threshold is eligible and becomes the "
            "best; an equal p later is not a new best; 0.4 == exit holds the plane.",
            _with(PLAIN, enter_threshold=0.5, min_run=1),
            [[0.4999, 0.5, 0.4, 0.5, 0.3, 0.5, 0.51]],
        ),
        GoldenCase(
            "smoothing_lag",
            "alpha 0.25: a sharp rise is confirmed late and a sharp fall is lost late; the best is still the "
            "frame with the highest RAW p among eligible frames.",
            _with(SMOOTH, smoothing_alpha=0.25),
            [[0.05, 0.95, 0.97, 0.96, 0.99, 0.98, 0.97, 0.1, 0.05, 0.05, 0.05, 0.05, 0.05]],
        ),
        GoldenCase(
            "nan_rejected",
            "A NaN probability is rejected at frame 3 with an error; events before it stand; no verdict.",
            PLAIN,
            [[0.7, 0.8, 0.9, "NaN", 0.9]],
        ),
        GoldenCase("infinity_rejected", "+Infinity is rejected at frame 1.", PLAIN, [[0.2, "Infinity"]]),
        GoldenCase("negative_infinity_rejected", "-Infinity is rejected at frame 0.", PLAIN, [["-Infinity"]]),
        GoldenCase("above_one_rejected", "1.5 is not a probability: rejected at frame 2.", PLAIN,
                   [[0.2, 0.3, 1.5, 0.4]]),
        GoldenCase("negative_rejected", "-0.01 is not a probability: rejected at frame 1.", PLAIN,
                   [[0.0, -0.01]]),
        GoldenCase(
            "long_realistic_sweep",
            "140 frames like a real sweep (seeded): noisy background, a one-frame spike at 20 "
            "(suppressed by min_run), flicker around the threshold at 45-55, a plane at 80-104 with a "
            "one-frame dropout at 92 that smoothing bridges. Calibrated-looking parameters (threshold "
            "0.42, alpha 0.4).",
            REALISTIC,
            [_realistic_sweep(rng, 140, (80, 104, 0.9), spikes=(20,), flicker=(45, 55), dropout=92)],
        ),
        GoldenCase(
            "case_six_sweeps_one_usable",
            "Six sweeps of 10 frames; only sweep 3 is usable: case frame = 3*10 + 5.",
            PLAIN,
            [low, low, low, [0.1, 0.2, 0.7, 0.8, 0.7, 0.95, 0.3, 0.1, 0.1, 0.1], low, low],
            kind="case",
        ),
        GoldenCase("case_none_usable", "Six sweeps, none usable: frame -1.", PLAIN, [low] * 6, kind="case"),
        GoldenCase(
            "case_tie_between_sweeps",
            "Sweeps 1 and 4 both have best p 0.9: the earlier sweep wins (case frame 10 + 3); sweep 2 has a "
            "lower best.",
            PLAIN,
            [low, [0.1, 0.7, 0.8, 0.9, 0.7, 0.1], [0.7, 0.8, 0.85, 0.1], low,
             [0.7, 0.9, 0.9, 0.9, 0.2], low],
            kind="case",
        ),
        GoldenCase(
            "case_uneven_and_empty_sweeps",
            "Sweep lengths 3, 0 (empty), 7, 4, 2, 5: offsets add the real lengths; the best is in sweep 5.",
            PLAIN,
            [[0.1, 0.2, 0.1], [], [0.1, 0.7, 0.7, 0.7, 0.1, 0.1, 0.1], [0.1] * 4, [0.2, 0.2],
             [0.9, 0.92, 0.91, 0.1, 0.1]],
            kind="case",
        ),
        GoldenCase("case_no_sweeps", "Zero sweeps: frame -1, n_frames 0.", PLAIN, [], kind="case"),
        GoldenCase(
            "case_realistic_six_sweeps",
            "Six seeded sweeps of 140 frames (840 in the case) with the realistic parameters: no plane, a "
            "spike, a weak plane, a strong plane, a moderate plane, flicker only.",
            REALISTIC,
            [
                _realistic_sweep(rng, 140, None),
                _realistic_sweep(rng, 140, None, spikes=(33, 90)),
                _realistic_sweep(rng, 140, (60, 75, 0.62)),
                _realistic_sweep(rng, 140, (40, 70, 0.93), dropout=55),
                _realistic_sweep(rng, 140, (100, 118, 0.8)),
                _realistic_sweep(rng, 140, None, flicker=(10, 30)),
            ],
            kind="case",
        ),
    ]
    names = [c.name for c in cases]
    if len(set(names)) != len(names):  # pragma: no cover (a programming error)
        raise RuntimeError("duplicate golden names")
    return cases


# ------------------------------------------------------------------------------------------ running
def _encode_input(v: float | str) -> float | str:
    if isinstance(v, str):
        return v
    return float(v) if math.isfinite(v) else {math.inf: "Infinity", -math.inf: "-Infinity"}.get(v, "NaN")


def _run_sweep(params: DecisionParams, probabilities: Sequence[float | str]) -> tuple[dict[str, Any], Any]:
    """Run one sweep: ``({events, verdict, error}`` in the golden JSON form, the SweepVerdict or None)."""
    tracker = SweepTracker(params)
    events: list[dict[str, Any]] = []
    for i, raw in enumerate(probabilities):
        try:
            out = tracker.update(decode_probability(raw))
        except FetaledgeError:
            return {"events": events, "verdict": None, "error": {"frame": i}}, None
        events.extend({"at": i, **e.to_dict()} for e in out)
    verdict = tracker.finish()
    return {"events": events, "verdict": verdict.to_dict(), "error": None}, verdict


def expected_for(case: GoldenCase) -> dict[str, Any]:
    """The expected block of a golden, computed by the Python implementation."""
    if case.kind == "sweep":
        (sweep,) = case.sweeps
        return _run_sweep(case.params, sweep)[0]
    selector = CaseSelector()
    records = []
    for sweep in case.sweeps:
        rec, verdict = _run_sweep(case.params, sweep)
        if verdict is None:  # pragma: no cover (case goldens hold valid inputs only)
            raise RuntimeError(f"{case.name}: case goldens must not contain invalid inputs")
        records.append(rec)
        selector.add(verdict)
    return {"sweeps": records, "case": selector.finish().to_dict()}


def golden_document(case: GoldenCase) -> dict[str, Any]:
    """The whole JSON document of one golden."""
    doc: dict[str, Any] = {
        "format": GOLDEN_FORMAT,
        "name": case.name,
        "kind": case.kind,
        "description": case.description,
        "params": case.params.to_dict(),
    }
    if case.kind == "sweep":
        doc["probabilities"] = [_encode_input(v) for v in case.sweeps[0]]
    else:
        doc["sweeps"] = [[_encode_input(v) for v in s] for s in case.sweeps]
    doc["expected"] = expected_for(case)
    return doc


def _dumps(obj: Any, indent: int = 0) -> str:
    """JSON with objects indented and lists of scalars on one line (diff-friendly, human-readable)."""
    pad, inner = "  " * indent, "  " * (indent + 1)
    if isinstance(obj, dict):
        if not obj:
            return "{}"
        if all(not isinstance(v, (dict, list)) for v in obj.values()) and len(obj) <= 6:
            pairs = (f"{json.dumps(k)}: {json.dumps(v, allow_nan=False)}" for k, v in obj.items())
            return "{" + ", ".join(pairs) + "}"
        items = [f"{inner}{json.dumps(k)}: {_dumps(v, indent + 1)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(obj, list):
        if all(not isinstance(v, (dict, list)) for v in obj):
            return "[" + ", ".join(json.dumps(v, allow_nan=False) for v in obj) + "]"
        return "[\n" + ",\n".join(f"{inner}{_dumps(v, indent + 1)}" for v in obj) + "\n" + pad + "]"
    return json.dumps(obj, allow_nan=False)


def default_golden_dir() -> Path:
    """``tests/goldens/decision`` of the source checkout this module lives in."""
    return Path(__file__).resolve().parents[2] / "tests" / "goldens" / "decision"


def write_goldens(directory: Path) -> list[Path]:
    """Regenerate every golden file in ``directory`` (atomic per file) and delete stale ``*.json`` there."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for case in golden_cases():
        path = directory / f"{case.name}.json"
        text = _dumps(golden_document(case)) + "\n"
        if json.loads(text) != json.loads(json.dumps(golden_document(case))):  # pragma: no cover
            raise RuntimeError(f"{case.name}: the compact writer changed the document")
        with atomic_path(path) as tmp:
            tmp.write_text(text)
        written.append(path)
    keep = {p.name for p in written}
    for stale in directory.glob("*.json"):
        if stale.name not in keep:
            stale.unlink()
    return written


def check_goldens(directory: Path) -> list[str]:
    """Compare the files in ``directory`` with what the code computes now; returns the problems, if any."""
    directory = Path(directory)
    problems = []
    expected_names = set()
    for case in golden_cases():
        path = directory / f"{case.name}.json"
        expected_names.add(path.name)
        if not path.is_file():
            problems.append(f"{path.name}: missing")
            continue
        on_disk = json.loads(path.read_text())
        if on_disk != golden_document(case):
            problems.append(f"{path.name}: differs from what fetaledge.runtime.decision computes now")
    problems.extend(f"{p.name}: not a known golden" for p in sorted(directory.glob("*.json"))
                    if p.name not in expected_names)
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m fetaledge.runtime.goldens``."""
    parser = argparse.ArgumentParser(
        prog="python -m fetaledge.runtime.goldens",
        description="Check (default) or regenerate the decision goldens shared by pytest and the Kotlin "
        "iqa-core tests.",
    )
    parser.add_argument("--regenerate", action="store_true",
                        help="rewrite the golden files from the current implementation (on purpose only)")
    parser.add_argument("--dir", type=Path, default=None,
                        help="golden folder (default: tests/goldens/decision of this checkout)")
    args = parser.parse_args(argv)
    directory = args.dir or default_golden_dir()
    if args.regenerate:
        paths = write_goldens(directory)
        print(f"wrote {len(paths)} goldens to {directory}")
        return 0
    problems = check_goldens(directory)
    for p in problems:
        print(f"golden mismatch: {p}", file=sys.stderr)
    if problems:
        print("if the change is intended: python -m fetaledge.runtime.goldens --regenerate, then review the "
              "diff", file=sys.stderr)
        return 1
    print(f"{len(golden_cases())} goldens in {directory} reproduce")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
