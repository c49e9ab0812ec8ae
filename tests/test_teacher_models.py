"""Teacher models without data: FetalCLIP config and loader, LoRA really training attention, merge == unmerged,
the six baselines (shrunk) training a step, and the clear errors for bad weights and backbones."""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest
import torch

from fetaledge.errors import FetaledgeError
from fetaledge.models import fetalclip as fc
from fetaledge.models.checkpoint import load_model, save_model
from fetaledge.models.lora import (
    LoraSettings,
    apply_lora,
    check_mha_factor,
    count_parameters,
    describe_lora,
    lora_parameter_names,
    mha_out_proj_factor,
)
from fetaledge.train.data import Frames, InputPipeline
from fetaledge.train.dist import DistContext
from fetaledge.train.loop import TrainSettings, train

warnings.filterwarnings("ignore", message=".*Enum subclass.*")
CPU = DistContext(0, 1, torch.device("cpu"))


def _frames(n: int, size: int, seed: int = 0, split: str = "train") -> Frames:
    g = torch.Generator().manual_seed(seed)
    labels = (torch.arange(n) % 3 == 0).long()
    images = torch.randint(0, 200, (n, size, size), generator=g, dtype=torch.uint8)
    images[labels == 1, size // 4 : size // 2, size // 4 : size // 2] = 255  # a learnable bright square
    return Frames(split, images, labels.float(), labels, np.zeros(n, np.int64))


def _tiny_lora(targets=fc.DEFAULT_TARGETS, seed: int = 0):
    return fc.build_lora_classifier(fc.TINY_NAME, None, LoraSettings(targets), seed=seed)


# ------------------------------------------------------------------------------------------ FetalCLIP config
def test_fetalclip_config_is_registered_with_open_clip_verbatim():
    import open_clip

    assert open_clip.get_model_config("FetalCLIP") == {
        "embed_dim": 768,
        "vision_cfg": {"image_size": 224, "layers": 24, "width": 1024, "patch_size": 14},
        "text_cfg": {"context_length": 117, "vocab_size": 49408, "width": 768, "heads": 12, "layers": 12},
    }
    assert fc.TINY_NAME in open_clip.list_models() and "UNTRAINED" in fc.TINY_NAME


def test_fetalclip_parameter_counts_at_full_size():
    # research/paper_code_dataset.md section 2: visual tower 303,966,208 parameters.
    with torch.device("meta"):
        model = fc.FetalCLIPClassifier(fc.arch_config("FetalCLIP"))
        assert count_parameters(model.encoder)[0] == 303_966_208
        paper = apply_lora(copy.deepcopy(model), LoraSettings(("c_fc", "c_proj", "out_proj")), trainable=("head",))
        ours = apply_lora(model, LoraSettings(fc.DEFAULT_TARGETS), trainable=("head",))
    assert count_parameters(paper)[0] == 2_359_296 + 769  # the paper's "2.4 M" (out_proj part is dead)
    assert count_parameters(ours)[0] == 3_145_728 + 769  # + in_proj: the attention really trains


def test_tiny_classifier_shapes():
    model = fc.build_classifier(fc.TINY_NAME, seed=0).eval()
    assert model(torch.zeros(3, 3, 112, 112)).shape == (3,)


# ------------------------------------------------------------------------------------------ weights loading
def _tiny_checkpoint(tmp_path, **edit):
    model = fc.build_classifier(fc.TINY_NAME, seed=1)
    state = {f"visual.{k}": v for k, v in model.encoder.state_dict().items()}
    state["positional_embedding"] = torch.zeros(4, 4)  # a text-tower key: ignored
    for k, v in edit.items():
        if v is None:
            state.pop(k)
        else:
            state[k] = v
    path = tmp_path / "w.pt"
    torch.save({"state_dict": state}, path)
    return path, model


def test_weights_load_from_an_open_clip_checkpoint(tmp_path):
    path, ref = _tiny_checkpoint(tmp_path)
    model = fc.build_classifier(fc.TINY_NAME, path)
    for k, v in ref.encoder.state_dict().items():
        assert torch.equal(model.encoder.state_dict()[k], v)


def test_missing_weights_file_is_a_clear_error(tmp_path):
    with pytest.raises(FetaledgeError, match="weights not found: .*nope.pt"):
        fc.build_classifier("FetalCLIP", tmp_path / "nope.pt")


def test_a_file_that_is_not_a_checkpoint_is_a_clear_error(tmp_path):
    bad = tmp_path / "FetalCLIP_weights.pt"
    bad.write_bytes(b"<html>rate limited</html>")
    with pytest.raises(FetaledgeError, match="is not a PyTorch/open_clip checkpoint"):
        fc.build_classifier("FetalCLIP", bad)


def test_wrong_or_missing_keys_are_named(tmp_path):
    path, _ = _tiny_checkpoint(tmp_path, **{"visual.proj": None, "visual.extra_thing": torch.zeros(1)})
    with pytest.raises(FetaledgeError, match=r"1 missing \(e.g. visual.proj\); 1 unexpected \(e.g. extra_thing\)"):
        fc.build_classifier(fc.TINY_NAME, path)
    # Tiny weights are not FetalCLIP weights: every FetalCLIP key is missing or the wrong shape.
    path, _ = _tiny_checkpoint(tmp_path)
    with pytest.raises(FetaledgeError, match="does not hold FetalCLIP vision weights|wrong shape"):
        fc.build_classifier("FetalCLIP", path)


def test_wrong_shapes_are_named(tmp_path):
    path, _ = _tiny_checkpoint(tmp_path, **{"visual.proj": torch.zeros(96, 64)})
    with pytest.raises(FetaledgeError, match=r"visual.proj: \(96, 64\), expected \(96, 128\)"):
        fc.build_classifier(fc.TINY_NAME, path)


# ------------------------------------------------------------------------------------------ LoRA
@pytest.mark.slow
def test_default_lora_trains_attention_and_mlp_out_proj_alone_does_not():
    model, _ = _tiny_lora()
    names = lora_parameter_names(model)
    assert any(".attn.lora_A." in n for n in names) and any(".attn.base_layer.out_proj.lora_B." in n for n in names)
    assert any(".mlp.c_fc.lora_A." in n for n in names) and any(".mlp.c_proj.lora_B." in n for n in names)
    x = InputPipeline(112, 112, "clip")(_frames(4, 112).images)
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    for _ in range(2):  # lora_B starts at zero, so lora_A only gets a gradient from the second step
        opt.zero_grad()
        model(x).pow(2).sum().backward()
        opt.step()
    grads = dict(model.named_parameters())
    dead = [n for n in names if grads[n].grad is None or not grads[n].grad.abs().sum() > 0]
    assert not dead, f"LoRA parameters without gradient: {dead[:4]}"

    # The paper's setting: LoRA on out_proj alone never enters MultiheadAttention's forward.
    only_out, _ = fc.build_lora_classifier(fc.TINY_NAME, None, LoraSettings(("out_proj",)), seed=0)
    only_out(x).sum().backward()
    grads = [p.grad for n, p in only_out.named_parameters() if ".lora_B." in n]
    assert grads and all(g is None or g.abs().sum() == 0 for g in grads)


def test_lora_and_head_change_while_frozen_weights_do_not():
    model, cfg = _tiny_lora()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    pipe = InputPipeline(112, 112, "clip")
    train(model, pipe, _frames(24, 112), _frames(12, 112, 1, "val"), TrainSettings(epochs=1, batch_size=8), CPU)
    after = dict(model.named_parameters())
    trainable = {n for n, p in after.items() if p.requires_grad}
    head = {n for n in after if n.endswith(("head.weight", "head.bias"))}
    assert trainable == set(lora_parameter_names(model)) | head
    changed = {n for n in after if not torch.equal(after[n].detach(), before[n])}
    assert changed - trainable == set(), "frozen weights changed (bit-exactly pinned, see models.lora)"
    assert trainable - changed == set(), "some LoRA/head parameters did not train"


def test_mha_out_proj_factor_is_probed_recorded_and_checked():
    factor = mha_out_proj_factor()
    assert factor in (1, 2)
    model, cfg = _tiny_lora()
    assert cfg["lora"]["extra"]["mha_out_proj_factor"] == factor
    other = LoraSettings.from_json({**cfg["lora"], "extra": {"mha_out_proj_factor": 3 - factor, "peft": "x"}})
    with pytest.raises(FetaledgeError, match="out_proj LoRA delta"):
        check_mha_factor(other, "a model")
    assert describe_lora(LoraSettings(("c_fc",)), apply_lora(fc.build_classifier(), LoraSettings(("c_fc",))))[
        "extra"].get("mha_out_proj_factor") is None


def test_unknown_lora_target_is_a_clear_error():
    with pytest.raises(FetaledgeError, match=r"LoRA targets \['qkv'\] match no module"):
        _tiny_lora(("qkv",))


# ------------------------------------------------------------------------------------------ merge
def _adapter_folder(tmp_path, seed: int = 0):
    model, cfg = _tiny_lora(seed=seed)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():  # non-zero adapters everywhere, as after training
        for n, p in model.named_parameters():
            if ".lora_B." in n:
                p.copy_(torch.randn(p.shape, generator=g) * 0.05)
    folder = tmp_path / "adapter"
    save_model(folder, model.state_dict(), {**cfg, "threshold": 0.4})
    return folder, model


def test_merged_logits_equal_adapter_logits(tmp_path):
    from fetaledge.train.merge import merge_run

    folder, model = _adapter_folder(tmp_path)
    info = merge_run(folder, tmp_path / "merged")
    assert info["kind"] == "fetalclip-merged" and info["max_abs_diff"] <= 1e-4
    merged, cfg = load_model(tmp_path / "merged", expect=("fetalclip-merged",))
    assert cfg["threshold"] == 0.4 and cfg["lora"] is None and cfg["merged_from"]["check"]["max_abs_diff"] <= 1e-4
    assert not any("lora" in k for k in merged.state_dict())
    x = torch.randn(5, 3, 112, 112)
    with torch.no_grad():
        assert (merged(x) - model.eval()(x)).abs().max() <= 1e-4


def test_merge_fails_loudly_when_merged_differs(tmp_path, monkeypatch):
    """A merge that applies the out_proj delta once more than the forward (the known peft bug) is caught."""
    import fetaledge.train.merge as merge_mod
    from fetaledge.models.lora import merge_lora

    def double_out_proj(model):
        deltas = {}
        for name, m in model.named_modules():
            if name.endswith(".attn") and hasattr(m, "base_layer") and hasattr(m.base_layer, "out_proj"):
                deltas[name.split("base_model.model.", 1)[1]] = m.base_layer.out_proj.get_delta_weight("default")
        merged = merge_lora(model)
        with torch.no_grad():
            for name, d in deltas.items():
                merged.get_submodule(name).out_proj.weight += d
        return merged

    folder, _ = _adapter_folder(tmp_path)
    monkeypatch.setattr(merge_mod, "merge_lora", double_out_proj)
    with pytest.raises(FetaledgeError, match="disagrees with the adapter model"):
        merge_mod.merge_run(folder, tmp_path / "merged")
    assert not (tmp_path / "merged").exists()


# ------------------------------------------------------------------------------------------ baselines
SHRINK = {  # full-size construction of the large transformers is too slow for a unit test
    "vgg16": {"mlp_ratio": 0.0625},
    "swin_large_patch4_window7_224": {"embed_dim": 32, "depths": (1, 1, 1, 1), "num_heads": (1, 1, 2, 2),
                                      "window_size": 2},
    "deit3_large_patch16_224": {"embed_dim": 64, "depth": 2, "num_heads": 2},
    "vit_large_patch14_clip_224": {"embed_dim": 64, "depth": 2, "num_heads": 2},
}


@pytest.mark.parametrize("name", ["densenet121", "efficientnet_b0", "vgg16", "swin_large_patch4_window7_224",
                                  "deit3_large_patch16_224", "vit_large_patch14_clip_224"])
@pytest.mark.slow
def test_each_baseline_trains_a_step(name, tmp_path):
    from fetaledge.models.baselines import BASELINES, build_baseline

    size = 64 if BASELINES[name].sized else 32  # CNNs take any size; 32 px keeps DenseNet's step short
    model, cfg = build_baseline(name, input_size=size, timm_kwargs=SHRINK.get(name), seed=0)
    trainable, total = count_parameters(model)
    if BASELINES[name].mode == "full":
        assert trainable == total and cfg["lora"] is None
    else:
        assert 0 < trainable < total and cfg["lora"]["targets"] == ["proj", "fc1", "fc2"]
    before = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    pipe = InputPipeline(size, size, cfg["norm"])
    train(model, pipe, _frames(4, size), _frames(2, size, 1, "val"), TrainSettings(epochs=1, batch_size=4), CPU)
    assert any(not torch.equal(p.detach(), before[n]) for n, p in model.named_parameters() if p.requires_grad)
    save_model(tmp_path / "m", model.state_dict(), {**cfg, "threshold": 0.5})  # the folder contract round-trips
    rebuilt, _ = load_model(tmp_path / "m", expect=("baseline",))
    x = torch.randn(2, 3, size, size)
    with torch.no_grad():
        assert torch.allclose(rebuilt(x), model.eval()(x), atol=1e-5)


def test_unknown_backbone_lists_the_known_ones():
    from fetaledge.models.baselines import build_baseline
    from fetaledge.train.finetune import FinetuneConfig, resolve_backbone

    with pytest.raises(FetaledgeError, match="known baselines: densenet121, efficientnet_b0, vgg16"):
        build_baseline("resnet9000")
    with pytest.raises(FetaledgeError, match="known: fetalclip, tiny, densenet121"):
        resolve_backbone(FinetuneConfig(backbone="resnet9000"))
    with pytest.raises(FetaledgeError, match="needs --weights"):
        resolve_backbone(FinetuneConfig(backbone="fetalclip"))


def test_baseline_weights_missing_and_wrong(tmp_path):
    from fetaledge.models.baselines import build_baseline

    with pytest.raises(FetaledgeError, match="--backbone-weights .*absent.pth not found"):
        build_baseline("efficientnet_b0", tmp_path / "absent.pth", input_size=64)
    donor, _ = build_baseline("efficientnet_b0", input_size=64, seed=0)
    state = {f"module.{k[4:]}": v for k, v in donor.state_dict().items()}  # DDP-saved, timm key names
    torch.save(state, tmp_path / "ok.pth")
    model, _ = build_baseline("efficientnet_b0", tmp_path / "ok.pth", input_size=64, seed=1)
    assert torch.equal(model.state_dict()["net.conv_stem.weight"], donor.state_dict()["net.conv_stem.weight"])
    del state["module.conv_stem.weight"]
    torch.save(state, tmp_path / "bad.pth")
    with pytest.raises(FetaledgeError, match=r"1 missing \(e.g. conv_stem.weight\)"):
        build_baseline("efficientnet_b0", tmp_path / "bad.pth", input_size=64)
