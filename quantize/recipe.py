"""Recipe base class: typed, frozen, validated dataclasses that round-trip exactly through JSON.

Each backend module defines one subclass (``NNCFRecipe``, ``ORTRecipe``, ``LiteRTRecipe``). The JSON form
carries a ``backend`` discriminator, so :func:`recipe_from_json` can rebuild the right class; an unknown key,
a wrong type or a value outside the allowed set is a :class:`~quantize.errors.RecipeError` naming the field.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar, Union

from quantize._io import write_text_atomic
from quantize.errors import RecipeError

R = TypeVar("R", bound="Recipe")


@dataclasses.dataclass(frozen=True)
class Recipe:
    """Base of every backend recipe. Subclasses set ``BACKEND`` and declare a ``backend`` field defaulting
    to it.

    Lists given for tuple fields are turned into tuples (recipes stay hashable), ints given for float fields
    into floats, and every field is checked against its annotation when the recipe is built.
    """

    BACKEND: ClassVar[str] = ""
    #: Submodules (as torch names them, dotted: ``"net.conv_stem"``) whose operators stay floating point, the same
    #: list for every backend: ONNX backends exclude the nodes the exporter scoped under ``/net/conv_stem/``,
    #: LiteRT leaves the submodule unannotated. A scope that matches nothing is an error.
    keep_float: tuple[str, ...] = ()
    #: Float compute ops allowed outside ``keep_float`` (None: no budget); more make the artifact an error
    #: (:mod:`quantize.graphcheck`), so a recipe that silently leaves the work in float never ships.
    max_float_ops: int | None = None

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):
            value = _coerce(getattr(self, f.name), hints[f.name], f"{type(self).__name__}.{f.name}")
            object.__setattr__(self, f.name, value)
        if getattr(self, "backend", None) != self.BACKEND:
            raise RecipeError(f"{type(self).__name__}.backend must be {self.BACKEND!r}")

    # --- JSON -------------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (tuples become lists), ``backend`` first."""
        out: dict[str, Any] = {"backend": self.BACKEND}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    def to_json(self) -> str:
        """JSON text (indent 2) that :meth:`from_json` turns back into an equal recipe.

        Example:
            >>> from quantize.backends.ort import ORTRecipe
            >>> r = ORTRecipe(per_channel=True)
            >>> ORTRecipe.from_json(r.to_json()) == r
            True
        """
        return json.dumps(self.to_dict(), indent=2) + "\n"

    @classmethod
    def from_dict(cls: type[R], data: dict[str, Any]) -> R:
        """Build the recipe from a dict; unknown keys and a wrong ``backend`` are errors, missing keys
        default."""
        if not isinstance(data, dict):
            raise RecipeError(f"{cls.__name__}: expected a JSON object, got {type(data).__name__}")
        backend = data.get("backend", cls.BACKEND)
        if backend != cls.BACKEND:
            raise RecipeError(f"{cls.__name__} is for backend {cls.BACKEND!r}, the data says {backend!r}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise RecipeError(
                f"{cls.__name__}: unknown key(s) {unknown}; known keys are {sorted(known)}",
                hint="remove or rename the key (recipes never ignore a setting silently)",
            )
        kwargs = {k: v for k, v in data.items() if k != "backend"}
        return cls(**kwargs)

    @classmethod
    def from_json(cls: type[R], text: str) -> R:
        """Parse JSON text written by :meth:`to_json`."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise RecipeError(f"{cls.__name__}: invalid JSON: {exc.msg} at line {exc.lineno}") from exc
        return cls.from_dict(data)

    def save(self, path: Path) -> Path:
        """Write the JSON atomically to ``path`` and return it."""
        return write_text_atomic(Path(path), self.to_json())

    def replace(self: R, **changes: Any) -> R:
        """A copy with some fields changed (validated like a new recipe)."""
        return dataclasses.replace(self, **changes)


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Check ``value`` against annotation ``tp``; convert list->tuple and int->float. Raise RecipeError."""
    origin = typing.get_origin(tp)
    if origin is Literal:
        allowed = typing.get_args(tp)
        if not any(value == a and type(value) is type(a) for a in allowed):
            raise RecipeError(f"{where} must be one of {list(allowed)}, got {value!r}")
        return value
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, where)
            except RecipeError:
                continue
        raise RecipeError(f"{where}: {value!r} matches none of {[_type_name(a) for a in args]}")
    if origin is tuple:
        args = typing.get_args(tp)
        if not isinstance(value, (list, tuple)):
            raise RecipeError(f"{where} must be a list, got {type(value).__name__}")
        item_tp = args[0] if args else Any
        return tuple(_coerce(v, item_tp, f"{where}[{i}]") for i, v in enumerate(value))
    if tp is Any:
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise RecipeError(f"{where} must be true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise RecipeError(f"{where} must be an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise RecipeError(f"{where} must be a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise RecipeError(f"{where} must be a string, got {value!r}")
        return value
    raise RecipeError(f"{where}: unsupported field type {tp!r} in the recipe definition")


def recipe_from_dict(data: dict[str, Any]) -> Recipe:
    """Rebuild whichever backend recipe ``data['backend']`` names.

    Example:
        >>> recipe_from_dict({"backend": "onnxruntime", "per_channel": True}).per_channel
        True
    """
    # Imported here: the registry imports the backend modules, which import this module.
    from quantize.backends import backends

    if not isinstance(data, dict) or "backend" not in data:
        raise RecipeError("recipe JSON needs a 'backend' key", hint="write recipes with Recipe.to_json()")
    known = backends()
    if data["backend"] not in known:
        raise RecipeError(f"recipe for unknown backend {data['backend']!r}; known: {sorted(known)}")
    return known[data["backend"]].RECIPE.from_dict(data)


def recipe_from_json(text: str) -> Recipe:
    """Parse recipe JSON of any backend (dispatching on its ``backend`` key)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RecipeError(f"invalid recipe JSON: {exc.msg} at line {exc.lineno}") from exc
    return recipe_from_dict(data)


def load_recipe(path: Path) -> Recipe:
    """Read a ``*.recipe.json`` file written next to an artifact."""
    path = Path(path)
    if not path.is_file():
        raise RecipeError(f"recipe file not found: {path}")
    return recipe_from_json(path.read_text())
