"""``fetaledge infer``: run a bundle over one case stack (.mha, six sweeps), frame by frame, or over single
frames (images, .npy, one-frame .mha) of any size: :func:`infer_frames`.

A case is read one frame at a time (:class:`fetaledge.runtime.mha.MhaStack`): the runtime's resident memory
does not grow with the case's length, as on a tablet that holds the probe's current frame only.

A bundle that measures (``iqa_spec.json`` schema 3, ``task.measurement``) also measures each usable sweep's chosen
frame and the case's with its segmentation model (:mod:`fetaledge.runtime.measure_case`): the result's
``"measurement"``; the chosen frame is read again from the stack, so memory stays one frame."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fetaledge.errors import FetaledgeError
from fetaledge.runtime.classifier import FrameClassifier, process_case
from fetaledge.runtime.images import FRAME_SUFFIXES, read_frame_file
from fetaledge.runtime.measure_case import FrameMeasurer, has_measurement, measure_chosen_frames
from fetaledge.runtime.mha import MhaStack, read_mha_header

N_SWEEPS = 6


def sweep_bounds(n_frames: int) -> tuple[list[tuple[int, int]], str | None]:
    """(start, stop) of each sweep of an ``n_frames`` stack, and a note when it is not six equal sweeps.

    Six equal sweeps when ``n_frames`` is a multiple of 6 (the ACOUSLIC-AI protocol: 840 frames); otherwise the
    whole stack is one sweep (the challenge's sample input holds 128 frames), said so in the note.

    Example:
        >>> sweep_bounds(12)
        ([(0, 2), (2, 4), (4, 6), (6, 8), (8, 10), (10, 12)], None)
        >>> sweep_bounds(128)[0]
        [(0, 128)]
    """
    if n_frames <= 0:
        raise FetaledgeError("the stack holds no frame", hint="pass a case stack of one or six sweeps")
    if n_frames % N_SWEEPS:
        return [(0, n_frames)], (f"{n_frames} frames is not a multiple of {N_SWEEPS} (six equal sweeps): "
                                 "scored as ONE sweep")
    per = n_frames // N_SWEEPS
    return [(k * per, (k + 1) * per) for k in range(N_SWEEPS)], None


def infer_case(bundle_dir: Path | str, case_path: Path | str, model: str | None = None,
               threads: int | None = None, spacing_mm: tuple[float, float] | None = None) -> dict[str, Any]:
    """Per-frame probabilities, events, per-sweep verdicts and the case's chosen frame (-1 if none).

    The stack is six equal sweeps, or one sweep when its frame count is not a multiple of 6
    (:func:`sweep_bounds`; the result's ``note`` says so). Frames are read and scored one at a time.
    ``"measurement"`` is None unless the bundle measures (then: ``measure_chosen_frames``; ``spacing_mm`` the
    probe's pixel spacing when it differs from the bundle's).

    Example:
        >>> r = infer_case("bundle", "case.mha")  # doctest: +SKIP
        >>> r["case"]["frame"]
    """
    clf = FrameClassifier(bundle_dir, model, threads)
    with MhaStack(Path(case_path)) as stack:
        bounds, note = sweep_bounds(len(stack))
        results, case = process_case(clf, (stack.frames(a, b) for a, b in bounds))
        measured = None
        if has_measurement(clf.spec):
            measured = measure_chosen_frames(FrameMeasurer(bundle_dir, clf.spec, threads), stack.frame,
                                             [{"verdict": r.verdict.to_dict()} for r in results], case.frame,
                                             [a for a, _ in bounds], spacing_mm)
    return {
        "bundle": str(bundle_dir),
        "case_file": str(case_path),
        "model": clf.model.name,
        "fallback": clf.fallback_note,
        "threshold": clf.spec.decision.threshold,
        "frames": bounds[-1][1],
        "frames_per_sweep": bounds[0][1] - bounds[0][0],
        "sweep_layout": "one sweep" if note else f"{N_SWEEPS} sweeps",
        "note": note,
        "sweeps": [{"probabilities": r.probabilities, "events": [e.to_dict() for e in r.events],
                    "verdict": r.verdict.to_dict()} for r in results],
        "case": case.to_dict(),
        "measurement": measured,
    }


def is_case_stack(path: Path | str) -> bool:
    """True for an .mha holding several frames (a case stack: :func:`infer_case`), False for anything else."""
    path = Path(path)
    if path.suffix.lower() != ".mha" or not path.is_file():
        return False
    fields, _ = read_mha_header(path)
    dims = fields.get("DimSize", "").split()
    return len(dims) == 3 and int(dims[2]) > 1


def expand_frame_paths(paths: list[Path | str]) -> list[Path]:
    """Files as given; a folder contributes its frame files (images, .npy, .mha), sorted by name."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in FRAME_SUFFIXES)
            if not found:
                raise FetaledgeError(f"folder {p} holds no frame file ({', '.join(FRAME_SUFFIXES)})")
            out.extend(found)
        else:
            out.append(p)
    if not out:
        raise FetaledgeError("no frame to score", hint="pass image files, .npy frames or a folder of them")
    return out


def infer_frames(bundle_dir: Path | str, paths: list[Path | str], model: str | None = None,
                 threads: int | None = None) -> dict[str, Any]:
    """Score single frames of any size: each file is read as grey (colour by the BT.601 luma), brought to the
    bundle's raw size as its ``input.other_sizes`` says (letterbox, or a clear error for "refuse"), and scored.

    Example:
        >>> r = infer_frames("bundle", ["a.png", "b.npy"])  # doctest: +SKIP
        >>> r["frames"][0]["probability"], r["frames"][0]["good"]
    """
    clf = FrameClassifier(bundle_dir, model, threads)
    inp = clf.spec.input
    rows = []
    for path in expand_frame_paths(list(paths)):
        frame = read_frame_file(path)
        p = clf.probability(frame)
        same = frame.shape == (inp.height, inp.width)
        rows.append({"file": str(path), "height": int(frame.shape[0]), "width": int(frame.shape[1]),
                     "fitted": "as is" if same else inp.other_sizes, "probability": p,
                     "good": p >= clf.spec.decision.threshold,
                     "label": clf.spec.labels.positive if p >= clf.spec.decision.threshold
                     else clf.spec.labels.negative})
    return {
        "bundle": str(bundle_dir),
        "model": clf.model.name,
        "fallback": clf.fallback_note,
        "threshold": clf.spec.decision.threshold,
        "input": {"height": inp.height, "width": inp.width, "other_sizes": inp.other_sizes},
        "frames": rows,
    }


def plot_case(result: dict[str, Any], stack_path: Path | str, out_png: Path) -> Path:
    """PNG: the chosen frame (or the best-scoring one if none) above the probability curve of all sweeps."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from fetaledge.fsio import atomic_path

    probs = np.concatenate([s["probabilities"] for s in result["sweeps"]])
    chosen = result["case"]["frame"]
    shown = chosen if chosen >= 0 else int(np.argmax(probs))
    with MhaStack(Path(stack_path)) as stack:
        frame = stack.frame(shown)
    fig, (a0, a1) = plt.subplots(2, 1, figsize=(9, 9), gridspec_kw={"height_ratios": [3, 1.3]})
    a0.imshow(frame, cmap="gray", vmin=0, vmax=255)
    title = f"chosen frame {chosen}" if chosen >= 0 else f"no usable frame (RESCAN); best-scoring {shown}"
    m = (result.get("measurement") or {}).get("case")
    if m is not None:
        title += "   " + _draw_ellipse(a0, m)
    a0.set_title(title)
    a0.axis("off")
    a1.plot(probs, lw=1)
    a1.axhline(result["threshold"], color="r", ls="--", lw=1, label="threshold")
    per = result["frames_per_sweep"]
    for k in range(1, len(result["sweeps"])):
        a1.axvline(k * per, color="0.7", lw=0.8)
    if chosen >= 0:
        a1.axvline(chosen, color="g", lw=1.5, label="chosen")
    a1.set_xlabel("frame in case (grey lines: sweep boundaries)")
    a1.set_ylabel("p(abdominal plane)")
    a1.set_ylim(0, 1)
    a1.legend(loc="upper right")
    fig.tight_layout()
    with atomic_path(Path(out_png), suffix=".png") as tmp:
        fig.savefig(tmp, dpi=90)
    plt.close(fig)
    return Path(out_png)


def measurement_line(row: dict[str, Any] | None) -> str:
    """One line for a measured chosen frame: "AC 231.4 mm ok  GA 27w1d (Hadlock)" (or why there is no number).

    Example:
        >>> measurement_line({"structure": "ac", "circumference_mm": 231.44, "status": "ok", "reasons": [],
        ...                   "gestational_age": {"label": "27w1d"}, "note": None, "frame": 3})
        'AC 231.4 mm  ok  GA 27w1d (Hadlock)'
        >>> measurement_line(None)
        'not measured (no frame chosen)'
    """
    if row is None:
        return "not measured (no frame chosen)"
    flag = row["status"] + (f" ({', '.join(row['reasons'])})" if row["reasons"] else "")
    if row["circumference_mm"] is None:
        return f"no measurement  {flag}: rescan"
    ga = (f"  GA {row['gestational_age']['label']} (Hadlock)" if row["gestational_age"]
          else (f"  ({row['note']})" if row["note"] else ""))
    return f"{row['structure'].upper()} {row['circumference_mm']:.1f} mm  {flag}{ga}"


def _draw_ellipse(ax, row: dict[str, Any]) -> str:
    """Draw a measured frame's fitted ellipse (green ok, orange rescan) on ``ax``; returns the title's text."""
    import numpy as np
    from matplotlib.patches import Ellipse as Patch

    e = row["measurement"]["ellipse_px"]
    if e is not None:
        ax.add_patch(Patch((e["cx"] - 0.5, e["cy"] - 0.5), 2 * e["a"], 2 * e["b"], angle=float(np.degrees(e["angle"])),
                           fill=False, color="lime" if row["status"] == "ok" else "orange", lw=1.5))
    return measurement_line(row)
