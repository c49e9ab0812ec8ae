"""The work-folder layout of ``fetaledge build`` (one place; build writes it, bench and the benchmarks read it).

Example:
    >>> Work(Path("work")).student.as_posix()
    'work/student/default_student'
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass
class Work:
    """Where each stage of a build lives under ``root``."""

    root: Path

    def __post_init__(self) -> None:
        self.root = Path(self.root)

    phantom = property(lambda self: self.root / "phantom")
    cache = property(lambda self: self.root / "cache")
    teacher_run = property(lambda self: self.root / "teacher" / "run")
    teacher_merged = property(lambda self: self.root / "teacher" / "merged")
    distill = property(lambda self: self.root / "student")
    student = property(lambda self: self.root / "student" / "default_student")
    export = property(lambda self: self.root / "export")
    bench_frames = property(lambda self: self.root / "bench_frames.npy")

    def quant(self, target: str) -> Path:
        """The INT8 artifacts of one target's recipes."""
        return self.root / "quant" / target
