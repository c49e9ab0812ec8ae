"""Tests of the domain-free ``quantize`` library.

One template (``test_backend_template``) runs over every backend module present in ``quantize.backends`` and
two tiny CNNs (float (1,3,32,32) input; raw uint8 (1,1,32,32) frame normalised inside ``forward``). A backend
whose optional dependencies are missing is skipped with the pip line that installs them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from quantize import (
    MissingExtraError,
    QuantizeError,
    RecipeError,
    ValidationSet,
    backends,
    evaluate_gate,
    get_backend,
    load_recipe,
    missing_extra,
    quantize,
    quantize_gated,
    recipe_from_json,
    run_artifact,
    run_onnx,
    select_calibration,
)
from quantize.census import onnx_census
from quantize.gate import scores_of

ROOT = Path(__file__).resolve().parents[1]
BACKENDS = sorted(backends())
VARIANTS = ("float", "uint8")
# Per (backend, variant) recipe settings; anything not listed uses the backend's default recipe.
RECIPE_SETTINGS: dict[tuple[str, str], dict[str, Any]] = {
    ("nncf", "float"): {"subset_size": 32},
    ("nncf", "uint8"): {"subset_size": 32, "fast_bias_correction": False},
    ("onnxruntime", "float"): {"per_channel": True},
    ("onnxruntime", "uint8"): {"data_types": "U8S8", "reduce_range": True},
    ("litert", "float"): {"input_dtype": "int8", "output_dtype": "int8"},
    ("litert", "uint8"): {"input_dtype": "uint8", "output_dtype": "float32"},
}


def _skip_if_missing(backend: str) -> None:
    err = missing_extra(backend)
    if err is not None:
        pytest.skip(f"backend {backend!r} unavailable: {err}")


def accuracy(scores: np.ndarray, labels: np.ndarray, threshold: float) -> float:
    return float(np.mean((np.asarray(scores) >= threshold) == (np.asarray(labels) == 1)))


def f1(scores: np.ndarray, labels: np.ndarray, threshold: float) -> float:
    pred, y = np.asarray(scores) >= threshold, np.asarray(labels) == 1
    tp, fp, fn = np.sum(pred & y), np.sum(pred & ~y), np.sum(~pred & y)
    return float(2 * tp / (2 * tp + fp + fn)) if tp + fp + fn else 0.0


# --- tiny models -------------------------------------------------------------------------------------------
def _build(variant: str, out_dir: Path) -> SimpleNamespace:
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnx")
    nn = torch.nn

    class TinyCNN(nn.Module):
        def __init__(self) -> None:
            super().__init__()

            def block(i: int, o: int, s: int) -> nn.Module:
                return nn.Sequential(nn.Conv2d(i, o, 3, s, 1, bias=False), nn.BatchNorm2d(o), nn.ReLU())

            self.features = nn.Sequential(block(3, 8, 1), block(8, 16, 2), block(16, 32, 2))
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.head = nn.Linear(32, 1)

        def forward(self, x: Any) -> Any:
            return self.head(torch.flatten(self.pool(self.features(x)), 1))

    class FrameCNN(nn.Module):
        """Takes a raw uint8 (1,1,H,W) frame; scaling, normalisation and gray->RGB are inside the graph."""

        def __init__(self) -> None:
            super().__init__()
            self.net = TinyCNN()

        def forward(self, frame: Any) -> Any:
            x = (frame.to(torch.float32) / 255.0 - 0.5) / 0.25
            return self.net(torch.cat([x, x, x], dim=1))

    torch.manual_seed(0)
    module = TinyCNN() if variant == "float" else FrameCNN()
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    module.eval()
    # Random images whose brightness and contrast vary per sample, so that scores spread out.
    rng = np.random.default_rng(0)
    offset = rng.uniform(-1.5, 1.5, (80, 1, 1, 1))
    contrast = rng.uniform(0.3, 1.5, (80, 1, 1, 1))
    if variant == "float":
        data = (offset + contrast * rng.standard_normal((80, 3, 32, 32))).astype(np.float32)
        input_dtype = "float32"
    else:
        raw = 128 + 60 * offset + 40 * contrast * rng.standard_normal((80, 1, 32, 32))
        data = np.clip(np.round(raw), 0, 255).astype(np.uint8)
        input_dtype = "uint8"
    calib, val = data[:32], data[32:]
    example = torch.from_numpy(calib[:1].copy())
    # Like a trained logit head: scores spread over a few units around 0, not a tiny wiggle around the bias.
    head = module.head if variant == "float" else module.net.head
    with torch.no_grad():
        head.weight.mul_(50.0)
        head.bias.sub_(float(module(torch.from_numpy(calib)).median()))
    onnx_path = out_dir / f"tiny_{variant}.onnx"
    torch.onnx.export(
        module,
        (example,),
        str(onnx_path),
        opset_version=17,
        dynamo=False,
        input_names=["input"],
        output_names=["logit"],
    )
    ref = scores_of(run_onnx(onnx_path, val))
    with torch.no_grad():
        ref_torch = scores_of(
            np.concatenate([module(torch.from_numpy(val[i : i + 1])).numpy() for i in range(len(val))])
        )
    np.testing.assert_allclose(ref, ref_torch, atol=1e-4)
    threshold = float(np.median(ref))
    return SimpleNamespace(
        module=module,
        example=example,
        onnx=onnx_path,
        calib=calib,
        val=val,
        ref=ref,
        threshold=threshold,
        labels=(ref >= threshold).astype(np.int64),
        input_dtype=input_dtype,
    )


@pytest.fixture(scope="module")
def tiny_float(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    return _build("float", tmp_path_factory.mktemp("tiny_float"))


@pytest.fixture(scope="module")
def tiny_uint8(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    return _build("uint8", tmp_path_factory.mktemp("tiny_uint8"))


def _quantize(backend: str, variant: str, tiny: SimpleNamespace, out_dir: Path, **overrides: Any) -> Any:
    settings = {**RECIPE_SETTINGS.get((backend, variant), {}), **overrides}
    recipe = get_backend(backend).RECIPE(**settings)
    return quantize(
        recipe,
        fp32_onnx=tiny.onnx,
        torch_model=tiny.module,
        example_input=tiny.example,
        calibration=tiny.calib,
        out_dir=out_dir,
    )


# --- the template ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_backend_template(backend: str, variant: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    _skip_if_missing(backend)
    tiny = request.getfixturevalue(f"tiny_{variant}")
    art = _quantize(backend, variant, tiny, tmp_path)

    # the artifact exists, loads in its runtime and runs on the validation inputs
    assert art.path.is_file() and art.size_bytes == art.path.stat().st_size > 0
    scores = scores_of(run_artifact(art.path, tiny.val))
    assert scores.shape == tiny.ref.shape and np.isfinite(scores).all()
    # ... and tracks fp32
    corr = float(np.corrcoef(tiny.ref, scores)[0, 1])
    assert corr > 0.9, f"{backend}/{variant}: INT8 vs fp32 correlation {corr:.3f}"

    # the recipe is saved beside the artifact and round-trips exactly
    assert art.recipe_path == Path(f"{art.path}.recipe.json")
    assert load_recipe(art.recipe_path) == art.recipe
    assert recipe_from_json(art.recipe.to_json()) == art.recipe

    # it is really INT8, and runnable by onnxruntime / LiteRT (no OpenVINO FakeQuantize)
    assert art.n_integer_ops > 0
    assert not any("FakeQuantize" in op for op in art.op_counts()), art.op_counts()
    if art.runtime == "onnxruntime" and variant == "float":
        assert art.op_counts()["Conv"] == 3
        assert all(not op.is_float for op in art.ops if op.op_type == "Conv"), art.float_ops

    # boundary dtypes: what the recipe asked for (LiteRT) or the fp32 model's own (ONNX QDQ)
    want_in = getattr(art.recipe, "input_dtype", tiny.input_dtype)
    assert art.inputs[0].dtype == want_in
    if hasattr(art.recipe, "output_dtype"):
        assert art.outputs[0].dtype == art.recipe.output_dtype
    if want_in == "int8":
        assert art.inputs[0].scale is not None and art.inputs[0].zero_point is not None
    if variant == "uint8":
        assert art.inputs[0].scale is None  # raw frames go in; the graph normalises them


# --- ONNX Runtime: chunked calibration ----------------------------------------------------------------------
def _initializers(path: Path) -> dict[str, np.ndarray]:
    import onnx
    from onnx import numpy_helper

    return {t.name: numpy_helper.to_array(t) for t in onnx.load(str(path)).graph.initializer}


def test_ort_chunked_calibration_equals_one_pass(
    tiny_uint8: SimpleNamespace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ORT keeps every intermediate tensor of a calibration pass in memory; we calibrate in chunks. For MinMax
    the merged ranges must be exactly those of one pass; Entropy (histograms merged chunk by chunk) must run."""
    _skip_if_missing("onnxruntime")
    from quantize.backends import ort

    assert ort._chunk_size(300) == 15 and ort._chunk_size(32) == 16 and ort._chunk_size(7) == 7
    assert ort._chunk_size(17) == 1
    chunked = _quantize("onnxruntime", "uint8", tiny_uint8, tmp_path / "chunked")
    monkeypatch.setattr(ort, "CALIBRATION_CHUNK", len(tiny_uint8.calib))
    one_pass = _quantize("onnxruntime", "uint8", tiny_uint8, tmp_path / "one_pass")
    a, b = _initializers(chunked.path), _initializers(one_pass.path)
    assert a.keys() == b.keys() and any(k.endswith("_scale") for k in a)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    monkeypatch.undo()
    entropy = _quantize("onnxruntime", "uint8", tiny_uint8, tmp_path / "entropy", calibrate_method="Entropy")
    scores = scores_of(run_artifact(entropy.path, tiny_uint8.val))
    assert float(np.corrcoef(tiny_uint8.ref, scores)[0, 1]) > 0.9


