"""``fetaledge verify``: a bundle's files, schema and goldens, checked with the shipped models in this runtime.

numpy + the inference runtime only, so the same check runs on a device and under arm64 emulation.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from fetaledge.errors import FetaledgeError
from fetaledge.runtime.bundle import load_bundle
from fetaledge.runtime.engines import open_engine
from fetaledge.runtime.goldens import GoldenCase, check_golden_files, expected_for, same_decisions
from fetaledge.runtime.numeric import sigmoid


def _prob(y: float, kind: str) -> float:
    return y if kind == "probability" else sigmoid(y)


def golden_tolerances(frames_doc: dict[str, Any]) -> dict[str, float]:
    """Per model, the probability tolerance its golden frames allow (``goldens/frames.json``; fp32 vs INT8 differ).

    Example:
        >>> golden_tolerances({"frames": [{"expected": {"m": {"tolerance": 0.002}}}]})
        {'m': 0.002}
    """
    out: dict[str, float] = {}
    for e in frames_doc["frames"]:
        for name, exp in e["expected"].items():
            out[name] = max(out.get(name, 0.0), float(exp["tolerance"]))
    return out


def verify_bundle(bundle_dir: Path | str, target: str | None = None, threads: int | None = None) -> dict[str, Any]:
    """Check sha256 + schema, the decision goldens, and that the shipped models reproduce the frame and
    sweep goldens (probabilities within tolerance, decisions exactly). Returns a report; raises one
    ``FetaledgeError`` listing every problem otherwise.

    Example:
        >>> verify_bundle("bundle")["frames_checked"]  # doctest: +SKIP
        8
    """
    root = Path(bundle_dir)
    spec = load_bundle(root)
    built_for = spec.provenance.get("target")
    if target is not None and built_for != target:
        raise FetaledgeError(f"bundle {root} was built for target {built_for!r}, not {target!r}",
                             hint=f"run `fetaledge build --target {target}`")
    problems = [f"golden {p}" for p in check_golden_files(root / "goldens")]
    report: dict[str, Any] = {"bundle": str(root), "target": built_for, "models": {}}
    frames_doc = json.loads((root / "goldens" / "frames.json").read_text())
    engines = {m.name: (m, open_engine(root, m, threads)) for m in spec.models}
    for name, (m, eng) in engines.items():
        diffs, flips, borderline = [], 0, 0
        for e in frames_doc["frames"]:
            exp = e["expected"].get(name)
            if exp is None:
                problems.append(f"goldens/frames.json has no expectation for model {name}")
                break
            p = _prob(eng(np.load(root / e["file"])), m.output_kind)
            diffs.append(abs(p - exp["probability"]))
            if diffs[-1] > exp["tolerance"]:
                problems.append(f"{name} on {e['file']}: probability {p:.6f}, golden {exp['probability']:.6f} "
                                f"(tolerance {exp['tolerance']})")
            if (p >= spec.decision.threshold) != exp["good"]:
                # A golden within its tolerance of the threshold may legitimately land on either side.
                if abs(exp["probability"] - spec.decision.threshold) > exp["tolerance"]:
                    flips += 1
                    problems.append(f"{name} on {e['file']}: decision differs from the golden")
                else:
                    borderline += 1
        report["models"][name] = {"max_abs_diff": max(diffs) if diffs else None, "frames": len(diffs),
                                  "decision_flips": flips, "borderline_flips": borderline}
    sweep = json.loads((root / "goldens" / "sweep.json").read_text())
    m, eng = engines[sweep["model"]]
    frames = np.load(root / sweep["frames_file"])
    probs = [_prob(eng(f), m.output_kind) for f in frames]
    diff = max(abs(a - b) for a, b in zip(probs, sweep["probabilities"], strict=True)) if probs else 0.0
    got = expected_for(GoldenCase(sweep["name"], "", spec.decision, [probs]))
    # Scores are smoothed probabilities: they may move by the model's golden tolerance, decisions may not.
    tol = golden_tolerances(frames_doc).get(m.name, 0.0)
    match = same_decisions(got, sweep["expected"], tol)
    if not match:
        problems.append(f"the recorded sweep's decisions differ from the golden: got verdict {got['verdict']}, "
                        f"golden {sweep['expected']['verdict']} (scores compared within {tol})")
    report["sweep"] = {"frames": len(probs), "max_abs_diff": diff, "decisions_match": match,
                       "chosen_frame": got["verdict"]["frame"] if got["verdict"] else None}
    report["frames_checked"] = len(frames_doc["frames"])
    if problems:
        raise FetaledgeError(f"bundle {root} failed verification: " + "; ".join(problems))
    return report
