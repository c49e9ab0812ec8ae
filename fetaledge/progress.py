"""Progress bars (tqdm when installed; silent otherwise, e.g. on a device install)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def bar(desc: str, total: int | None = None, unit: str = "it", disable: bool | None = None) -> Iterator[Any]:
    """Yield an object with ``update(n)``, ``set_postfix(**kw)`` and a settable ``total``."""
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover - device installs have no tqdm
        yield _Null()
        return
    # disable=None lets tqdm switch itself off when stderr is not a terminal (CI logs stay readable).
    with tqdm(total=total, desc=desc, unit=unit, disable=disable, dynamic_ncols=True, leave=True) as t:
        yield t


class _Null:
    total: int | None = None

    def update(self, n: int = 1) -> None:
        pass

    def set_postfix(self, **kwargs: Any) -> None:
        pass

    def refresh(self) -> None:
        pass
