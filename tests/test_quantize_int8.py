"""INT8 that keeps fp32 decisions: the graph check, per-layer diagnosis, keep_float scopes, the sized gate and QAT.

Uses the tiny models of ``test_quantize`` (float (1,3,32,32) input; raw uint8 frame with normalisation inside).
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from test_quantize import _build, _skip_if_missing, f1

from quantize import QuantizeError, evaluate_gate, quantize, run_artifact
from quantize.gate import scores_of
from quantize.stats import sigmoid, wilson_interval


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    return _build("float", tmp_path_factory.mktemp("int8_tiny"))


@pytest.fixture(scope="module")
def tiny_raw(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    return _build("uint8", tmp_path_factory.mktemp("int8_tiny_raw"))


@pytest.fixture(scope="module")
def ort_artifact(tiny: SimpleNamespace, tmp_path_factory: pytest.TempPathFactory):
    _skip_if_missing("onnxruntime")
    from quantize.backends.ort import ORTRecipe

    return quantize(ORTRecipe(), fp32_onnx=tiny.onnx, calibration=tiny.calib,
                    out_dir=tmp_path_factory.mktemp("int8_ort"))


# --- graph check ------------------------------------------------------------------------------------------------
def _vectorise_first_activation_scale(src: Path, dst: Path) -> str:
    """Give the first activation QuantizeLinear a per-channel scale (what NNCF's CPU config writes)."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(src))
    inits = {i.name: i for i in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "QuantizeLinear" and node.input[0] not in inits:
            scale = float(numpy_helper.to_array(inits[node.input[1]]).ravel()[0])
            zp = numpy_helper.to_array(inits[node.input[2]]).ravel()[0]
            vec_s = numpy_helper.from_array(np.full(3, scale, np.float32), f"{node.name}_vec_scale")
            vec_z = numpy_helper.from_array(np.full(3, zp, zp.dtype), f"{node.name}_vec_zp")
            model.graph.initializer.extend([vec_s, vec_z])
            node.input[1], node.input[2] = vec_s.name, vec_z.name
            node.attribute.append(onnx.helper.make_attribute("axis", 1))
            onnx.save(model, str(dst))
            return node.name
    raise AssertionError("no activation QuantizeLinear found")


def test_graph_check_refuses_vector_activation_scales(ort_artifact, tmp_path: Path) -> None:
    from quantize.graphcheck import check_artifact, vector_activation_scales

    assert check_artifact(ort_artifact.path, ort_artifact.ops) == []
    bad = tmp_path / "vector.onnx"
    name = _vectorise_first_activation_scale(ort_artifact.path, bad)
    import onnx

    assert vector_activation_scales(onnx.load(str(bad))) == [name]
    problems = check_artifact(bad, ort_artifact.ops)
    assert len(problems) == 1 and "per-channel (vector) scales" in problems[0] and name in problems[0]


def test_float_op_budget_refuses_and_leaves_no_artifact(tiny: SimpleNamespace, tmp_path: Path) -> None:
    _skip_if_missing("onnxruntime")
    import onnx

    from quantize.backends.ort import ORTRecipe

    conv = next(n.name for n in onnx.load(str(tiny.onnx)).graph.node if n.op_type == "Conv")
    budget = r"float compute ops outside keep_float \(budget max_float_ops=0\): Conv x1"
    with pytest.raises(QuantizeError, match=budget):
        quantize(ORTRecipe(nodes_to_exclude=(conv,), max_float_ops=0), fp32_onnx=tiny.onnx, calibration=tiny.calib,
                 out_dir=tmp_path)
    assert not list(tmp_path.glob("*.onnx")), "a refused graph must not be left where an artifact would be"
    # the same conv named as a keep_float scope is within budget
    from quantize.scopes import node_module

    scope = node_module(conv)
    art = quantize(ORTRecipe(keep_float=(scope,), max_float_ops=0), fp32_onnx=tiny.onnx, calibration=tiny.calib,
                   out_dir=tmp_path)
    assert [op.name for op in art.float_ops if op.op_type == "Conv"] == [conv]


def test_nncf_mixed_activation_types_are_refused_and_unified_convs_fuse(tiny: SimpleNamespace, tmp_path: Path) -> None:
    """NNCF writes int8 after the signed input and uint8 after each ReLU: ORT leaves such convs in float. The graph
    check refuses that; the default recipe moves every activation to uint8 and every conv fuses."""
    _skip_if_missing("nncf")
    import onnx

    from quantize.backends.nncf_onnx import NNCFRecipe
    from quantize.census import executed_onnx_ops
    from quantize.graphcheck import mixed_activation_types

    with pytest.raises(QuantizeError, match="int8 and uint8 activations on their two sides"):
        quantize(NNCFRecipe(activation_dtype=None), fp32_onnx=tiny.onnx, calibration=tiny.calib,
                 out_dir=tmp_path / "mixed")
    assert not list((tmp_path / "mixed").glob("*.onnx"))
    for dtype in ("uint8", "int8"):
        art = quantize(NNCFRecipe(activation_dtype=dtype), fp32_onnx=tiny.onnx, calibration=tiny.calib,
                       out_dir=tmp_path / dtype)
        assert mixed_activation_types(onnx.load(str(art.path))) == []
        ops = executed_onnx_ops(art.path, level="extended")
        assert ops.get("QLinearConv") == 3 and "Conv" not in ops, ops


def test_unify_activation_dtype_changes_no_value(ort_artifact, tiny: SimpleNamespace, tmp_path: Path) -> None:
    """An activation moved int8 -> uint8 (zero point + 128) holds the same values: ORT gives the same outputs."""
    import onnx
    import onnxruntime as ort
    from onnx import numpy_helper

    from quantize.graphcheck import check_artifact, mixed_activation_types
    from quantize.qdq import unify_activation_dtype

    model = onnx.load(str(ort_artifact.path))
    inits = {i.name: i for i in model.graph.initializer}
    conv = next(n for n in model.graph.node if n.op_type == "Conv")
    consumers = [n for n in model.graph.node if conv.output[0] in n.input]
    q = consumers[0] if consumers[0].op_type == "QuantizeLinear" else next(
        n for n in model.graph.node if n.op_type == "QuantizeLinear" and consumers[0].output[0] in n.input)
    zp = numpy_helper.to_array(inits[q.input[2]])
    kind = zp.dtype.name  # the recipe's own activation type; the one conv output is moved to the other
    shift, to = (128, np.uint8) if kind == "int8" else (-128, np.int8)
    other = (zp.astype(np.int16) + shift).astype(to)
    inits[q.input[2]].CopyFrom(numpy_helper.from_array(other, q.input[2]))
    mixed = tmp_path / "mixed.onnx"
    onnx.save(model, str(mixed))
    assert conv.name in mixed_activation_types(onnx.load(str(mixed)))
    assert any("int8 and uint8" in p for p in check_artifact(mixed, ort_artifact.ops))

    model = onnx.load(str(mixed))
    assert unify_activation_dtype(model, kind) == 1
    fixed = tmp_path / "fixed.onnx"
    onnx.save(model, str(fixed))
    assert check_artifact(fixed, ort_artifact.ops) == []
    name = ort_artifact.inputs[0].name
    ref, mix, out = (np.concatenate([ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]).run(
        None, {name: tiny.val[i:i + 1]})[0] for i in range(8)]) for p in (ort_artifact.path, mixed, fixed))
    np.testing.assert_array_equal(out, ref)
    # run in float, the mixed graph gives the same values up to float rounding (the grid did not move)
    np.testing.assert_allclose(mix, ref, atol=0.05)