# --- LiteRT specifics: integer boundary, census -------------------------------------------------------------
@pytest.fixture(scope="module")
def litert_float(tiny_float: SimpleNamespace, tmp_path_factory: pytest.TempPathFactory) -> Any:
    _skip_if_missing("litert")
    return _quantize("litert", "float", tiny_float, tmp_path_factory.mktemp("litert"))


def test_litert_io_dtypes_are_rewritable_bit_exactly(
    litert_float: Any, tiny_float: SimpleNamespace, tmp_path: Path
) -> None:
    from quantize.runners import run_tflite, tflite_io_specs
    from quantize.tflite_interface import set_io_dtypes

    base = litert_float.path.read_bytes()
    expected = run_tflite(base, tiny_float.val)
    for in_dtype, out_dtype in [("uint8", "float32"), ("float32", "uint8"), ("uint8", "uint8")]:
        data, notes = set_io_dtypes(base, in_dtype, out_dtype)
        ins, outs = tflite_io_specs(data)
        assert (ins[0].dtype, outs[0].dtype) == (in_dtype, out_dtype) and len(notes) == 2
        np.testing.assert_array_equal(run_tflite(data, tiny_float.val), expected)


def test_litert_raw_uint8_input_cannot_become_int8(tiny_uint8: SimpleNamespace, tmp_path: Path) -> None:
    _skip_if_missing("litert")
    with pytest.raises(QuantizeError, match="cannot be presented as int8"):
        _quantize("litert", "uint8", tiny_uint8, tmp_path, input_dtype="int8")


