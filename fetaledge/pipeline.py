"""What a build stage is: a declared record, and the context every stage reads.

A :class:`Stage` names its upstream stages (their keys are part of its key), the inputs of its key, the files
that must exist when it is done, and ``run``. The code a stage depends on is not listed by hand: it is the import
closure of its ``run`` (:func:`fetaledge.codegraph.stage_code_fingerprint`), so an edit of any module ``run``
reaches re-runs it and, through the keys, every stage after it. :func:`run_one` is what the build loop calls.

Example:
    >>> Stage("export", after=("distill",), folder=lambda c: c.work.export, inputs=lambda c: {},
    ...       run=run_export, outputs=("student.onnx",))  # doctest: +SKIP
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fetaledge.codegraph import stage_code_fingerprint
from fetaledge.config import BuildConfig
from fetaledge.stages import run_stage
from fetaledge.targets import Target
from fetaledge.work import Work

Log = Callable[[str], None]


@dataclass
class BuildOptions:
    """Inputs of a build: the target, the paths, and the typed config (:mod:`fetaledge.config`)."""

    target: str
    out: Path
    work: Path = Path("work")
    data: Path | None = None
    weights: Path | None = None
    device: str = "cpu"
    config: BuildConfig = field(default_factory=BuildConfig)
    android_assets: Path | None = None


@dataclass
class BuildContext:
    """What stages read and write while one build runs: options, config, target, layout, and the keys and
    seconds of the stages run so far. ``source`` is the data source (phantom, ACOUSLIC or plane folder) and
    ``cache_dir`` the frame cache; the data stages set both."""

    opts: BuildOptions
    target: Target
    log: Log
    work: Work
    source: Path | None = None
    cache_dir: Path | None = None
    keys: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)

    @property
    def config(self) -> BuildConfig:
        return self.opts.config


@dataclass(frozen=True)
class Stage:
    """One step of the build. ``run(ctx, folder)`` writes ``folder``; ``cached=False`` always runs (the bundle)."""

    name: str
    after: tuple[str, ...]
    folder: Callable[[BuildContext], Path]
    inputs: Callable[[BuildContext], dict[str, Any]]
    run: Callable[[BuildContext, Path], Any]
    outputs: tuple[str, ...] = ()
    per_target: bool = False  # its folder and marker are the target's ("quantize:arm64")
    cached: bool = True

    def marker_name(self, ctx: BuildContext) -> str:
        return f"{self.name}:{ctx.target.name}" if self.per_target else self.name

    def code(self) -> str:
        """Fingerprint of the code this stage runs (its ``run`` and everything that reaches)."""
        return stage_code_fingerprint(self.run.__module__, self.run.__name__)


def run_one(stage: Stage, ctx: BuildContext) -> None:
    """Run ``stage`` unless its folder holds a finished run with the same key; record its key and seconds."""
    t = time.perf_counter()
    folder = stage.folder(ctx)
    name = stage.marker_name(ctx)
    if not stage.cached:
        stage.run(ctx, folder)
    else:
        upstream = {u: ctx.keys.get(u, ctx.keys.get(f"{u}:{ctx.target.name}")) for u in stage.after}
        inputs = {**stage.inputs(ctx), "upstream": upstream}
        ctx.keys[name] = run_stage(name, folder, inputs, lambda d: stage.run(ctx, d), log=ctx.log,
                                   outputs=stage.outputs, code=stage.code())
    ctx.seconds[name] = round(time.perf_counter() - t, 1)