# --- keep_float scopes ------------------------------------------------------------------------------------------
def test_scope_names_follow_the_exporter() -> None:
    from quantize.scopes import node_module

    assert node_module("/net/blocks/blocks.0/blocks.0.1/conv_dw/Conv") == "net.blocks.0.1.conv_dw"
    assert node_module("/features/features.0/features.0.0/Conv") == "features.0.0"
    assert node_module("/Cast") == ""


@pytest.mark.parametrize("backend", ["onnxruntime", "nncf", "litert"])
@pytest.mark.parametrize("scopes", [("features.0",), ("features.0.0", "features.1.0")])
def test_keep_float_keeps_the_same_layer_in_every_backend(backend: str, scopes: tuple[str, ...],
                                                         tiny: SimpleNamespace, tmp_path: Path) -> None:
    """Two kept convs in a row (the convs alone, their BN + ReLU outside the scope, as `@first:N` names them):
    litert-torch turns a float conv between a dequantize and a quantize into
    an int8 conv of its own, so only the first of them stayed float until the tensors between kept layers were left
    unquantized too."""
    _skip_if_missing(backend)
    from quantize.backends import get_backend

    # with the first conv in float the .tflite input stays float32 (nothing quantizes it)
    io = {"input_dtype": "float32", "output_dtype": "float32"} if backend == "litert" else {}
    recipe = get_backend(backend).RECIPE(keep_float=scopes, **io)
    art = quantize(recipe, fp32_onnx=tiny.onnx, torch_model=tiny.module, example_input=tiny.example,
                   calibration=tiny.calib, out_dir=tmp_path)
    conv_type = "Conv" if art.runtime == "onnxruntime" else "CONV_2D"
    convs = [op for op in art.ops if op.op_type == conv_type]
    assert len(convs) == 3
    expected = [i < len(scopes) for i in range(3)]
    assert [op.is_float for op in convs] == expected, [(op.name, op.is_float) for op in convs]