def test_litert_census(litert_float: Any, tiny_uint8: SimpleNamespace, tmp_path: Path) -> None:
    counts = litert_float.op_counts()
    assert counts.get("CONV_2D") == 3 and counts.get("FULLY_CONNECTED") == 1
    assert litert_float.float_ops == ()  # int8 in, int8 out, all integer kernels
    conv = next(op for op in litert_float.ops if op.op_type == "CONV_2D")
    assert conv.input_dtypes == ("int8", "int8", "int32") and conv.output_dtypes == ("int8",)
    u8 = _quantize("litert", "uint8", tiny_uint8, tmp_path)
    float_types = {op.op_type for op in u8.float_ops}
    assert "CAST" in float_types and "QUANTIZE" in float_types  # the in-graph normalisation stays float
    assert not any(op.op_type == "CONV_2D" for op in u8.float_ops)
    assert u8.to_dict()["float_ops"]


# --- recipes ------------------------------------------------------------------------------------------------
NON_DEFAULT: dict[str, dict[str, Any]] = {
    "nncf": {
        "preset": "mixed",
        "model_type": "transformer",
        "subset_size": 64,
        "fast_bias_correction": False,
        "target_device": "CPU",
        "ignored_names": ["/head/Gemm"],
        "ignored_types": ["Softmax", "Add"],
        "accuracy_control": True,
        "max_drop": 0.02,
    },
    "onnxruntime": {
        "data_types": "U8S8",
        "per_channel": True,
        "reduce_range": True,
        "calibrate_method": "Percentile",
        "percentile": 99.99,
        "nodes_to_exclude": ["a", "b"],
        "op_types_to_quantize": ["Conv"],
        "preprocess": False,
    },
    "litert": {"per_channel": False, "input_dtype": "uint8", "output_dtype": "float32"},
}


