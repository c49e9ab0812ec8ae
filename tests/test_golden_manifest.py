"""Golden completeness and the goldens the app's self-check shares with Python: the manifest (every file under
tests/goldens with its sha256, read by the Kotlin suites too), the per-frame trajectories of the decision goldens
(an invalid frame leaves the state unchanged), and the self-check rule on a recorded sweep."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from fetaledge.errors import FetaledgeError
from fetaledge.golden_cases import check_goldens, write_goldens
from fetaledge.runtime.decision import DecisionParams, SweepTracker
from fetaledge.runtime.goldens import _case_of, decode_probability, expected_for, same_decisions
from fetaledge.runtime.manifest import check_golden_manifest, golden_file_paths

ROOT = Path(__file__).parent / "goldens"


def test_the_manifest_lists_every_golden_file_with_its_sha256() -> None:
    assert check_golden_manifest(ROOT, strict=True) == []
    listed = [f["path"] for f in json.loads((ROOT / "manifest.json").read_text())["files"]]
    assert listed == golden_file_paths(ROOT)
    assert {p.split("/")[0] for p in listed} >= {"decision", "spec", "geometry", "selfcheck"}


def test_deleting_changing_or_adding_a_golden_is_caught_and_regeneration_picks_new_ones_up(tmp_path) -> None:
    root = tmp_path / "goldens"
    shutil.copytree(ROOT, root)
    (root / "decision" / "nan_rejected.json").unlink()
    (root / "spec" / "spec_cases.json").write_text((root / "spec" / "spec_cases.json").read_text() + " ")
    (root / "newkind").mkdir()  # a folder of goldens that no generator of this module writes
    (root / "newkind" / "new_case.json").write_text("{}\n")
    problems = check_golden_manifest(root, strict=True)
    assert problems == [
        "decision/nan_rejected.json: listed in manifest.json but missing",
        "spec/spec_cases.json: sha256 differs from manifest.json",
        "newkind/new_case.json: not listed in manifest.json (if it is a new golden: "
        "python -m fetaledge.golden_cases --regenerate)",
    ]
    write_goldens(root)  # the regeneration command: rewrites its own goldens, lists every file under the root
    assert check_golden_manifest(root, strict=True) == []
    assert "newkind/new_case.json" in golden_file_paths(root)
    assert check_goldens(root) == []


def _sweeps(doc: dict) -> list[tuple[list, dict]]:
    if doc["kind"] == "sweep":
        return [(doc["probabilities"], doc["trajectory"])]
    return list(zip(doc["sweeps"], doc["trajectory"]["sweeps"], strict=True))


@pytest.mark.parametrize("path", sorted((ROOT / "decision").glob("*.json")), ids=lambda p: p.stem)
def test_trajectories_and_an_invalid_frame_leaves_the_state_unchanged(path: Path) -> None:
    doc = json.loads(path.read_text())
    params = DecisionParams(**doc["params"])
    for inputs, traj in _sweeps(doc):
        t = SweepTracker(params)
        for i, raw in enumerate(inputs):
            before = (t.smoothed, t.in_plane, t.best, t.n_frames)
            try:
                t.update(decode_probability(raw))
            except FetaledgeError:
                assert i in traj["rejected"]
                assert (t.smoothed, t.in_plane, t.best, t.n_frames) == before
            assert (t.smoothed, t.in_plane, t.best[0] if t.best else -1) == (
                traj["smoothed"][i], traj["in_plane"][i], traj["best_frame"][i])
        assert ("continued" in traj) == bool(traj["rejected"])


def test_the_invalid_frame_golden_shows_a_state_worth_keeping() -> None:
    doc = json.loads((ROOT / "decision" / "invalid_frame_leaves_state_unchanged.json").read_text())
    t = doc["trajectory"]
    assert t["rejected"] == [4, 6]
    for i in t["rejected"]:  # in the plane, with a best frame and a smoothed score, before and after
        assert t["in_plane"][i] and t["best_frame"][i] >= 0
        assert t["smoothed"][i] == t["smoothed"][i - 1]
    assert t["continued"]["verdict"]["verdict"] == "USABLE"
    assert expected_for(_case_of(doc)) == doc["expected"]


def test_the_self_check_rule_golden_is_judged_by_same_decisions() -> None:
    rule = json.loads((ROOT / "selfcheck" / "sweep_rule.json").read_text())
    sweep = json.loads((ROOT / rule["golden_file"]).read_text())
    params = DecisionParams(**sweep["params"])
    verdicts = {}
    for run in rule["runs"]:
        got = expected_for(_case_of({**sweep, "probabilities": run["probabilities"]}))
        verdicts[run["name"]] = same_decisions(got, sweep["expected"], run["tolerance"])
        assert verdicts[run["name"]] == run["passes"], run["name"]
    assert verdicts["identical"] and verdicts["int8_drift_5e-3"]
    assert not verdicts["int8_drift_5e-2"] and not verdicts["fp32_tolerance_with_5e-3_drift"]
    assert not verdicts["chosen_frame_scores_zero"] and not verdicts["one_frame_short"]
    assert sweep["expected"]["verdict"]["verdict"] == "USABLE" and params.min_run >= 1
