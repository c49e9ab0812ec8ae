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
from fetaledge.runtime.engines import Engine, Skipped, try_open
from fetaledge.runtime.goldens import GoldenCase, check_golden_files, expected_for, same_decisions
from fetaledge.runtime.manifest import check_golden_manifest
from fetaledge.runtime.measure_goldens import check_measure_goldens
from fetaledge.runtime.numeric import sigmoid
from fetaledge.runtime.spec import IqaSpec, ModelSpec


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


def _check_frames(root: Path, spec: IqaSpec, m: ModelSpec, eng: Engine, frames_doc: dict[str, Any],
                  problems: list[str]) -> dict[str, Any]:
    """One model against ``goldens/frames.json``: probabilities within tolerance, decisions unless borderline."""
    diffs, flips, borderline = [], 0, 0
    for e in frames_doc["frames"]:
        exp = e["expected"].get(m.name)
        if exp is None:
            problems.append(f"goldens/frames.json has no expectation for model {m.name}")
            break
        p = _prob(eng(np.load(root / e["file"])), m.output_kind)
        diffs.append(abs(p - exp["probability"]))
        if diffs[-1] > exp["tolerance"]:
            problems.append(f"{m.name} on {e['file']}: probability {p:.6f}, golden {exp['probability']:.6f} "
                            f"(tolerance {exp['tolerance']})")
        if (p >= spec.decision.threshold) != exp["good"]:
            # A golden within its tolerance of the threshold may legitimately land on either side.
            if abs(exp["probability"] - spec.decision.threshold) > exp["tolerance"]:
                flips += 1
                problems.append(f"{m.name} on {e['file']}: decision differs from the golden")
            else:
                borderline += 1
    return {"runtime": m.runtime, "precision": m.precision, "max_abs_diff": max(diffs) if diffs else None,
            "frames": len(diffs), "decision_flips": flips, "borderline_flips": borderline}


def _check_sweep(root: Path, spec: IqaSpec, m: ModelSpec, eng: Engine, sweep: dict[str, Any], tol: float,
                 problems: list[str]) -> dict[str, Any]:
    """The recorded sweep: decisions exactly, scores (smoothed probabilities) within the model's tolerance."""
    frames = np.load(root / sweep["frames_file"])
    probs = [_prob(eng(f), m.output_kind) for f in frames]
    diff = max(abs(a - b) for a, b in zip(probs, sweep["probabilities"], strict=True)) if probs else 0.0
    got = expected_for(GoldenCase(sweep["name"], "", spec.decision, [probs]))
    match = same_decisions(got, sweep["expected"], tol)
    if not match:
        problems.append(f"the recorded sweep's decisions differ from the golden: got verdict {got['verdict']}, "
                        f"golden {sweep['expected']['verdict']} (scores compared within {tol})")
    return {"model": m.name, "frames": len(probs), "max_abs_diff": diff, "decisions_match": match,
            "chosen_frame": got["verdict"]["frame"] if got["verdict"] else None}


def verify_bundle(bundle_dir: Path | str, target: str | None = None, threads: int | None = None) -> dict[str, Any]:
    """Check the sha256 of every file the spec lists (and of the golden manifest's files), the schema, the
    decision goldens, and that every model this install can run reproduces its frame goldens (probabilities
    within tolerance, decisions exactly) and, for the sweep's model, the recorded sweep's decisions. A bundle that
    measures also has every segmentation model checked on its measurement goldens (``report["measurement"]``).

    A model whose runtime is not installed here is not a failure: it is named in ``report["skipped"]`` with the
    pip line that would let it run. A model that the installed runtime refuses to load is a failure, and so is
    a bundle of which no model runs here. Raises one ``FetaledgeError`` listing every problem.

    Example:
        >>> r = verify_bundle("bundle")      # doctest: +SKIP
        >>> r["frames_checked"], [s["model"] for s in r["skipped"]]  # doctest: +SKIP
        (8, ['student_litert_int8'])
    """
    root = Path(bundle_dir)
    spec = load_bundle(root)
    built_for = spec.provenance.get("target")
    if target is not None and built_for != target:
        raise FetaledgeError(f"bundle {root} was built for target {built_for!r}, not {target!r}",
                             hint=f"run `fetaledge build --target {target}`")
    problems = [f"golden {p}" for p in check_golden_manifest(root / "goldens")]
    problems += [f"golden {p}" for p in check_golden_files(root / "goldens")]
    report: dict[str, Any] = {"bundle": str(root), "target": built_for, "models": {}, "skipped": []}
    frames_doc = json.loads((root / "goldens" / "frames.json").read_text())
    engines: dict[str, tuple[ModelSpec, Engine]] = {}
    for m in spec.models:
        r = try_open(root, m, threads)
        if isinstance(r, Skipped):
            if r.missing_runtime:
                report["skipped"].append({"model": m.name, "runtime": m.runtime, "reason": r.reason,
                                          "install": r.hint})
            else:  # the runtime is installed and refuses the shipped file: the bundle is broken for it
                problems.append(r.line())
            continue
        engines[m.name] = (m, r)
    if not engines and not problems:
        hints = sorted({s["install"] for s in report["skipped"] if s["install"]})
        raise FetaledgeError(
            f"bundle {root}: no model can run in this install, so its goldens cannot be checked here: "
            + "; ".join(f"{s['model']} ({s['runtime']}): {s['reason']}" for s in report["skipped"]),
            hint=" and ".join(hints))
    for name, (m, eng) in engines.items():
        report["models"][name] = _check_frames(root, spec, m, eng, frames_doc, problems)
    sweep = json.loads((root / "goldens" / "sweep.json").read_text())
    tol = golden_tolerances(frames_doc).get(sweep["model"], 0.0)
    if sweep["model"] in engines:
        m, eng = engines[sweep["model"]]
        report["sweep"] = _check_sweep(root, spec, m, eng, sweep, tol, problems)
    else:
        report["sweep"] = {"model": sweep["model"], "checked": False,
                           "reason": f"model {sweep['model']!r}, which recorded the sweep, cannot run here"}
    report["frames_checked"] = len(frames_doc["frames"])
    report["measurement"] = check_measure_goldens(root, spec, problems, threads)
    if problems:
        raise FetaledgeError(f"bundle {root} failed verification: " + "; ".join(problems))
    return report
