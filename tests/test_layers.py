"""Layers only point down: the static import graph of fetaledge and quantize (imports inside functions count)."""

from __future__ import annotations

import ast

from fetaledge.codegraph import ImportGraph, import_graph


def test_the_graph_sees_function_level_and_relative_imports() -> None:
    g = import_graph()
    assert len(g.files) > 60
    # bench.run imports side_by_side only inside a function: the graph must still see it
    assert "fetaledge.bench.side_by_side" in g.internal("fetaledge.bench.run")
    assert "fetaledge.errors" in g.internal("fetaledge.fsio")
    assert "torch" in g.external(["fetaledge.train.loop"])


def test_no_import_cycles() -> None:
    assert import_graph().cycles() == []


def test_cycle_detection_fails_on_a_circle() -> None:
    # the check itself can fail: two modules importing each other are reported
    fake = ImportGraph(files={"fetaledge.a": None, "fetaledge.b": None, "fetaledge.c": None},  # type: ignore[dict-item]
                       edges={"fetaledge.a": frozenset({"fetaledge.b"}), "fetaledge.b": frozenset({"fetaledge.a"}),
                              "fetaledge.c": frozenset({"fetaledge.a"})})
    assert fake.cycles() == [["fetaledge.a", "fetaledge.b"]]


def test_bench_never_imports_build() -> None:
    g = import_graph()
    bad = {m: sorted(d for d in g.internal(m) if d == "fetaledge.build" or d.startswith("fetaledge.build."))
           for m in g.files if m.startswith("fetaledge.bench")}
    assert {m: d for m, d in bad.items() if d} == {}
    # ... not even through another module
    reach = {m for m in g.files if m.startswith("fetaledge.bench")}
    assert "fetaledge.build" not in g.closure(reach)


def test_runtime_never_reaches_torch() -> None:
    g = import_graph()
    runtime = [m for m in g.files if m == "fetaledge.runtime" or m.startswith("fetaledge.runtime.")]
    reached = g.closure(runtime)
    heavy = sorted(e for e in g.external(reached) if e.split(".")[0] in ("torch", "torchvision", "open_clip",
                                                                        "peft", "timm", "nncf"))
    offenders = sorted(m for m in reached if any(e.split(".")[0] == "torch" for e in g.external([m])))
    assert heavy == [], offenders


def test_quantize_never_imports_fetaledge() -> None:
    g = import_graph()
    bad = {m: sorted(e for e in g.edges[m] if e.split(".")[0] == "fetaledge")
           for m in g.files if m.split(".")[0] == "quantize"}
    assert {m: d for m, d in bad.items() if d} == {}


def test_relative_and_from_imports_resolve(tmp_path) -> None:
    from fetaledge.codegraph import _imported_names

    tree = ast.parse("from . import geometry\nfrom ..errors import FetaledgeError\ndef f():\n    import torch\n")
    names = _imported_names("fetaledge.runtime.spec", False, tree)
    assert {"fetaledge.runtime.geometry", "fetaledge.errors.FetaledgeError", "torch"} <= set(names)


def test_runtime_is_self_contained_and_ships_no_development_code() -> None:
    g = import_graph()
    runtime = [m for m in g.files if m == "fetaledge.runtime" or m.startswith("fetaledge.runtime.")]
    outside = sorted(m for m in g.closure(runtime) if not m.startswith("fetaledge.runtime"))
    assert outside == ["fetaledge", "fetaledge.errors", "fetaledge.fsio"]  # golden_cases is development code
