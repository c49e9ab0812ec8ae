"""Teacher pipeline on a tiny phantom: finetune -> merge -> evaluate (library and CLI), threshold calibration,
stand-in pretraining cache, clear errors for bad data, and DDP with two gloo processes on CPU."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from fetaledge.cli import main
from fetaledge.data.cache import prepare_cache
from fetaledge.data.phantom import PhantomConfig, write_phantom
from fetaledge.errors import FetaledgeError
from fetaledge.metrics import calibrate_threshold
from fetaledge.models.checkpoint import load_model
from fetaledge.train.finetune import FinetuneConfig, finetune
from fetaledge.train.loop import TrainSettings
from fetaledge.train.pretrain import PretrainSettings

warnings.filterwarnings("ignore", message=".*Enum subclass.*")
FAST = TrainSettings(epochs=1, batch_size=16)
CACHE_SIZE = 112  # the tiny model's input size: no resampling, a faster prepare


@pytest.fixture(scope="module")
def phantom(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("teacher_phantom")
    write_phantom(root / "src", PhantomConfig(cases=5, seed=0, frames_per_sweep=20))
    return root / "src"


@pytest.fixture(scope="module")
def cache(phantom, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("teacher_cache") / "cache"
    prepare_cache(phantom, out, size=CACHE_SIZE)
    return out


@pytest.fixture(autouse=True)
def _pretrain_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("FETALEDGE_CACHE", str(tmp_path_factory.getbasetemp() / "fetaledge-cache"))


@pytest.fixture(scope="module")
def run(cache, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("teacher_run") / "run"
    os.environ["FETALEDGE_CACHE"] = str(tmp_path_factory.getbasetemp() / "fetaledge-cache")
    cfg = FinetuneConfig(train=FAST, pretrain=PretrainSettings(epochs=1), trials=2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        summary = finetune(cache, out, cfg, log=lambda _m: None)
    assert any("NOT FetalCLIP" in str(w.message) for w in caught)
    return out, summary


@pytest.mark.slow
def test_finetune_writes_models_metrics_and_curves(run):
    out, summary = run
    assert len(summary["trials"]) == 2 and set(summary["mean_std"]["f1"]) == {"mean", "std"}
    for k in (0, 1):
        folder = out / "trials" / str(k)
        assert (folder / "curve.png").read_bytes()[:4] == b"\x89PNG"
        metrics = json.loads((folder / "metrics.json").read_text())
        for key in ("f1", "precision", "recall", "accuracy", "specificity", "auroc", "confusion_matrix",
                    "threshold", "n"):
            assert key in metrics
        assert sum(map(sum, metrics["confusion_matrix"])) == metrics["n"]
        model, cfg = load_model(folder / "model", expect=("fetalclip-lora",))
        assert cfg["lora"]["r"] == 8 and cfg["lora"]["alpha"] == 16 and cfg["lora"]["dropout"] == 0.1
        assert cfg["lora"]["targets"] == ["attn", "c_fc", "c_proj"]
        assert cfg["encoder_weights"]["source"].startswith("stand-in pretraining")
        assert cfg["encoder_weights"]["head_init"].endswith("head.pt")
        assert cfg["data"]["cache_fingerprint"] and cfg["versions"]["peft"] and cfg["seed"] == k
    top = json.loads((out / "metrics.json").read_text())
    assert top["trial"] == summary["selected"]["trial"] and "mean_std_over_trials" in top
    assert json.loads((out / "run.json").read_text())["config"]["train"]["lr"] == FAST.lr


def test_threshold_is_the_max_f1_threshold_on_validation(run, cache):
    from fetaledge.train.data import InputPipeline, load_frames
    from fetaledge.train.dist import DistContext
    from fetaledge.train.loop import predict_logits, sigmoid

    out, summary = run
    model, cfg = load_model(Path(summary["trials"][0]["model"]))
    val = load_frames(cache, "val")
    scores = sigmoid(predict_logits(model, InputPipeline(CACHE_SIZE, cfg["input_size"], cfg["norm"]), val,
                                    DistContext(0, 1, torch.device("cpu"))))
    t, f1 = calibrate_threshold(scores, val.targets.numpy())
    assert cfg["threshold"] == pytest.approx(t, abs=1e-6) and cfg["calibration"]["val_f1"] == pytest.approx(f1)


def test_stand_in_pretraining_is_cached_by_data_and_config(run, cache):
    from fetaledge.train.dist import DistContext
    from fetaledge.train.pretrain import pretrain_key, pretrain_root, tiny_pretrained_weights

    ctx = DistContext(0, 1, torch.device("cpu"))
    path, info = tiny_pretrained_weights(cache, PretrainSettings(epochs=1), ctx)  # made by the run fixture
    assert path.parent == pretrain_root() / pretrain_key(cache, PretrainSettings(epochs=1))
    assert info["data"]["split"] == "train" and "NOT FetalCLIP" in info["what"]
    head = torch.load(path.parent / "head.pt", weights_only=True)
    assert head["weight"].shape == (1, 128) and head["bias"].shape == (1,)
    assert pretrain_key(cache, PretrainSettings(epochs=2)) != pretrain_key(cache, PretrainSettings(epochs=1))


def test_merge_then_evaluate_reproduces_the_test_metrics(run, cache, tmp_path):
    from fetaledge.train.evaluate import evaluate
    from fetaledge.train.merge import merge_run

    out, summary = run
    info = merge_run(out, tmp_path / "merged")
    assert info["max_abs_diff"] <= 1e-4 and "validation frames" in info["batch"]
    report = evaluate(tmp_path / "merged", cache, "test", out=tmp_path / "m.json")
    selected = summary["selected"]["metrics"]
    assert report["confusion_matrix"] == selected["confusion_matrix"] and report["f1"] == selected["f1"]
    assert json.loads((tmp_path / "m.json").read_text())["kind"] == "fetalclip-merged"
    val = evaluate(out, cache, "val")  # a run folder and another split work too
    assert val["split"] == "val" and val["n"] > 0


@pytest.mark.slow
def test_cli_finetune_merge_evaluate(phantom, tmp_path):
    runner = CliRunner()
    out = tmp_path / "run"
    res = runner.invoke(main, ["finetune", "--data", str(phantom), "--out", str(out), "--epochs", "1",
                               "--batch-size", "16", "--no-pretrain", "--lora-targets", "attn,c_fc"])
    assert res.exit_code == 0, res.output
    assert "NOT FetalCLIP" in res.output and "test F1" in res.output
    assert (out / "cache" / "manifest.json").is_file()  # an ACOUSLIC folder is prepared into OUT/cache
    res = runner.invoke(main, ["merge", str(out), "--out", str(tmp_path / "merged")])
    assert res.exit_code == 0, res.output
    assert "fetalclip-merged" in res.output
    res = runner.invoke(main, ["evaluate", str(tmp_path / "merged"), "--data", str(out / "cache"), "--split", "test",
                               "--out", str(tmp_path / "eval.json")])
    assert res.exit_code == 0, res.output
    assert "test F1" in res.output and json.loads((tmp_path / "eval.json").read_text())["split"] == "test"


def test_cli_errors_are_one_clear_line(cache, tmp_path):
    runner = CliRunner()
    base = ["finetune", "--data", str(cache), "--out", str(tmp_path / "r")]
    res = runner.invoke(main, [*base, "--backbone", "resnet9000"])
    assert res.exit_code == 2 and "unknown backbone 'resnet9000'" in res.output and "vgg16" in res.output
    res = runner.invoke(main, [*base, "--weights", str(tmp_path / "FetalCLIP_weights.pt")])
    assert res.exit_code == 2 and "FetalCLIP weights not found" in res.output
    res = runner.invoke(main, [*base, "--backbone", "densenet121", "--backbone-weights", str(tmp_path / "x.pth")])
    assert res.exit_code == 2 and "not found" in res.output
    res = runner.invoke(main, ["merge", str(tmp_path), "--out", str(tmp_path / "m")])
    assert res.exit_code == 2 and "neither a model folder" in res.output
    res = runner.invoke(main, ["finetune", "--data", str(tmp_path), "--out", str(tmp_path / "r")])
    assert res.exit_code == 2 and "neither a prepared frame cache nor an ACOUSLIC-layout folder" in res.output


def _without_positives(cache: Path, dest: Path, split: str) -> Path:
    shutil.copytree(cache, dest)
    manifest = json.loads((dest / "manifest.json").read_text())
    splits = json.loads((dest / "splits.json").read_text())
    for entry in manifest["cases"]:
        if entry["uuid"] in splits["cases"][split]:
            labels = dest / "cases" / entry["uuid"] / "labels.npy"
            np.save(labels, np.zeros_like(np.load(labels)))
            entry["positives"] = entry["optimal"] = 0
    (dest / "manifest.json").write_text(json.dumps(manifest))
    return dest


@pytest.mark.parametrize("split", ["train", "val", "test"])
def test_a_split_without_positives_is_a_clear_error(cache, tmp_path, split):
    bad = _without_positives(cache, tmp_path / "cache", split)
    with pytest.raises(FetaledgeError, match=f"the {split} split of .* holds no positive"):
        finetune(bad, tmp_path / "run", FinetuneConfig(train=FAST, pretrain=None), log=lambda _m: None,
                 warn=lambda _m: None)


@pytest.mark.slow
def test_ddp_two_gloo_processes_train_and_agree(cache, tmp_path):
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "-m", "fetaledge", "finetune", "--data", str(cache), "--out", str(out), "--epochs", "1",
           "--batch-size", "8", "--no-pretrain"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    summary = json.loads((out / "run.json").read_text())
    assert summary["world_size"] == 2
    digests = summary["trials"][0]["rank_digests"]
    assert len(digests) == 2 and digests[0] == digests[1]  # both ranks ended with identical weights
    model, cfg = load_model(out / "trials" / "0" / "model")
    assert cfg["world_size"] == 2
    lora_b = [v for k, v in model.state_dict().items() if ".lora_B." in k]
    assert lora_b and all(v.abs().sum() > 0 for v in lora_b)  # lora_B starts at zero: it trained
    assert proc.stdout.count("model: ") == 1  # only rank 0 reports