@pytest.mark.parametrize("backend", BACKENDS)
def test_recipe_json_round_trip_and_rejections(backend: str, tmp_path: Path) -> None:
    cls = get_backend(backend).RECIPE
    for recipe in (cls(), cls(**NON_DEFAULT.get(backend, {}))):
        text = recipe.to_json()
        assert json.loads(text)["backend"] == backend
        assert cls.from_json(text) == recipe and recipe_from_json(text) == recipe
        assert load_recipe(recipe.save(tmp_path / f"{backend}.recipe.json")) == recipe
        assert cls.from_json(text).to_json() == text
    data = cls().to_dict()
    with pytest.raises(RecipeError, match="unknown key"):
        cls.from_dict({**data, "not_an_option": 1})
    with pytest.raises(RecipeError, match="backend"):
        cls.from_dict({**data, "backend": "other"})
    bool_field = next(k for k, v in data.items() if isinstance(v, bool))
    with pytest.raises(RecipeError, match=bool_field):
        cls.from_dict({**data, bool_field: "yes"})
    with pytest.raises(RecipeError):
        recipe_from_json('{"backend": "no-such-backend"}')


def test_recipe_literal_values_are_checked() -> None:
    from quantize.backends.ort import ORTRecipe

    with pytest.raises(RecipeError, match="calibrate_method"):
        ORTRecipe(calibrate_method="minmax")
    assert ORTRecipe(nodes_to_exclude=["x"]).nodes_to_exclude == ("x",)  # lists become tuples (hashable)


# --- calibration --------------------------------------------------------------------------------------------
def test_select_calibration_is_stratified_and_deterministic() -> None:
    labels = np.array([1 if i % 10 == 0 else 0 for i in range(400)])  # 10 % positives
    groups = np.array([f"sweep{(i // 10) % 4}" for i in range(400)])
    idx = select_calibration(labels, groups, n=40, seed=0)
    assert len(idx) == 40 and len(set(idx.tolist())) == 40 and np.all(np.diff(idx) > 0)
    assert np.array_equal(idx, select_calibration(labels, groups, n=40, seed=0))
    assert not np.array_equal(idx, select_calibration(labels, groups, n=40, seed=1))
    assert int(labels[idx].sum()) == 20  # equal class shares, despite 10 % positives
    for cls in (0, 1):
        per_group = [int(np.sum((labels[idx] == cls) & (groups[idx] == g))) for g in np.unique(groups)]
        assert per_group == [5, 5, 5, 5]
    prop = select_calibration(labels, groups, n=40, seed=0, balance="proportional")
    assert int(labels[prop].sum()) == 4
    assert np.array_equal(select_calibration(labels, None, n=1000), np.arange(400))
    few = select_calibration([0] * 50 + [1] * 3, n=20)
    assert int(np.sum(np.array([0] * 50 + [1] * 3)[few])) == 3  # a rare class gives all it has


# --- the gate -----------------------------------------------------------------------------------------------
def test_evaluate_gate_passes_identical_and_fails_negated_scores() -> None:
    rng = np.random.default_rng(0)
    scores = rng.standard_normal(200)
    labels = (scores + 0.5 * rng.standard_normal(200) > 0).astype(int)
    ok = evaluate_gate(scores, scores + 1e-6, labels, threshold=0.0, metric_fn=f1)
    assert ok.passed and ok.reasons == () and ok.agreement == 1.0 and ok.drop == pytest.approx(0.0)
    bad = evaluate_gate(scores, -scores, labels, threshold=0.0, metric_fn=f1)
    assert not bad.passed and bad.drop > 0.5 and bad.agreement < 0.1
    assert any("metric drop" in r for r in bad.reasons) and any("agreement" in r for r in bad.reasons)
    nan = evaluate_gate(scores, np.where(scores > 1, np.nan, scores), labels, threshold=0.0, metric_fn=f1)
    assert not nan.passed and any("not finite" in r for r in nan.reasons)
    with pytest.raises(QuantizeError):
        evaluate_gate(scores, scores[:10], labels, threshold=0.0, metric_fn=f1)


def test_census_of_fp32_onnx_has_no_integer_ops(tiny_float: SimpleNamespace) -> None:
    ops = onnx_census(tiny_float.onnx)
    assert ops and all(op.is_float for op in ops)


