"""Backend registry: every public module in this package is one quantization backend, found by discovery.

A backend module is cheap to import (its heavy dependencies are imported inside its functions) and defines:

``BACKEND``           the name used in recipes' ``backend`` field, e.g. ``"nncf"``
``RUNTIME``           ``"onnxruntime"`` or ``"litert"``: which built-in runner executes its artifacts
``SUFFIX``            artifact file extension, e.g. ``".onnx"``
``REQUIRES``          importable module names the backend needs
``PIP``               the ``pip install ...`` line that installs them
``RECIPE``            its :class:`~quantize.recipe.Recipe` subclass
``run(recipe, request) -> list[str]``   write the artifact atomically to ``request.out_path``; return notes
``fallbacks(recipe, hints) -> list[Recipe]``   ordered recipes to try when the accuracy gate fails

Deleting a backend is deleting its module (plus its extra and its test rows): nothing else names it.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
from types import ModuleType

from quantize.errors import MissingExtraError, QuantizeError


def _modules() -> list[ModuleType]:
    mods = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        mods.append(importlib.import_module(f"{__name__}.{info.name}"))
    return mods


def backends() -> dict[str, ModuleType]:
    """Name -> backend module, for every backend module present (installed extras or not)."""
    return {m.BACKEND: m for m in _modules()}


def get_backend(name: str) -> ModuleType:
    """The backend module called ``name``; an unknown name is an error listing the known ones."""
    known = backends()
    if name not in known:
        raise QuantizeError(f"unknown quantization backend {name!r}; known: {sorted(known)}")
    return known[name]


def missing_extra(name: str) -> MissingExtraError | None:
    """The error that using backend ``name`` would raise for a missing dependency, or None when all are
    there."""
    module = get_backend(name)
    for req in module.REQUIRES:
        try:
            found = importlib.util.find_spec(req) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            return MissingExtraError(name, req, module.PIP)
    return None


def require(name: str) -> None:
    """Raise :class:`MissingExtraError` if backend ``name`` cannot run here."""
    err = missing_extra(name)
    if err is not None:
        raise err
