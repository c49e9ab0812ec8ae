"""The one exception type that the CLI turns into a single clear line (no traceback)."""

from __future__ import annotations


class FetaledgeError(Exception):
    """A user-facing error: what is wrong and how to fix it.

    Example:
        >>> raise FetaledgeError("images folder missing: /x/images", hint="point --data at the ACOUSLIC root")
        Traceback (most recent call last):
        ...
        fetaledge.errors.FetaledgeError: images folder missing: /x/images (fix: point --data at the ACOUSLIC root)
    """

    def __init__(self, message: str, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(f"{message} (fix: {hint})" if hint else message)
