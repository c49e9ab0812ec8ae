"""The runtime and the metrics import with torch made unimportable, and importing fetaledge.runtime pulls in
no inference runtime (onnxruntime is imported only by the engines, later and lazily)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = r"""
import importlib.abc, sys

BLOCKED = ("torch", "torchvision", "open_clip", "peft", "nncf", "timm", "tensorflow")

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} is blocked: the runtime must not import it")
        return None

sys.meta_path.insert(0, Block())
for name in BLOCKED:
    sys.modules.pop(name, None)

import fetaledge.runtime
assert "onnxruntime" not in sys.modules, "fetaledge.runtime imported onnxruntime at package import"
import fetaledge.runtime.decision, fetaledge.runtime.spec, fetaledge.runtime.bundle, fetaledge.runtime.goldens
import fetaledge.metrics
leaked = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
assert not leaked, leaked
from fetaledge.runtime.decision import DecisionParams, run_sweep
print("ok", run_sweep(DecisionParams.from_threshold(0.5, min_run=1, smoothing_alpha=1.0), [0.9])[1].frame)
"""


def test_runtime_and_metrics_import_without_torch() -> None:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok 0"
