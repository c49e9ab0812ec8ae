"""End to end on the JVM: the app's own Kotlin code (iqa-core loadBundle, NpyFrames, InputEncoder) encodes the
input tensors of a bundle's recorded sweep; Python's ai-edge-litert runs the bundle's LiteRT model on exactly those
bytes; the probabilities and decisions must be the bundle's goldens/sweep.json. Needs the classes that
android_demo/run_app_jvm_tests.sh compiles (CI runs it before pytest); skips cleanly without them."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from fetaledge.runtime.engines import _from_output, _to_input
from fetaledge.runtime.goldens import GoldenCase, expected_for, same_decisions
from fetaledge.runtime.numeric import sigmoid
from fetaledge.runtime.spec import load_spec

ANDROID = Path(__file__).resolve().parent.parent / "android_demo"
CLASSES = ANDROID / "build" / "app-jvm"
NP = {"uint8": np.uint8, "int8": np.int8, "float32": np.float32}


def _classpath() -> str:
    stdlib = sorted(ANDROID.glob(".tools/kotlin-*/node_modules/kotlin-compiler/lib/kotlin-stdlib.jar"))
    main_class = CLASSES / "test" / "org" / "fetaledge" / "demo" / "core" / "EncodeSweepMainKt.class"
    if not stdlib or not main_class.is_file() or shutil.which("java") is None:
        pytest.skip("the app's JVM classes are not built: run bash android_demo/run_app_jvm_tests.sh first")
    return ":".join(str(p) for p in (CLASSES / "iqa-core", CLASSES / "main", CLASSES / "test", stdlib[-1]))


def test_kotlin_input_tensors_through_python_litert_reproduce_the_recorded_sweep(litert_bundle: Path,
                                                                                  tmp_path: Path) -> None:
    from ai_edge_litert.interpreter import Interpreter

    out = tmp_path / "tensors.bin"
    run = subprocess.run(["java", "-cp", _classpath(), "org.fetaledge.demo.core.EncodeSweepMainKt",
                          str(litert_bundle), str(out)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    meta = json.loads(run.stdout.strip().splitlines()[-1])
    spec = load_spec(litert_bundle / "iqa_spec.json")
    model = spec.model(meta["model"])
    sweep = json.loads((litert_bundle / "goldens" / "sweep.json").read_text())
    assert model.runtime == "litert" and meta["golden_model"] == sweep["model"] == model.name
    frames = np.load(litert_bundle / sweep["frames_file"])
    dtype = np.dtype(NP[meta["dtype"]]).newbyteorder("<" if meta["byte_order"] == "little" else ">")
    tensors = np.fromfile(out, dtype=dtype).reshape(meta["frames"], spec.input.height, spec.input.width)
    assert meta["frames"] == len(frames) == len(sweep["probabilities"])
    # The bytes the app would hand LiteRT are the bytes Python's runtime hands it.
    for t, f in zip(tensors, frames, strict=True):
        assert np.array_equal(t[None], _to_input(f, model.input))

    it = Interpreter(model_path=str(litert_bundle / model.file), num_threads=1)
    it.allocate_tensors()
    inp, outp = it.get_input_details()[0]["index"], it.get_output_details()[0]["index"]
    probs = []
    for t in tensors:
        it.set_tensor(inp, np.ascontiguousarray(t[None]).astype(NP[meta["dtype"]]))
        it.invoke()
        y = _from_output(it.get_tensor(outp), model.output)
        probs.append(y if model.output_kind == "probability" else sigmoid(y))
    diff = max(abs(a - b) for a, b in zip(probs, sweep["probabilities"], strict=True))
    assert diff <= 1e-6, f"max |dp| {diff}"  # same interpreter, same bytes: the golden's own run
    got = expected_for(GoldenCase(sweep["name"], "", spec.decision, [probs]))
    assert same_decisions(got, sweep["expected"], 1e-6)
