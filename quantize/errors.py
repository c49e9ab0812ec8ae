"""Typed errors of the quantize library: one base class, one class per kind of fix."""

from __future__ import annotations


class QuantizeError(Exception):
    """Base class of every error the quantize library raises on purpose (bad input, failed backend step).

    Example:
        >>> raise QuantizeError("calibration is empty", hint="pass at least one sample")
        Traceback (most recent call last):
        ...
        quantize.errors.QuantizeError: calibration is empty (fix: pass at least one sample)
    """

    def __init__(self, message: str, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(f"{message} (fix: {hint})" if hint else message)


class RecipeError(QuantizeError, ValueError):
    """A recipe (or its JSON) is invalid: unknown key, wrong type, value outside the allowed set."""


class MissingExtraError(QuantizeError, ImportError):
    """An optional dependency of one backend is not installed; ``pip_command`` is the line that fixes it.

    Example:
        >>> err = MissingExtraError("nncf", "nncf", "pip install nncf")
        >>> err.pip_command
        'pip install nncf'
    """

    def __init__(self, backend: str, module: str, pip_command: str, cause: str | None = None) -> None:
        self.backend = backend
        self.module = module
        self.pip_command = pip_command
        detail = f" ({cause})" if cause else ""
        super().__init__(
            f"quantization backend {backend!r} needs the Python module {module!r}, "
            f"which is not importable{detail}",
            hint=pip_command,
        )
