"""One implementation of each small fact: the logistic function, the file sha256, the package versions."""

from __future__ import annotations

import ast
import math

import numpy as np

from fetaledge.codegraph import import_graph
from fetaledge.runtime.numeric import sigmoid, sigmoid_array


def test_sigmoid_is_stable_far_below_minus_709() -> None:
    assert sigmoid(-800.0) == 0.0 and sigmoid(800.0) == 1.0 and sigmoid(0.0) == 0.5
    assert math.isclose(sigmoid(-745.0), math.exp(-745.0), rel_tol=1e-9, abs_tol=1e-320)
    x = np.array([-1e4, -710.0, -3.0, 0.0, 2.5, 710.0, 1e4])
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # no overflow warning either
        p = sigmoid_array(x)
    assert p.dtype == np.float64 and np.all((p >= 0) & (p <= 1)) and p[3] == 0.5
    assert np.allclose(p, [sigmoid(v) for v in x], rtol=1e-15, atol=0)
    assert float(sigmoid_array(-3.0)) == sigmoid(-3.0)


def _functions_named(predicate) -> list[str]:
    g = import_graph()
    found = []
    for mod, path in g.files.items():
        if not mod.startswith("fetaledge"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and predicate(node.name):
                found.append(f"{mod}.{node.name}")
    return sorted(found)


def test_one_sigmoid_one_sha256_one_version_collector() -> None:
    assert _functions_named(lambda n: "sigmoid" in n) == ["fetaledge.runtime.numeric.sigmoid",
                                                          "fetaledge.runtime.numeric.sigmoid_array"]
    assert _functions_named(lambda n: "sha256" in n) == ["fetaledge.fsio.sha256_file"]
    g = import_graph()
    hand_written = []
    for mod, path in g.files.items():
        text = path.read_text()
        if mod.startswith("fetaledge") and mod != "fetaledge.runtime.numeric" and "math.exp(-" in text:
            hand_written.append(f"{mod}: math.exp(-")
        if mod.startswith("fetaledge") and mod != "fetaledge.versions" and ".version(" in text and \
                "metadata" in text:
            hand_written.append(f"{mod}: metadata.version")
    assert hand_written == []
