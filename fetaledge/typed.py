"""One strict JSON <-> frozen-dataclass parser: unknown keys and wrong types are one-line errors, never dropped.

Supported field types: ``bool``, ``int``, ``float`` (an int is accepted), ``str``, ``Path`` (from a string),
``Literal[...]``, ``X | None``, unions of a dataclass and ``bool``, ``tuple[X, ...]``, ``dict[str, Any]``, ``Any``
and nested dataclasses. Values a dataclass refuses in ``__post_init__`` keep its message, prefixed with where.

Example:
    >>> from dataclasses import dataclass
    >>> @dataclass(frozen=True)
    ... class Opt:
    ...     epochs: int = 5
    >>> from_json(Opt, {"epochs": 2}, "cfg.json: finetune")
    Opt(epochs=2)
    >>> from_json(Opt, {"epoch": 2}, "cfg.json: finetune")
    Traceback (most recent call last):
    ...
    fetaledge.errors.FetaledgeError: cfg.json: finetune: unknown key 'epoch' (fix: valid keys: epochs)
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from fetaledge.errors import FetaledgeError

T = TypeVar("T")


def _type_name(tp: Any) -> str:
    if tp is type(None):
        return "null"
    if dataclasses.is_dataclass(tp):
        return "an object"
    origin = typing.get_origin(tp)
    if origin is typing.Literal:
        return " or ".join(repr(a) for a in typing.get_args(tp))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if origin in (tuple, list):
        return f"a list of {_type_name(typing.get_args(tp)[0])}"
    if origin is dict:
        return "an object"
    return {bool: "true/false", int: "an integer", float: "a number", str: "a string", Path: "a path string"}.get(
        tp, getattr(tp, "__name__", str(tp)))


class _Mismatch(Exception):
    pass


def _coerce(tp: Any, value: Any, where: str, base: Any = None) -> Any:
    if tp is Any:
        return value
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise _Mismatch
        return from_json(tp, value, where, base=base if isinstance(base, tp) else None)
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            try:
                return _coerce(arg, value, where, base)
            except _Mismatch:
                continue
        raise _Mismatch
    if origin is typing.Literal:
        if value in typing.get_args(tp) and not isinstance(value, bool):
            return value
        raise _Mismatch
    if origin in (tuple, list):
        if not isinstance(value, list):
            raise _Mismatch
        item = typing.get_args(tp)[0]
        items = [_coerce(item, v, where) for v in value]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise _Mismatch
        return dict(value)
    if tp is type(None):
        if value is None:
            return None
        raise _Mismatch
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise _Mismatch
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise _Mismatch
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise _Mismatch
    if tp is str:
        if isinstance(value, str):
            return value
        raise _Mismatch
    if tp is Path:
        if isinstance(value, str) and value:
            return Path(value)
        raise _Mismatch
    raise FetaledgeError(f"{where}: field type {tp!r} is not supported by fetaledge.typed")


def from_json(cls: type[T], data: Any, where: str, base: T | None = None) -> T:
    """Build the frozen dataclass ``cls`` from a JSON object: every key must be a field, every value its type.

    ``base`` supplies the values of absent keys (default: the dataclass defaults); ``where`` (e.g. "cfg.json:
    distill.kd") prefixes every error.
    """
    if not isinstance(data, dict):
        raise FetaledgeError(f"{where}: expected an object, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = [k for k in data if k not in fields]
    if unknown:
        many = len(unknown) > 1
        raise FetaledgeError(f"{where}: unknown key{'s' if many else ''} {', '.join(map(repr, unknown))}",
                             hint=f"valid keys: {', '.join(fields)}")
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for name in fields:
        if name not in data:
            if base is not None:
                kwargs[name] = getattr(base, name)
            continue
        try:
            kwargs[name] = _coerce(hints[name], data[name], f"{where}.{name}",
                                   getattr(base, name) if base is not None else None)
        except _Mismatch:
            raise FetaledgeError(f"{where}: {name} must be {_type_name(hints[name])}, got {data[name]!r}") from None
    try:
        return cls(**kwargs)
    except FetaledgeError as exc:
        if exc.message.startswith(where):
            raise
        raise FetaledgeError(f"{where}: {exc.message}", hint=exc.hint) from None


def to_json(obj: Any) -> Any:
    """The JSON form of a dataclass tree (tuples as lists, paths as strings); :func:`from_json` reads it back."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_json(getattr(obj, f.name)) for f in dataclasses.fields(obj) if f.init}
    if isinstance(obj, (tuple, list)):
        return [to_json(v) for v in obj]
    if isinstance(obj, dict):
        return {str(k): to_json(v) for k, v in obj.items()}
    if isinstance(obj, Path):
        return str(obj)
    return obj