@pytest.mark.parametrize("backend", BACKENDS)
def test_gate_fails_broken_artifact_and_records_every_attempt(
    backend: str, tiny_float: SimpleNamespace, tmp_path: Path
) -> None:
    _skip_if_missing(backend)
    val = ValidationSet(tiny_float.val, tiny_float.labels, tiny_float.threshold, accuracy)
    recipe = get_backend(backend).RECIPE(**RECIPE_SETTINGS.get((backend, "float"), {}))

    def negated(path: Path, inputs: np.ndarray) -> np.ndarray:  # a deliberately broken runtime
        return -run_artifact(path, inputs)

    res = quantize_gated(
        recipe,
        fp32_onnx=tiny_float.onnx,
        torch_model=tiny_float.module,
        example_input=tiny_float.example,
        calibration=tiny_float.calib,
        validation=val,
        out_dir=tmp_path,
        predict=negated,
        offending_types=("Gemm",),
    )
    plan = 1 + len(get_backend(backend).fallbacks(recipe, offending_types=("Gemm",)))
    assert not res.passed and res.artifact is None
    assert len(res.attempts) == plan and len(res.reasons) == plan
    assert all(a.gate is not None and not a.gate.passed for a in res.attempts), [
        a.error for a in res.attempts
    ]
    assert all("agreement" in r for r in res.reasons)
    report = json.loads(res.report_path.read_text())
    assert report["passed"] is False and len(report["attempts"]) == plan
    assert report["attempts"][0]["change"] == "as given" and report["attempts"][0]["gate"]["reasons"]
    assert res.best_attempt is not None


def test_gate_fails_zeroed_weights_and_passes_the_real_model(
    tiny_float: SimpleNamespace, tmp_path: Path
) -> None:
    _skip_if_missing("onnxruntime")
    import onnx
    from onnx import numpy_helper

    from quantize.backends.ort import ORTRecipe

    model = onnx.load(str(tiny_float.onnx))
    for init in model.graph.initializer:
        arr = numpy_helper.to_array(init)
        if arr.ndim > 1:
            init.CopyFrom(numpy_helper.from_array(np.zeros_like(arr), init.name))
    zeroed = tmp_path / "zeroed.onnx"
    onnx.save(model, str(zeroed))
    val = ValidationSet(tiny_float.val, tiny_float.labels, tiny_float.threshold, accuracy)
    broken = quantize_gated(
        ORTRecipe(),
        fp32_onnx=zeroed,
        fp32_scores=tiny_float.ref,
        calibration=tiny_float.calib,
        validation=val,
        out_dir=tmp_path / "zeroed",
    )
    assert not broken.passed and broken.artifact is None and broken.reasons
    assert all(a.error or not a.gate.passed for a in broken.attempts)

    good = quantize_gated(
        ORTRecipe(per_channel=True),
        fp32_onnx=tiny_float.onnx,
        calibration=tiny_float.calib,
        validation=val,
        out_dir=tmp_path / "good",
        max_drop=0.1,
        min_agreement=0.9,
    )
    assert good.passed, good.reasons
    assert good.artifact is not None and good.artifact.path.is_file() and good.reasons == ()
    assert good.attempts[-1].gate.metric_fp32 == 1.0  # labels are the fp32 decisions


# --- packaging rules ----------------------------------------------------------------------------------------
def test_missing_extra_names_the_pip_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    ort_backend = get_backend("onnxruntime")
    monkeypatch.setattr(ort_backend, "REQUIRES", ("no_such_module_for_quantize_tests",))
    err = missing_extra("onnxruntime")
    assert isinstance(err, MissingExtraError) and "pip install" in err.pip_command
    assert isinstance(err, QuantizeError) and "pip install" in str(err)
    with pytest.raises(MissingExtraError, match="no_such_module_for_quantize_tests"):
        quantize(
            ort_backend.RECIPE(),
            fp32_onnx=tmp_path / "x.onnx",
            calibration=np.zeros((1, 3)),
            out_dir=tmp_path,
        )


def test_quantize_is_domain_free_and_light_to_import() -> None:
    for path in (ROOT / "quantize").rglob("*.py"):
        text = path.read_text()
        assert "import fetaledge" not in text and "from fetaledge" not in text, path
    code = (
        "import sys, quantize; heavy = {'torch', 'nncf', 'onnx', 'litert_torch', 'fetaledge'}; "
        "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
