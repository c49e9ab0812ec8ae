"""``fetaledge build --target T``: run whichever stages are missing and write the bundle for one target.

The stages are declared records (:mod:`fetaledge.build_stages`); a build is the loop below over the plan for
``--data`` and the target. Each cached stage is a folder under ``--work``, skipped when its inputs, its upstream
stages and its code are unchanged (:mod:`fetaledge.stages`). Options come from one typed config
(:mod:`fetaledge.config`), read once.

Example:
    >>> build(BuildOptions(target="arm64", out=Path("bundle")))  # doctest: +SKIP
"""

from __future__ import annotations

import time
from pathlib import Path

from fetaledge.build_stages import plan
from fetaledge.config import load_config
from fetaledge.pipeline import BuildContext, BuildOptions, Log, run_one
from fetaledge.targets import get_target
from fetaledge.work import Work

__all__ = ["BuildOptions", "build", "load_config"]


def build(opts: BuildOptions, log: Log = print) -> Path:
    """Run the missing stages and write the bundle for ``opts.target`` (folder ``opts.out`` + ``.zip``).

    Example:
        >>> build(BuildOptions(target="arm64", out=Path("bundle"), config=load_config(None)))  # doctest: +SKIP
    """
    ctx = BuildContext(opts=opts, target=get_target(opts.target), log=log, work=Work(opts.work))
    ctx.work.root.mkdir(parents=True, exist_ok=True)
    for stage in plan(ctx):
        run_one(stage, ctx)
    log(f"build finished in {time.perf_counter() - ctx.started:.1f} s")
    return Path(opts.out)
