"""Shared fixtures: one tiny phantom build per test session, used by the build, bench and stage-cache tests.

The build is the real CLI on a tiny config (every stage for real, one INT8 backend). Tests that change the work
folder copy it first (:func:`copy_build`); the session build itself is read-only to them.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

#: The smallest config that runs every stage for real (one INT8 backend, no fallback recipes).
TINY_CONFIG = {
    "phantom": {"cases": 5, "frames_per_sweep": 12, "seed": 3},
    "finetune": {"epochs": 1, "batch_size": 16, "pretrain": {"epochs": 1}},
    "distill": {"epochs": 1, "resolution": 64, "batch_size": 16},
    "quantize": {"calibration_frames": 30, "backends": ["onnxruntime"], "max_fallbacks": 0},
    "segment": {"epochs": 2, "calibration_frames": 8, "golden_frames": 4, "phantom_sweeps": 4, "phantom_val_sweeps": 2},
}


def build_args(root: Path, config: Path, *extra: str) -> list[str]:
    """``fetaledge build`` arguments for a build rooted at ``root`` (work/, bundle/, assets/)."""
    return ["build", "--target", "arm64", "--out", str(root / "bundle"), "--work", str(root / "work"),
            "--config", str(config), *extra]


@pytest.fixture(scope="session")
def tiny_build(tmp_path_factory) -> dict:
    """The session's tiny arm64 build: ``root``, ``work``, ``bundle``, ``config``, ``fetaledge_cache`` (the
    stand-in pretraining cache it used), ``args`` and the CLI ``result`` of the first run."""
    pytest.importorskip("torch")
    pytest.importorskip("SimpleITK")
    from click.testing import CliRunner

    from fetaledge.cli import main

    root = tmp_path_factory.mktemp("tiny_build")
    cfg = root / "tiny.json"
    cfg.write_text(json.dumps(TINY_CONFIG))
    cache = root / "fetaledge-cache"
    args = build_args(root, cfg, "--android-assets", str(root / "assets"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FETALEDGE_CACHE", str(cache))  # the stand-in pretraining cache, private to this session
        result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output[-3000:]
    return {"root": root, "work": root / "work", "bundle": root / "bundle", "config": cfg,
            "fetaledge_cache": cache, "args": args, "result": result}


def copy_build(build: dict, dest: Path) -> dict:
    """A private copy of a build (work folder, pretraining cache, config) that a test may change."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copytree(build["work"], dest / "work", symlinks=True)
    if build["fetaledge_cache"].exists():
        shutil.copytree(build["fetaledge_cache"], dest / "fetaledge-cache")
    shutil.copy(build["config"], dest / "tiny.json")
    return {"root": dest, "work": dest / "work", "bundle": dest / "bundle", "config": dest / "tiny.json",
            "fetaledge_cache": dest / "fetaledge-cache", "args": build_args(dest, dest / "tiny.json")}


def reseal_goldens(bundle: Path) -> None:
    """Rewrite a bundle's ``goldens/manifest.json`` after a test edited a golden on purpose (the manifest lists every
    golden file, so an unsealed edit is caught by it before the check the test is about)."""
    from fetaledge.fsio import write_json
    from fetaledge.runtime.manifest import MANIFEST_NAME, manifest_document

    write_json(Path(bundle) / "goldens" / MANIFEST_NAME, manifest_document(Path(bundle) / "goldens"))


LITERT = "student-fp32-litert"
ORT = "student-fp32-onnxruntime"


@pytest.fixture(scope="session")
def litert_bundle(tiny_build, tmp_path_factory) -> Path:
    """The tiny build's bundle again, with the LiteRT export of the same student first (the primary) and the fp32
    ONNX model after it, written by the real bundle writer (goldens recorded by each model here)."""
    pytest.importorskip("ai_edge_litert")
    import numpy as np

    from fetaledge.bundle import ShippedModel, write_bundle
    from fetaledge.runtime.spec import load_spec

    src = tiny_build["bundle"]
    spec = load_spec(src / "iqa_spec.json")
    frames_doc = json.loads((src / "goldens" / "frames.json").read_text())
    tflite = tiny_build["work"] / "export" / "student.tflite"
    assert tflite.is_file(), "the tiny build exports a TFLite student"
    out = tmp_path_factory.mktemp("litert_bundle") / "bundle"
    write_bundle(
        out,
        shipped=[ShippedModel(LITERT, tflite, "litert", "fp32"),
                 ShippedModel(ORT, src / spec.model(ORT).file, "onnxruntime", "fp32")],
        raw_hw=(spec.input.height, spec.input.width), decision=spec.decision, threads=1,
        provenance={"target": "arm64"}, report={}, report_md="test bundle\n",
        golden_frames=np.stack([np.load(src / e["file"]) for e in frames_doc["frames"]]),
        golden_sources=[e["source"] for e in frames_doc["frames"]],
        golden_sweep=np.load(src / "goldens" / "sweep_frames.npy"), golden_sweep_source="tiny build sweep",
        make_zip=False,
    )
    return out
