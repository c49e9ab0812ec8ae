"""The decision goldens (tests/goldens/decision/*.json) reproduce exactly in Python; the Kotlin iqa-core tests
read the same files. This test only READS them: ``python -m fetaledge.golden_cases --regenerate`` is the
only writer."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

import pytest

from fetaledge import golden_cases as golden_module
from fetaledge.errors import FetaledgeError
from fetaledge.runtime.decision import CaseSelector, DecisionParams, SweepTracker

GOLDEN_ROOT = Path(__file__).parent / "goldens"
GOLDEN_DIR = GOLDEN_ROOT / "decision"
FILES = sorted(GOLDEN_DIR.glob("*.json"))


def _owned() -> list[Path]:
    return sorted([*GOLDEN_DIR.glob("*.json"), *(GOLDEN_ROOT / "spec").glob("*.json"),
                   *(GOLDEN_ROOT / "geometry").glob("*.json"), *(GOLDEN_ROOT / "selfcheck").glob("*.json"),
                   *(GOLDEN_ROOT / "live").glob("*.json")])


def _digest_all() -> dict[str, str]:
    return {str(p.relative_to(GOLDEN_ROOT)): hashlib.sha256(p.read_bytes()).hexdigest() for p in _owned()}


DIGESTS_AT_IMPORT = _digest_all()

NONFINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def _prob(v: Any) -> float:
    return NONFINITE[v] if isinstance(v, str) else float(v)


def _run_sweep(params: DecisionParams, probs: list[Any]) -> tuple[dict[str, Any], Any]:
    """An independent replay (what the Kotlin test does too): events tagged with the update index."""
    tracker = SweepTracker(params)
    events = []
    for i, raw in enumerate(probs):
        try:
            out = tracker.update(_prob(raw))
        except FetaledgeError as exc:
            assert f"frame {i}" in str(exc)
            return {"events": events, "verdict": None, "error": {"frame": i}}, None
        events += [{"at": i, "type": e.type.value, "frame": e.frame, "score": e.score} for e in out]
    v = tracker.finish()
    verdict = {"verdict": v.verdict.value, "frame": v.frame, "score": v.score, "n_frames": v.n_frames}
    return {"events": events, "verdict": verdict, "error": None}, v


def test_the_golden_set_covers_the_required_edge_cases() -> None:
    names = {p.stem for p in FILES}
    required = {
        "empty_sweep", "all_below_threshold", "ties_first_occurrence_wins", "flicker_never_confirmed",
        "flicker_in_plane_suppressed", "plane_at_first_frame", "plane_at_last_frame", "min_run_not_reached",
        "found_lost_found", "nan_rejected", "long_realistic_sweep", "case_six_sweeps_one_usable",
        "case_realistic_six_sweeps",
    }
    assert required <= names, f"missing goldens: {sorted(required - names)}"
    assert len(FILES) == len(golden_module.golden_cases())


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_golden_reproduces_exactly(path: Path) -> None:
    doc = json.loads(path.read_text())
    assert doc["format"] == 1 and doc["name"] == path.stem
    params = DecisionParams(**doc["params"])
    expected = doc["expected"]
    if doc["kind"] == "sweep":
        got, _ = _run_sweep(params, doc["probabilities"])
        assert got == expected
        assert json.dumps(got) == json.dumps(expected)  # shortest repr: equal text <=> equal bits (even -0.0)
        return
    assert doc["kind"] == "case"
    selector = CaseSelector()
    records = []
    for sweep in doc["sweeps"]:
        rec, verdict = _run_sweep(params, sweep)
        records.append(rec)
        selector.add(verdict)
    assert records == expected["sweeps"]
    assert json.dumps(records) == json.dumps(expected["sweeps"])
    case = selector.finish().to_dict()
    assert json.dumps(case) == json.dumps(expected["case"])


def test_check_mode_passes_and_writes_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    assert golden_module.main(["--root", str(GOLDEN_ROOT)]) == 0
    assert "reproduce" in capsys.readouterr().out
    assert _digest_all() == DIGESTS_AT_IMPORT


def test_regeneration_is_deterministic_and_matches_the_files_byte_for_byte(tmp_path: Path) -> None:
    assert golden_module.main(["--regenerate", "--root", str(tmp_path)]) == 0
    # manifest.json lists whatever lies under the root (tests/test_golden_manifest.py checks it)
    fresh = {str(p.relative_to(tmp_path)): p.read_bytes() for p in tmp_path.rglob("*.json")
             if p.name != "manifest.json"}
    on_disk = {str(p.relative_to(GOLDEN_ROOT)): p.read_bytes() for p in _owned()}
    assert fresh == on_disk, "the committed goldens are not what --regenerate writes; regenerate and review"


def test_check_mode_reports_a_changed_expected_value(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for p in _owned():
        dest = tmp_path / p.relative_to(GOLDEN_ROOT)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(p.read_bytes())
    target = tmp_path / "decision" / "found_lost_found.json"
    doc = json.loads(target.read_text())
    doc["expected"]["verdict"]["frame"] = 7
    target.write_text(json.dumps(doc))
    (tmp_path / "decision" / "stray.json").write_text("{}")
    assert golden_module.main(["--root", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "found_lost_found.json: differs" in err and "stray.json: not a known golden" in err


def test_goldens_were_not_rewritten_by_any_test() -> None:
    assert _digest_all() == DIGESTS_AT_IMPORT


def test_same_decisions_allows_score_noise_not_decision_changes() -> None:
    from fetaledge.runtime.goldens import same_decisions

    x86 = {"events": [{"at": 6, "type": "NEW_BEST", "frame": 6, "score": 0.3768}],
           "verdict": {"verdict": "USABLE", "frame": 21, "score": 0.3768, "n_frames": 24}, "error": None}
    arm = {"events": [{"at": 6, "type": "NEW_BEST", "frame": 6, "score": 0.3759}],
           "verdict": {"verdict": "USABLE", "frame": 21, "score": 0.3759, "n_frames": 24}, "error": None}
    assert same_decisions(x86, arm, 2e-3)
    assert not same_decisions(x86, arm, 1e-4)  # beyond the tolerance
    moved = {**arm, "verdict": {**arm["verdict"], "frame": 22}}
    assert not same_decisions(x86, moved, 1.0)  # a different chosen frame is a different decision
    relabelled = {**arm, "verdict": {**arm["verdict"], "verdict": "RESCAN"}}
    assert not same_decisions(x86, relabelled, 1.0)
    assert not same_decisions(x86, {**arm, "events": []}, 1.0)


def test_the_runtime_rechecks_golden_files_without_the_case_definitions(tmp_path: Path) -> None:
    import shutil

    from fetaledge.runtime.goldens import check_golden_files

    root = tmp_path / "g"
    shutil.copytree(GOLDEN_ROOT, root)
    assert check_golden_files(root) == []
    f = root / "decision" / "found_lost_found.json"
    doc = json.loads(f.read_text())
    doc["expected"]["events"] = doc["expected"]["events"][:-1]
    f.write_text(json.dumps(doc))
    spec = root / "spec" / "spec_cases.json"
    sdoc = json.loads(spec.read_text())
    sdoc["cases"][1]["error_field"] = "nowhere"
    spec.write_text(json.dumps(sdoc))
    problems = check_golden_files(root)
    assert any("found_lost_found.json" in p and "differ" in p for p in problems)
    assert any("spec_cases.json" in p and "nowhere" in p for p in problems)
    assert len(problems) == 2
