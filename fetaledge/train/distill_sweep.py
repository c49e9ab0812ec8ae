"""The student comparison table and the rule that picks the build's default student.

Rule (:func:`pick_default`): among the students whose VALIDATION F1 (at their own calibrated threshold) is
within ``tolerance`` (0.01) of the best student's, the one with the lowest 1-thread fp32 ONNX Runtime
latency, measured as CPU time per frame (``latency_cpu_ms``: steady on a shared host, equal to the wall
latency on an idle core; rows without it fall back to the wall median); ties broken by fewer MACs, then by
name. Latency decides because the tablet's frame rate is the constraint once accuracy is equal. Validation,
not test: choosing on the test split would make the test F1 of the chosen student an optimistic estimate.
On the phantom default both splits are small (one frame flips test F1 by about 0.03), so the table reports
AUROC beside both F1s.

Files written into the distill output folder:

* ``sweep.json``: one row per student plus the rule, the choice and the teacher's own test metrics;
* ``sweep.md``: the same as a Markdown table;
* ``default_student/``: a COPY of the chosen student's model folder (config.json, model.pt, metrics.json),
  so later stages read it as any model folder: ``load_model(out / "default_student")``. Its config carries
  ``"chosen_by": {...}`` naming the rule and the source folder.

Example:
    >>> rows = [{"student": "a", "val_f1": 0.80, "latency_ms": 9.0, "macs": 3}, {"student": "b", "val_f1": 0.795,
    ...          "latency_ms": 4.0, "macs": 2}]
    >>> pick_default(rows)["student"]
    'b'
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from fetaledge.errors import FetaledgeError
from fetaledge.fsio import atomic_path, write_json

RULE = ("fastest (1-thread fp32 ORT CPU time per frame) among students whose validation F1 is within {tol} "
        "of the best")
DEFAULT_TOLERANCE = 0.01
DEFAULT_DIR = "default_student"

COLUMNS = (
    ("student", "student", "{}"),
    ("resolution", "res", "{}"),
    ("init", "init", "{}"),
    ("val_f1", "val F1", "{:.3f}"),
    ("f1", "test F1", "{:.3f}"),
    ("f1_vs_teacher", "F1 - teacher", "{:+.3f}"),
    ("meets_bar", "bar (>= -0.02)", "{}"),
    ("auroc", "AUROC", "{:.3f}"),
    ("agreement", "agreement", "{:.3f}"),
    ("params", "params (M)", "{:.2f}"),
    ("macs", "MMACs", "{:.0f}"),
    ("latency_cpu_ms", "ORT 1-thread CPU ms", "{:.2f}"),
    ("latency_ms", "wall median ms", "{:.2f}"),
    ("latency_min_ms", "wall min ms", "{:.2f}"),
    ("train_seconds", "train s", "{:.0f}"),
)


def pick_default(rows: list[dict[str, Any]], tolerance: float = DEFAULT_TOLERANCE) -> dict[str, Any]:
    """The row chosen by :data:`RULE` (see the module docstring)."""
    if not rows:
        raise FetaledgeError("no student was trained, nothing to choose from")
    best = max(r["val_f1"] for r in rows)
    eligible = [r for r in rows if r["val_f1"] >= best - tolerance - 1e-12]
    return min(eligible, key=lambda r: (r.get("latency_cpu_ms", r["latency_ms"]), r.get("macs", 0),
                                        r["student"]))


def _cell(row: dict[str, Any], key: str, fmt: str) -> str:
    v = row.get(key)
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if key in ("params", "macs"):
        v = v / 1e6
    return fmt.format(v)


def sweep_markdown(rows: list[dict[str, Any]], choice: str, teacher: dict[str, Any], tolerance: float) -> str:
    """The comparison table as Markdown (the chosen student marked with *)."""
    head = "| " + " | ".join(h for _, h, _ in COLUMNS) + " |"
    sep = "|" + "|".join("---" for _ in COLUMNS) + "|"
    lines = [
        "# Student sweep",
        "",
        f"Teacher: `{teacher.get('path')}` ({teacher.get('kind')}), "
        f"test F1 {teacher.get('f1', float('nan')):.3f} "
        f"at its own threshold {teacher.get('threshold', float('nan')):.3f}.",
        "Agreement: fraction of test frames where the student's decision (at its threshold calibrated on "
        "val) equals the teacher's.",
        "",
        head,
        sep,
    ]
    for r in rows:
        cells = [_cell(r, k, f) for k, _, f in COLUMNS]
        if r["student"] == choice:
            cells[0] = f"**{cells[0]}** *"
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", f"Rule: {RULE.format(tol=tolerance)}. Chosen: **{choice}** (copied to `{DEFAULT_DIR}/`).",
              ""]
    return "\n".join(lines)


def write_sweep(out: Path, rows: list[dict[str, Any]], teacher: dict[str, Any],
                tolerance: float = DEFAULT_TOLERANCE, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write sweep.json, sweep.md and the ``default_student/`` copy; return the chosen row."""
    out = Path(out)
    choice = pick_default(rows, tolerance)
    write_json(out / "sweep.json", {
        "rule": RULE.format(tol=tolerance),
        "tolerance": tolerance,
        "choice": choice["student"],
        "default_dir": DEFAULT_DIR,
        "teacher": teacher,
        "rows": rows,
        **(extra or {}),
    })
    with atomic_path(out / "sweep.md") as tmp:
        tmp.write_text(sweep_markdown(rows, choice["student"], teacher, tolerance))
    src = out / choice["student"]
    with atomic_path(out / DEFAULT_DIR) as tmp:
        shutil.copytree(src, tmp)
        cfg_path = tmp / "config.json"
        cfg = json.loads(cfg_path.read_text())
        cfg["chosen_by"] = {"rule": RULE.format(tol=tolerance), "source": choice["student"],
                            "candidates": [r["student"] for r in rows]}
        cfg_path.write_text(json.dumps(cfg, indent=2) + "\n")
    return choice
