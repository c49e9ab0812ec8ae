"""Progress in a log: periodic lines with elapsed and remaining time when stdout/stderr is not a terminal."""

from __future__ import annotations

import io

import pytest

from fetaledge import progress
from fetaledge.progress import EpochClock, Lines, bar


def test_epoch_clock_prints_elapsed_and_remaining() -> None:
    lines: list[str] = []
    times = iter([100.0, 110.0, 120.0])
    clock = EpochClock("teacher", 4, lines.append, clock=lambda: next(times))
    clock.done(1, train_loss=0.5, val_loss=0.25)
    clock.done(2)
    assert lines == ["[teacher] epoch 1/4 train_loss 0.5000 val_loss 0.2500 | 10 s elapsed, ~30 s left",
                     "[teacher] epoch 2/4 | 20 s elapsed, ~20 s left"]


def test_lines_report_only_every_interval_with_the_remaining_time() -> None:
    now = [0.0]
    lines: list[str] = []
    b = Lines("prepare", 100, "frame", lines.append, every_s=30, clock=lambda: now[0])
    now[0] = 10
    b.update(10)
    assert lines == []  # a short loop stays quiet
    now[0] = 40
    b.set_postfix(loss="0.41")
    b.update(30)
    assert lines == ["prepare: 40/100 frame (loss=0.41) | 40 s elapsed, ~60 s left"]
    now[0] = 200
    b.total = None
    b.update(1)
    assert lines[-1] == "prepare: 41 frame (loss=0.41) | 3.3 min elapsed"


def test_bar_is_lines_off_a_terminal_and_silent_when_disabled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress.sys, "stderr", io.StringIO())  # not a terminal
    with bar("x", total=3, log=print) as b:
        assert isinstance(b, Lines)
    with bar("x", total=3, disable=True) as b:
        assert not isinstance(b, Lines)
        b.update(1)
