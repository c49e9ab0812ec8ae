"""Stage bookkeeping of `fetaledge build`: what makes a stage re-run (inputs, outputs, and its code)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fetaledge import codegraph
from fetaledge.build_stages import ACOUSLIC_CACHE, PHANTOM, PLANES_CACHE, STAGES, stage_named
from fetaledge.codegraph import function_code, import_graph
from fetaledge.errors import FetaledgeError
from fetaledge.stages import run_stage
from fetaledge.targets import TARGETS


def _closure(stage) -> set[str]:
    seeds, _ = function_code(stage.run.__module__, stage.run.__name__)
    return import_graph().closure(seeds)


def test_stage_code_is_the_import_closure_of_its_run() -> None:
    export = _closure(STAGES["export"])
    # the modules the old hand list missed
    assert {"fetaledge.runtime.geometry", "fetaledge.runtime.images", "fetaledge.export.onnx",
            "fetaledge.preprocess"} <= export
    assert "quantize.backends.ort" not in export and "fetaledge.train.finetune" not in export
    assert "fetaledge.data.cache" in _closure(ACOUSLIC_CACHE) and "fetaledge.data.planes" in _closure(PLANES_CACHE)
    # the phantom does not depend on the frame cache, nor on anything of quantize
    phantom = _closure(PHANTOM)
    assert "fetaledge.data.cache" not in phantom and not any(m.startswith("quantize") for m in phantom)
    assert "quantize.gate" in _closure(STAGES["quantize"])
    # the backends are imported by discovery (quantize.backends lists its folder): an edit in one must re-run the
    # stage, and the lossless graph rewrites they call are code of the stage too
    assert {"quantize.backends.nncf_onnx", "quantize.backends.ort", "quantize.backends.litert",
            "quantize.qdq"} <= _closure(STAGES["quantize"])
    assert import_graph().cycles() == []  # discovery is followed for fingerprints, not counted as an import
    for s in (PHANTOM, ACOUSLIC_CACHE, *STAGES.values()):
        assert len(s.code()) == 16, s.name
    assert len({s.code() for s in STAGES.values()}) == len(STAGES)


def test_every_target_names_known_stages_in_order() -> None:
    for t in TARGETS.values():
        assert all(n in STAGES for n in t.stages), t.name
        assert t.stages[-1] == "bundle"
    with pytest.raises(FetaledgeError, match="unknown stage 'nope'.*known stages"):
        stage_named("nope")


def test_an_edit_in_the_closure_changes_the_code_fingerprint(monkeypatch: pytest.MonkeyPatch) -> None:
    before = {s.name: s.code() for s in (PHANTOM, ACOUSLIC_CACHE, *STAGES.values())}
    target = import_graph().files["fetaledge.runtime.images"]
    real = codegraph.read_source
    monkeypatch.setattr(codegraph, "read_source",
                        lambda p: real(p) + b"\n# edited\n" if Path(p) == target else real(p))
    codegraph.clear()
    try:
        after = {s.name: s.code() for s in (PHANTOM, ACOUSLIC_CACHE, *STAGES.values())}
    finally:
        monkeypatch.undo()
        codegraph.clear()
    changed = {n for n in before if before[n] != after[n]}
    assert {"export", "quantize", "bundle"} <= changed and "phantom" not in changed and "merge" not in changed


def test_function_code_follows_helpers_of_the_same_module() -> None:
    seeds, own = function_code("fetaledge.build_stages", "run_export")
    assert "fetaledge.data.cache" in seeds  # imported by the helper _raw_hw, not by run_export itself
    with pytest.raises(FetaledgeError, match="no top-level function"):
        function_code("fetaledge.build_stages", "nope")


def test_run_stage_skips_and_reruns_on_inputs_outputs_and_code(tmp_path: Path) -> None:
    runs: list[str] = []
    logs: list[str] = []

    def fn(d: Path) -> None:
        d.mkdir(parents=True, exist_ok=True)
        (d / "out.txt").write_text(str(len(runs)))
        runs.append("ran")

    folder = tmp_path / "export"

    def go(inputs: dict, code: str = "c1") -> str:
        return run_stage("export", folder, inputs, fn, log=logs.append, outputs=("out.txt",), code=code)

    k1 = go({"a": 1})
    assert go({"a": 1}) == k1 and len(runs) == 1 and "up to date" in logs[-1]
    assert go({"a": 2}) != k1 and len(runs) == 2
    (folder / "out.txt").unlink()
    go({"a": 2})
    assert len(runs) == 3
    k4 = go({"a": 2}, code="edited-source")
    assert len(runs) == 4 and any("its code changed" in line for line in logs)
    assert go({"a": 2}, code="edited-source") == k4 and len(runs) == 4
