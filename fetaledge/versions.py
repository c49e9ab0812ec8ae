"""Installed package versions, collected in one place for every artifact's provenance.

Example:
    >>> package_versions(("numpy",))["python"].count(".")
    2
"""

from __future__ import annotations

import importlib.metadata as md
import platform

from fetaledge import __version__

#: What decides what a trained model computes (recorded in teacher and student folders).
TRAINING = ("fetaledge", "torch", "open_clip_torch", "peft", "timm", "numpy")
#: What a bundle was built with (recorded in iqa_spec.json provenance).
TOOLCHAIN = ("numpy", "torch", "open_clip_torch", "peft", "timm", "onnx", "onnxruntime", "nncf", "litert-torch",
             "ai-edge-litert")
#: What runs a bundle (recorded in bench reports).
RUNTIME = ("numpy", "onnxruntime", "ai-edge-litert")


def package_versions(packages: tuple[str, ...], missing: str | None = "not installed") -> dict[str, str]:
    """``{"python": ..., "fetaledge": ..., package: version}``; a package that is not installed maps to ``missing``,
    or is left out when ``missing`` is None."""
    out = {"python": platform.python_version(), "fetaledge": __version__}
    for pkg in packages:
        if pkg == "fetaledge":
            continue
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            if missing is not None:
                out[pkg] = missing
    return out