def test_unknown_scope_lists_the_known_ones(tiny: SimpleNamespace, tmp_path: Path) -> None:
    _skip_if_missing("onnxruntime")
    from quantize.backends.ort import ORTRecipe

    with pytest.raises(QuantizeError, match=r"matches no node.*features\.0"):
        quantize(ORTRecipe(keep_float=("featurez",)), fp32_onnx=tiny.onnx, calibration=tiny.calib, out_dir=tmp_path)


# --- diagnosis --------------------------------------------------------------------------------------------------
def test_diagnose_names_a_deliberately_broken_layer(ort_artifact, tiny: SimpleNamespace, tmp_path: Path) -> None:
    import onnx
    from onnx import numpy_helper

    from quantize.diagnose import diagnose

    healthy = diagnose(ort_artifact.path, tiny.onnx, tiny.val[:8])
    acts = [r for r in healthy.rows if r.kind == "activation"]
    assert acts and all(r.local_sqnr_db > 25 for r in acts), [(r.tensor, r.local_sqnr_db) for r in acts]

    # break one activation quantizer in the middle of the net: a 40x coarser scale on its Q and DQ
    model = onnx.load(str(ort_artifact.path))
    inits = {i.name: i for i in model.graph.initializer}
    qs = [n for n in model.graph.node if n.op_type == "QuantizeLinear" and n.input[0] not in inits]
    victim = qs[len(qs) // 2]
    new = numpy_helper.from_array(numpy_helper.to_array(inits[victim.input[1]]) * 40.0, "broken_scale")
    model.graph.initializer.append(new)
    dq = next(n for n in model.graph.node if n.op_type == "DequantizeLinear" and n.input[0] == victim.output[0])
    victim.input[1] = dq.input[1] = new.name
    broken = tmp_path / "broken.onnx"
    onnx.save(model, str(broken))

    rep = diagnose(broken, tiny.onnx, tiny.val[:8])
    assert rep.worst.tensor == victim.input[0], rep.to_markdown(top=5)
    assert rep.worst.local_sqnr_db < min(r.local_sqnr_db for r in acts) - 10  # 40x coarser: ~32 dB lower
    assert rep.output_sqnr_db < healthy.output_sqnr_db
    json_path, md_path = rep.save(tmp_path, "diag")
    assert victim.input[0] in md_path.read_text().splitlines()[6]  # first table row
    assert json_path.is_file()


def test_diagnose_tflite_pairs_every_conv_by_op_position(tiny: SimpleNamespace, tmp_path: Path) -> None:
    """litert-torch renames most tensors between the fp32 and the INT8 .tflite: the diagnosis pairs them by the
    position of their producing op, so every quantized conv output gets a row, worst first."""
    _skip_if_missing("litert")
    import litert_torch
    import torch

    from quantize.backends.litert import LiteRTRecipe
    from quantize.diagnose import diagnose

    fp32 = tmp_path / "fp32.tflite"
    with torch.no_grad():
        litert_torch.convert(tiny.module.eval(), (tiny.example,)).export(str(fp32))
    art = quantize(LiteRTRecipe(input_dtype="float32", output_dtype="float32"), torch_model=tiny.module,
                   example_input=tiny.example, calibration=tiny.calib, out_dir=tmp_path / "q")
    rep = diagnose(art.path, fp32, tiny.val[:4])
    convs = [r for r in rep.rows if r.tensor.startswith("CONV_2D #")]
    assert sorted(r.tensor.split(":")[0] for r in convs) == ["CONV_2D #1", "CONV_2D #2", "CONV_2D #3"], rep.rows
    assert all(15 < r.drift_sqnr_db < 80 for r in convs), [(r.tensor, r.drift_sqnr_db) for r in convs]
    assert [r.drift_sqnr_db for r in rep.rows] == sorted(r.drift_sqnr_db for r in rep.rows)
    assert "by op position" in rep.notes[0]


def test_diagnose_refuses_mixed_kinds(ort_artifact, tiny: SimpleNamespace) -> None:
    from quantize.diagnose import diagnose

    with pytest.raises(QuantizeError, match="models of one kind"):
        diagnose(ort_artifact.path, Path("model.tflite"), tiny.val[:2])


# --- the sized gate ---------------------------------------------------------------------------------------------
def test_wilson_interval_and_stable_sigmoid() -> None:
    lo, hi = wilson_interval(48, 48)
    assert 0.92 < lo < 0.93 and hi == 1.0
    lo, hi = wilson_interval(990, 1000)
    assert lo < 0.99 < hi
    assert wilson_interval(0, 0) == (0.0, 1.0)
    with np.errstate(over="raise"):
        assert sigmoid(np.array([-800.0]))[0] == 0.0 and sigmoid(np.array([800.0]))[0] == 1.0


def test_gate_counts_agreement_frames_and_refuses_a_small_gate() -> None:
    rng = np.random.default_rng(0)
    val = rng.normal(0, 3, 40)
    labels = (val > 0).astype(int)
    extra = rng.normal(0, 3, 500)
    flipped = extra.copy()
    near = np.argsort(np.abs(extra))[:10]  # the ten frames closest to the threshold flip
    flipped[near] = -flipped[near]
    g = evaluate_gate(val, val, labels, threshold=0.0, metric_fn=f1, agreement_fp32=extra, agreement_int8=flipped,
                      logits=True, min_frames=200)
    assert g.n == 540 and g.n_val == 40 and g.n_flips == 10
    assert g.agreement == pytest.approx(530 / 540) and g.agreement_ci[0] < g.agreement < g.agreement_ci[1]
    assert not g.passed and any("agreement" in r for r in g.reasons)  # 0.981 < 0.99: the val frames alone said 1.0
    assert g.n_borderline >= 10 and g.agreement_borderline < 1.0
    assert g.diff_space == "probability" and g.max_abs_diff < 0.1
    small = evaluate_gate(val, val, labels, threshold=0.0, metric_fn=f1, min_frames=200)
    assert small.agreement == 1.0 and not small.passed
    assert any("only 40 gate frames" in r for r in small.reasons)


def test_quantize_gated_scores_the_agreement_frames_with_the_named_kernels(tiny: SimpleNamespace,
                                                                            tmp_path: Path) -> None:
    _skip_if_missing("onnxruntime")
    from quantize import ValidationSet, quantize_gated
    from quantize.backends.ort import ORTRecipe

    val = ValidationSet(tiny.val[:16], tiny.labels[:16], tiny.threshold, f1, agreement_inputs=tiny.val[16:],
                        logits=True)
    res = quantize_gated(ORTRecipe(), calibration=tiny.calib, validation=val, fp32_onnx=tiny.onnx, out_dir=tmp_path,
                         kernels="exact", min_frames=10, max_fallbacks=0, max_drop=1.0, min_agreement=0.0)
    g = res.attempts[0].gate
    assert g.n == len(tiny.val) and g.n_val == 16 and g.kernels == "exact"
    with pytest.raises(QuantizeError, match="unknown kernels"):
        quantize_gated(ORTRecipe(), calibration=tiny.calib, validation=val, fp32_onnx=tiny.onnx, out_dir=tmp_path,
                       kernels="fast")


# --- QAT --------------------------------------------------------------------------------------------------------
def test_qat_makes_artifacts_that_load_in_onnxruntime_and_litert(tiny_raw: SimpleNamespace, tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    from quantize.qat import QATSettings, qat_finetune

    train = np.concatenate([tiny_raw.calib, tiny_raw.val[:16]])
    tuned, report = qat_finetune(tiny_raw.module, calibration=tiny_raw.calib, train_inputs=train,
                                 keep_float=("net.features.0",), settings=QATSettings(epochs=3, lr=1e-4),
                                 log=lambda _: None)
    assert report["layers"] == 3  # two convs + the head; the kept conv is not fake-quantized
    assert report["fake_quant_mean_abs_err_after"] < report["fake_quant_mean_abs_err_before"]
    assert not any("parametrizations" in n for n, _ in tuned.named_modules())  # a plain fp32 model again
    assert tiny_raw.module.net.head.weight.grad is None  # the original is untouched

    onnx_path = tmp_path / "qat.onnx"
    torch.onnx.export(tuned, (tiny_raw.example,), str(onnx_path), opset_version=17, dynamo=False,
                      input_names=["input"], output_names=["logit"])
    for backend in ("onnxruntime", "litert"):
        _skip_if_missing(backend)
        from quantize.backends import get_backend

        recipe = get_backend(backend).RECIPE(**({"input_dtype": "uint8", "output_dtype": "float32"}
                                                if backend == "litert" else {}))
        art = quantize(recipe, fp32_onnx=onnx_path, torch_model=tuned, example_input=tiny_raw.example,
                       calibration=tiny_raw.calib, out_dir=tmp_path / backend)
        scores = scores_of(run_artifact(art.path, tiny_raw.val))
        assert art.n_integer_ops > 0 and np.isfinite(scores).all()
        assert np.corrcoef(scores, tiny_raw.ref)[0, 1] > 0.9


# --- the domain's gate frames -----------------------------------------------------------------------------------
def test_augmented_gate_frames_are_deterministic_and_varied() -> None:
    from fetaledge.gate_frames import augment_raw, borderline_first

    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (3, 40, 60), dtype=np.uint8)
    a, b = augment_raw(frames, 4, seed=1), augment_raw(frames, 4, seed=1)
    assert a.shape == (12, 40, 60) and a.dtype == np.uint8 and np.array_equal(a, b)
    assert not any(np.array_equal(a[i], frames[i % 3]) for i in range(12)), "every copy differs from its source"
    assert augment_raw(frames, 0).shape == (0, 40, 60)

    p = np.r_[np.full(900, 0.01), np.linspace(0.45, 0.55, 50), np.full(50, 0.99)]
    keep, n_border = borderline_first(p, 0.5, 100, np.random.default_rng(0))
    assert n_border == 50 and len(keep) == 100 and np.all(np.diff(keep) > 0)
    assert set(range(900, 950)) <= set(keep.tolist()), "every borderline frame is kept"


def _conv_clip_q(tmp_path: Path, scale: float, zp: int, act: str) -> Path:
    """x (1,2,6,6) float -> Q/DQ -> Conv (int8 weights, DQ) -> Clip(0, 6) or Relu -> Q(scale, zp) -> DQ -> y."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(np.array(0.05, np.float32), "xs"),
             numpy_helper.from_array(np.array(0, np.int8), "xz"),
             numpy_helper.from_array(rng.integers(-100, 100, (4, 2, 3, 3)).astype(np.int8), "wq"),
             numpy_helper.from_array(np.full(4, 0.02, np.float32), "ws"),
             numpy_helper.from_array(np.zeros(4, np.int8), "wz"),
             numpy_helper.from_array(np.array(0.0, np.float32), "lo"),
             numpy_helper.from_array(np.array(6.0, np.float32), "hi"),
             numpy_helper.from_array(np.array(scale, np.float32), "ys"),
             numpy_helper.from_array(np.array(zp, np.int8), "yz")]
    nodes = [helper.make_node("QuantizeLinear", ["x", "xs", "xz"], ["xq"]),
             helper.make_node("DequantizeLinear", ["xq", "xs", "xz"], ["xd"]),
             helper.make_node("DequantizeLinear", ["wq", "ws", "wz"], ["w"], axis=0),
             helper.make_node("Conv", ["xd", "w"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Clip", ["c", "lo", "hi"], ["a"]) if act == "clip" else
             helper.make_node("Relu", ["c"], ["a"]),
             helper.make_node("QuantizeLinear", ["a", "ys", "yz"], ["aq"]),
             helper.make_node("DequantizeLinear", ["aq", "ys", "yz"], ["y"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 6, 6])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 6, 6])], inits)
    path = tmp_path / f"{act}_{scale}_{zp}.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


@pytest.mark.parametrize("scale,zp,act,dropped", [(6 / 255, -128, "clip", 1), (0.05, -128, "clip", 0),
                                                  (6 / 255, -100, "clip", 0), (0.1, -128, "relu", 1),
                                                  (0.1, -100, "relu", 0)])
def test_saturated_clips_are_dropped_without_changing_a_value(tmp_path: Path, scale: float, zp: int, act: str,
                                                             dropped: int) -> None:
    """A ReLU6 whose QuantizeLinear saturates at 0 and 6 anyway goes (on arm64 ORT kept it and the conv ran in
    float); one whose quantized range reaches past a bound stays."""
    _skip_if_missing("onnxruntime")
    import onnx
    import onnxruntime as ort

    from quantize.qdq import remove_saturated_clips

    src = _conv_clip_q(tmp_path, scale, zp, act)
    model = onnx.load(str(src))
    assert remove_saturated_clips(model) == dropped
    assert sum(n.op_type in ("Clip", "Relu") for n in model.graph.node) == 1 - dropped
    assert {i.name for i in model.graph.initializer} >= {"ys", "yz"}
    if act == "clip":
        assert ("hi" in {i.name for i in model.graph.initializer}) == (dropped == 0)
    out = tmp_path / "out.onnx"
    onnx.save(model, str(out))
    x = {"x": np.random.default_rng(1).normal(0, 3, (1, 2, 6, 6)).astype(np.float32)}  # well past [0, 6]
    ref, got = (ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]).run(None, x)[0] for p in (src, out))
    np.testing.assert_array_equal(got, ref)
    top = min(6.0, (127 - zp) * scale) if act == "clip" else (127 - zp) * scale
    assert (ref == 0).any() and np.isclose(ref.max(), top, atol=scale)  # both bounds were reached
