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
