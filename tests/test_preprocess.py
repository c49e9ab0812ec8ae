"""One preprocessing path: numpy (cache), torch (training) and the exported ONNX graph agree."""

from __future__ import annotations

import numpy as np
import pytest

from fetaledge.preprocess import (
    CLIP_MEAN,
    CLIP_STD,
    FrameGeometry,
    band_matrix,
    pad_resize_matrix,
    resize_frames,
)

torch = pytest.importorskip("torch")
from fetaledge.models.preprocess import GrayToInput, LinearResample, RawFrameModel  # noqa: E402


def test_pad_to_square_is_folded_into_the_row_map() -> None:
    r = pad_resize_matrix(562, 224, 744)
    # 91 zero rows top and bottom of 744 -> about 27 output rows see only padding.
    assert np.allclose(r[:26].sum(1), 0) and np.allclose(r[-26:].sum(1), 0)
    assert np.allclose(r[40:180].sum(1), 1)
    frame = np.full((1, 562, 744), 200, np.uint8)
    out = resize_frames(frame, FrameGeometry(562, 744, (224,)))
    assert out[0, 112, 112] == 200 and out[0, 0, 112] == 0


def test_resize_preserves_a_constant_and_has_no_overshoot() -> None:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (2, 300, 300)).astype(np.uint8)
    y = resize_frames(x, FrameGeometry(300, 300, (100,)), np.float32)
    assert y.min() >= 0 and y.max() <= 255
    c = resize_frames(np.full((1, 300, 300), 77, np.uint8), FrameGeometry(300, 300, (100,)), np.float32)
    assert np.allclose(c, 77, atol=1e-3)


def test_torch_taps_match_numpy_and_chained_stages_compose() -> None:
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, (2, 562, 744)).astype(np.uint8)
    for stages in [(224,), (224, 160)]:
        g = FrameGeometry(562, 744, stages)
        a = LinearResample.from_geometry(g)(torch.from_numpy(x).float()).numpy()
        b = resize_frames(x, g, np.float32)
        assert a.shape == (2, stages[-1], stages[-1])
        assert np.abs(a - b).max() < 1e-2
    # Cache (raw -> 224, uint8) then 224 -> 160 equals raw -> 160 in one map, up to uint8 rounding.
    cached = resize_frames(x, FrameGeometry(562, 744, (224,)))
    two = LinearResample.from_geometry(FrameGeometry(224, 224, (160,)))(torch.from_numpy(cached).float()).numpy()
    one = resize_frames(x, FrameGeometry(562, 744, (224, 160)), np.float32)
    assert np.abs(two - one).max() < 1.0


@pytest.mark.parametrize("in_len,out_len,padded", [(744, 128, None), (562, 128, 744), (562, 96, 744),
                                                    (800, 128, None), (540, 96, 800), (224, 160, None)])
def test_banded_map_is_the_dense_map_at_a_fraction_of_the_macs(in_len, out_len, padded) -> None:
    m = pad_resize_matrix(in_len, out_len, padded)
    bm = band_matrix(m)
    assert bm is not None and np.array_equal(bm.dense(), m)
    assert bm.out_len * bm.window * 2 <= m.size
    # the gather indices stay inside the input and each block's window holds all of its rows' taps
    assert bm.indices().min() >= 0 and bm.indices().max() < in_len


def test_banding_is_refused_where_it_saves_little() -> None:
    assert band_matrix(pad_resize_matrix(100, 224)) is not None  # upsampling: 2 taps per output
    assert band_matrix(np.ones((8, 16), np.float32)) is None  # every weight non-zero: dense is as cheap
    with pytest.raises(ValueError, match="does not divide"):
        band_matrix(pad_resize_matrix(744, 128), block=3)


@pytest.mark.parametrize("h,w,stages", [(562, 744, (224, 128)), (562, 744, (96,)), (224, 224, (224, 160)),
                                        (540, 800, (96,)), (30, 20, (64,))])
def test_banded_resample_equals_the_dense_products(h, w, stages) -> None:
    g = FrameGeometry(h, w, stages)
    x = torch.from_numpy(np.random.default_rng(3).integers(0, 256, (2, h, w)).astype(np.float32))
    banded = LinearResample.from_geometry(g)(x)
    dense = LinearResample.from_geometry(g, dense=True)(x)
    r, c = g.matrices()
    assert banded.shape == (2, stages[-1], stages[-1])
    assert torch.allclose(banded, dense, atol=1e-3)
    assert np.allclose(banded.numpy(), r @ x.numpy() @ c.T, atol=1e-3)


def test_banded_resample_cuts_the_graph_macs(tmp_path) -> None:
    pytest.importorskip("onnx")
    from fetaledge.bench.graph_macs import graph_macs

    class Cast(torch.nn.Module):
        def __init__(self, dense: bool) -> None:
            super().__init__()
            self.r = LinearResample.from_geometry(FrameGeometry(562, 744, (224, 128)), dense=dense)

        def forward(self, x):
            return self.r(x.to(torch.float32))

    frame = torch.zeros(1, 562, 744, dtype=torch.uint8)
    macs = {}
    for dense in (True, False):
        path = tmp_path / f"r{int(dense)}.onnx"
        torch.onnx.export(Cast(dense), (frame,), str(path), opset_version=17, dynamo=False)
        macs[dense] = graph_macs(path)
        assert not macs[dense]["unresolved"]
    assert macs[True]["total"] == 128 * 562 * 744 + 128 * 128 * 744  # rows then columns, dense
    assert macs[False]["total"] * 10 < macs[True]["total"]


def test_gray_to_input_is_clip_normalisation() -> None:
    x = torch.full((1, 4, 4), 128.0)
    y = GrayToInput("clip")(x)
    expect = [(128 / 255 - m) / s for m, s in zip(CLIP_MEAN, CLIP_STD, strict=True)]
    assert y.shape == (1, 3, 4, 4)
    assert torch.allclose(y[0, :, 0, 0], torch.tensor(expect), atol=1e-6)


def test_raw_frame_model_exports_to_onnx_and_matches(tmp_path) -> None:
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")

    class Head(torch.nn.Module):
        def forward(self, x):
            return x.mean(dim=(1, 2, 3))

    model = RawFrameModel(FrameGeometry(562, 744, (224,)), Head(), "clip").eval()
    frame = torch.from_numpy(np.random.default_rng(2).integers(0, 256, (1, 562, 744)).astype(np.uint8))
    path = tmp_path / "m.onnx"
    torch.onnx.export(model, (frame,), str(path), opset_version=17, input_names=["frame"],
                      output_names=["logit"], dynamo=False)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert sess.get_inputs()[0].type == "tensor(uint8)"
    got = sess.run(None, {"frame": frame.numpy()})[0]
    want = model(frame).detach().numpy()
    assert np.abs(got - want).max() < 1e-4
