"""The golden format shared by pytest, the bundle and the Kotlin ``iqa-core`` tests: encode, decode, compare.

This is the product half: what a device needs to check a bundle's goldens with THIS runtime
(:func:`check_golden_files`), and what writes the documents (:func:`golden_document`, :func:`encode_json`). The
case definitions and the regeneration command live in :mod:`fetaledge.golden_cases` (development side).

File format (``"format": 1``):

* ``kind: "sweep"``: ``params``, ``probabilities`` (a list), ``expected: {events, verdict, error}``.
* ``kind: "case"``: ``params``, ``sweeps`` (a list of lists), ``expected: {sweeps: [{events, verdict, error}],
  case}``.
* An event is ``{"at": i, "type": ..., "frame": ..., "score": ...}`` where ``at`` is the index of the
  ``update()`` call that returned it. ``error`` is null or ``{"frame": i}`` (the frame whose probability was
  rejected; events before it are listed, and there is no verdict).
* JSON has no NaN or infinity: an input written as the STRING ``"NaN"``, ``"Infinity"`` or ``"-Infinity"``
  means that IEEE-754 value. Every other number is a binary64 double, written by Python's shortest
  round-trip ``repr``, so it parses back to the same bits in any correct JSON reader.
* ``spec/spec_cases.json``: ``iqa_spec.json`` documents with the field their first error names (null: valid).
* ``geometry/letterbox_cases.json``: pattern frames (:data:`GEOMETRY_PATTERN`) and their exact letterbox output.

Example:
    >>> decode_probability("NaN") != decode_probability("NaN"), encode_probability(float("inf"))
    (True, 'Infinity')
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fetaledge.errors import FetaledgeError
from fetaledge.runtime.decision import CaseSelector, DecisionParams, SweepTracker
from fetaledge.runtime.geometry import letterbox, letterbox_box, to_grey
from fetaledge.runtime.spec import SPEC_FILE_NAME, spec_from_dict

GOLDEN_FORMAT = 1
DECISION_DIR = "decision"
SPEC_DIR = "spec"
GEOMETRY_DIR = "geometry"
_NONFINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


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


# ------------------------------------------------------------------------------------------ running
def encode_probability(v: float | str) -> float | str:
    """A golden input value in JSON form (non-finite values as the strings NaN, Infinity, -Infinity)."""
    if isinstance(v, str):
        return v
    return float(v) if math.isfinite(v) else {math.inf: "Infinity", -math.inf: "-Infinity"}.get(v, "NaN")


def same_decisions(a: Any, b: Any, score_tolerance: float) -> bool:
    """True when two decision records (events, verdicts, case results as JSON-like data) match: every label,
    frame index and count exactly, every float (scores: smoothed probabilities) within ``score_tolerance``.

    Two runtimes (x86 vs arm64, fp32 vs the golden's recorded run) may differ in the last bits of a
    probability; the decisions must not. Use the per-frame probability tolerance of the model's goldens.

    Example:
        >>> same_decisions({"verdict": "USABLE", "frame": 21, "score": 0.3768},
        ...                {"verdict": "USABLE", "frame": 21, "score": 0.3759}, 2e-3)
        True
    """
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_decisions(a[k], b[k], score_tolerance) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_decisions(x, y, score_tolerance) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) <= score_tolerance or a == b
    return a == b and type(a) is type(b)


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
        doc["probabilities"] = [encode_probability(v) for v in case.sweeps[0]]
    else:
        doc["sweeps"] = [[encode_probability(v) for v in s] for s in case.sweeps]
    doc["expected"] = expected_for(case)
    return doc


def encode_json(obj: Any, indent: int = 0) -> str:
    """JSON with objects indented and lists of scalars on one line (diff-friendly, human-readable)."""
    pad, inner = "  " * indent, "  " * (indent + 1)
    if isinstance(obj, dict):
        if not obj:
            return "{}"
        if all(not isinstance(v, (dict, list)) for v in obj.values()) and len(obj) <= 6:
            pairs = (f"{json.dumps(k)}: {json.dumps(v, allow_nan=False)}" for k, v in obj.items())
            return "{" + ", ".join(pairs) + "}"
        items = [f"{inner}{json.dumps(k)}: {encode_json(v, indent + 1)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(obj, list):
        if all(not isinstance(v, (dict, list)) for v in obj):
            return "[" + ", ".join(json.dumps(v, allow_nan=False) for v in obj) + "]"
        return "[\n" + ",\n".join(f"{inner}{encode_json(v, indent + 1)}" for v in obj) + "\n" + pad + "]"
    return json.dumps(obj, allow_nan=False)



# ------------------------------------------------------------------------------------------ spec and geometry
def spec_error_field(doc: dict[str, Any]) -> str | None:
    """The field the first error of ``doc`` (an ``iqa_spec.json`` document) names; None when it is valid."""
    try:
        spec_from_dict(copy.deepcopy(doc), source=SPEC_FILE_NAME)
    except FetaledgeError as exc:
        prefix = f"{SPEC_FILE_NAME}: "
        message = exc.message
        if not message.startswith(prefix):  # pragma: no cover (a programming error)
            raise RuntimeError(f"spec error without the source prefix: {message}") from exc
        return message[len(prefix) :].split(": ", 1)[0]
    return None



GEOMETRY_PATTERN = ("v(y, x, c) = (7*y + 13*x + 50*c + 3*((y*x) % 29)) % 256, c = 0 for grey frames, 0..2 (R, G, B) "
                    "for colour frames")
def geometry_pattern(height: int, width: int, channels: int) -> Any:
    """The synthetic input of a geometry golden (numpy uint8 (H, W) or (H, W, 3)); see GEOMETRY_PATTERN."""
    import numpy as np

    y, x = np.mgrid[0:height, 0:width].astype(np.int64)
    planes = [(7 * y + 13 * x + 50 * c + 3 * ((y * x) % 29)) % 256 for c in range(channels)]
    img = np.stack(planes, axis=-1).astype(np.uint8)
    return img[:, :, 0] if channels == 1 else img


def letterbox_record(name: str, h: int, w: int, ch: int, oh: int, ow: int, full: bool) -> dict[str, Any]:
    """One geometry golden case: the pattern frame of ``h x w x ch`` made grey and letterboxed to ``oh x ow``
    (sha256 of the row-major uint8 bytes; every value where ``full``; a few samples always)."""
    import hashlib

    img = geometry_pattern(h, w, ch)
    grey = to_grey(img)
    out = letterbox(grey, oh, ow)
    where = ((0, 0), (oh // 2, ow // 2), (oh - 1, ow - 1), (oh // 3, ow // 5))
    samples = [[y, x, int(out[y, x])] for y, x in where]
    return {
        "name": name, "height": h, "width": w, "channels": ch, "out_height": oh, "out_width": ow,
        "box": list(letterbox_box(h, w, oh, ow)),
        "grey_sha256": hashlib.sha256(grey.tobytes()).hexdigest(),
        "sha256": hashlib.sha256(out.tobytes()).hexdigest(),
        "samples": samples,
        "pixels": out.tolist() if full else None,
    }


# ------------------------------------------------------------------------------------------ checking files
def _case_of(doc: dict[str, Any]) -> GoldenCase:
    sweeps = [doc["probabilities"]] if doc["kind"] == "sweep" else doc["sweeps"]
    return GoldenCase(doc["name"], doc.get("description", ""), DecisionParams(**doc["params"]), sweeps, doc["kind"])


def check_golden_files(root: Path) -> list[str]:
    """Re-run every golden file under ``root`` (decision, spec, geometry) through THIS runtime and compare with
    what the file records; returns the problems (none: the runtime reproduces them). Needs no case definitions,
    so a device checks a bundle's goldens with it.

    Example:
        >>> check_golden_files(Path("bundle/goldens"))  # doctest: +SKIP
        []
    """
    root = Path(root)
    problems: list[str] = []
    decision = sorted((root / DECISION_DIR).glob("*.json"))
    if not decision:
        problems.append(f"{DECISION_DIR}/: no decision golden")
    for path in decision:
        rel = path.relative_to(root)
        try:
            doc = json.loads(path.read_text())
            if doc.get("format") != GOLDEN_FORMAT:
                problems.append(f"{rel}: format {doc.get('format')!r}, this runtime reads {GOLDEN_FORMAT}")
            elif expected_for(_case_of(doc)) != doc["expected"]:
                problems.append(f"{rel}: this runtime's decisions differ from the golden")
        except (KeyError, TypeError, ValueError, FetaledgeError) as exc:
            problems.append(f"{rel}: unreadable golden ({type(exc).__name__}: {exc})")
    spec_file = root / SPEC_DIR / "spec_cases.json"
    if spec_file.is_file():
        for case in json.loads(spec_file.read_text())["cases"]:
            got = spec_error_field(case["spec"])
            if got != case["error_field"]:
                problems.append(f"{SPEC_DIR}/spec_cases.json {case['name']}: error field {got!r}, golden "
                                f"{case['error_field']!r}")
    geometry_file = root / GEOMETRY_DIR / "letterbox_cases.json"
    if geometry_file.is_file():
        for case in json.loads(geometry_file.read_text())["cases"]:
            got = letterbox_record(case["name"], case["height"], case["width"], case["channels"],
                                   case["out_height"], case["out_width"], case["pixels"] is not None)
            if got != case:
                problems.append(f"{GEOMETRY_DIR}/letterbox_cases.json {case['name']}: letterbox differs")
    return problems


def save_golden_frames(root: Path, folder: str, frames: Sequence[Any], sources: Sequence[str]) -> list[dict[str, Any]]:
    """Save each raw frame as ``root/goldens/<folder>/frame_NNN.npy``; return one entry per frame (``file`` relative
    to ``root``, ``source``, an empty ``expected`` for the caller to fill per model).

    Example:
        >>> save_golden_frames(Path("bundle"), "frames", frames, ["case 3 frame 12"])[0]["file"]  # doctest: +SKIP
        'goldens/frames/frame_000.npy'
    """
    import numpy as np

    (root / "goldens" / folder).mkdir(parents=True, exist_ok=True)
    entries = []
    for i, (frame, src) in enumerate(zip(frames, sources, strict=True)):
        rel = f"goldens/{folder}/frame_{i:03d}.npy"
        np.save(root / rel, frame)
        entries.append({"file": rel, "source": src, "expected": {}})
    return entries
