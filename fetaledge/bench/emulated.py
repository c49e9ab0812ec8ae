"""x86 vs arm64 (emulated): the same torch-free probe on both, compared decision by decision."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from fetaledge.errors import FetaledgeError
from fetaledge.runtime.goldens import same_decisions
from fetaledge.runtime.verify import golden_tolerances


def _run_native(bundle: Path, cases: list[Path]) -> dict[str, Any]:
    from fetaledge.bench.probe import probe

    return probe(bundle, cases)


def _run_arm64(bundle: Path, cases: list[Path], timeout: float) -> dict[str, Any]:
    from fetaledge.emulate import project_root, run_arm64_python

    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "arm64.json"
        r = run_arm64_python(["-m", "fetaledge.bench.probe", str(bundle.resolve()), str(out),
                              *[str(c.resolve()) for c in cases]], extra_paths=[str(project_root())],
                             timeout=timeout)
        if r.returncode != 0 or not out.is_file():
            tail = (r.stderr or r.stdout or "").strip().splitlines()[-4:]
            raise FetaledgeError("the arm64 (emulated) probe failed: " + " | ".join(tail))
        return json.loads(out.read_text())


def compare_arm64(bundle: Path, cases: list[Path], timeout: float = 3600.0) -> dict[str, Any]:
    """Run the probe natively and under qemu arm64; report per model and input: decision agreement,
    max |probability diff|, chosen frames on both, and the (emulated) per-frame medians.

    Example:
        >>> compare_arm64(Path("bundle"), [Path("case.mha")])["all_decisions_agree"]  # doctest: +SKIP
        True
    """
    x86 = _run_native(bundle, cases)
    arm = _run_arm64(bundle, cases, timeout)
    spec_threshold = json.loads((bundle / "iqa_spec.json").read_text())["decision"]["threshold"]
    tolerance = golden_tolerances(json.loads((bundle / "goldens" / "frames.json").read_text()))
    rows, all_agree = {}, True
    for model, inputs in x86["models"].items():
        for key, r in inputs.items():
            a = arm["models"][model][key]
            px = np.concatenate([np.asarray(s) for s in r["probabilities"]])
            pa = np.concatenate([np.asarray(s) for s in a["probabilities"]])
            agree = float(np.mean((px >= spec_threshold) == (pa >= spec_threshold)))
            # verdicts, frames and events exactly; scores (smoothed probabilities) within the golden tolerance
            same = same_decisions(r["decision"], a["decision"], tolerance.get(model, 0.0))
            all_agree &= same and agree == 1.0
            rows[f"{model} / {key}"] = {
                "frames": int(px.size), "frame_decision_agreement": agree,
                "max_abs_prob_diff": float(np.max(np.abs(px - pa))) if px.size else 0.0,
                "verdict_x86": r["decision"], "verdict_arm64": a["decision"], "verdicts_identical": same,
                "x86_median_ms": r["median_ms"], "arm64_emulated_median_ms": a["median_ms"],
            }
    return {
        "arm64_machine": arm["machine"], "arm64_python": arm["python"],
        "goldens_verified_on_arm64": "verify" in arm, "arm64_verify_error": arm.get("verify_error"),
        "goldens_verified_on_x86": "verify" in x86,
        "all_decisions_agree": bool(all_agree and "verify" in arm),
        "timings_note": "arm64 timings are EMULATED (qemu-user): not device timings",
        "comparisons": rows,
        "python": sys.version.split()[0],
    }
