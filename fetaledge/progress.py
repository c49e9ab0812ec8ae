"""Progress a person can see: a bar on a terminal, lines in a log.

``bar`` is a tqdm bar when stderr is a terminal. When it is not (``fetaledge build > build.log``, CI), the same
loop prints a line every :data:`LINE_EVERY_S` seconds with the count, elapsed and remaining time, so a long
loop is never silent. :class:`EpochClock` prints one line per epoch of a training loop with the elapsed and
remaining time of the whole loop, terminal or not.

Example:
    >>> clock = EpochClock("teacher", epochs=3, log=print, clock=iter([0.0, 10.0]).__next__)
    >>> _ = clock.done(1, train_loss=0.5)
    [teacher] epoch 1/3 train_loss 0.5000 | 10 s elapsed, ~20 s left
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

#: A loop that is not on a terminal reports at most this often (seconds).
LINE_EVERY_S = 30.0

Log = Callable[[str], None]


def _print(line: str) -> None:
    print(line, flush=True)


def _duration(s: float) -> str:
    s = max(0.0, s)
    if s < 120:
        return f"{s:.0f} s"
    if s < 7200:
        return f"{s / 60:.1f} min"
    return f"{s / 3600:.1f} h"


def _on_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


@contextlib.contextmanager
def bar(desc: str, total: int | None = None, unit: str = "it", disable: bool | None = None,
        log: Log | None = None) -> Iterator[Any]:
    """Yield an object with ``update(n)``, ``set_postfix(**kw)`` and a settable ``total``.

    ``disable=True`` silences it (e.g. ranks other than 0); ``None`` picks a tqdm bar on a terminal and
    periodic lines through ``log`` (default: print) otherwise.
    """
    if disable is True:
        yield _Null()
        return
    tqdm = None
    if _on_terminal(sys.stderr):
        with contextlib.suppress(ImportError):  # device installs have no tqdm
            from tqdm import tqdm
    if tqdm is None:
        lines = Lines(desc, total, unit, log or _print)
        yield lines
        return
    with tqdm(total=total, desc=desc, unit=unit, dynamic_ncols=True, leave=True) as t:
        yield t


class Lines:
    """The log form of a bar: ``desc: 1200/5000 frame (loss=0.41) | 35 s elapsed, ~110 s left`` every
    ``every_s`` seconds (nothing for a loop shorter than that)."""

    def __init__(self, desc: str, total: int | None, unit: str, log: Log, every_s: float = LINE_EVERY_S,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.desc, self.total, self.unit, self.log, self.every_s, self.clock = desc, total, unit, log, every_s, clock
        self.n = 0
        self.postfix: dict[str, Any] = {}
        self.t0 = self.last = clock()

    def update(self, n: int = 1) -> None:
        self.n += n
        now = self.clock()
        if now - self.last >= self.every_s:
            self.last = now
            self.log(self.line(now))

    def set_postfix(self, **kwargs: Any) -> None:
        self.postfix = kwargs

    def refresh(self) -> None:
        pass

    def line(self, now: float) -> str:
        elapsed = now - self.t0
        count = f"{self.n}/{self.total}" if self.total else f"{self.n}"
        post = f" ({', '.join(f'{k}={v}' for k, v in self.postfix.items())})" if self.postfix else ""
        left = ""
        if self.total and self.n:
            left = f", ~{_duration(elapsed * (self.total - self.n) / self.n)} left"
        return f"{self.desc}: {count} {self.unit}{post} | {_duration(elapsed)} elapsed{left}"


class EpochClock:
    """One line per finished epoch: ``[what] epoch 3/10 train_loss 0.4123 | 36 s elapsed, ~84 s left``."""

    def __init__(self, what: str, epochs: int, log: Log | None = None,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.what, self.epochs, self.log, self.clock = what, epochs, log or _print, clock
        self.t0 = clock()

    def done(self, epoch: int, **figures: float) -> str:
        """Report ``epoch`` (1-based) as finished with its ``figures``; returns the line."""
        elapsed = self.clock() - self.t0
        left = elapsed / max(epoch, 1) * (self.epochs - epoch)
        figs = "".join(f" {k} {v:.4f}" for k, v in figures.items())
        line = (f"[{self.what}] epoch {epoch}/{self.epochs}{figs} | {_duration(elapsed)} elapsed, "
                f"~{_duration(left)} left")
        self.log(line)
        return line


class _Null:
    total: int | None = None

    def update(self, n: int = 1) -> None:
        pass

    def set_postfix(self, **kwargs: Any) -> None:
        pass

    def refresh(self) -> None:
        pass
