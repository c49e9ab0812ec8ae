"""The stages of ``fetaledge build``, declared: what each reads, what makes its key, what it writes, ``run``.

::

    phantom   synthetic ACOUSLIC-layout data (only without --data)
    cache     frame cache + subject-level split (ACOUSLIC layout, or a plane dataset: images + labels CSV)
    teacher   finetune (FetalCLIP with --weights; the tiny stand-in otherwise)
    merge     LoRA merged into a plain fp32 teacher, checked equal to the adapter model
    distill   student(s) from cached teacher logits; the sweep picks the default student
    export    student -> ONNX + TFLite fp32 taking the raw uint8 frame, checked against PyTorch
    quantize  INT8 per backend with the target's recipes, behind the F1/agreement gate (per target)
    segment   the measurement model: a segmentation student on the cache's abdomen masks, exported with the raw
              frame in the graph, INT8 behind the measurement gate (config ``segment``; skipped when disabled)
    bundle    the target's artifacts + iqa_spec.json + goldens + report, folder and .zip (always runs)

A stage's code is computed from what its ``run`` imports (each ``run`` imports its library inside its body), so
adding a stage is adding a record and its ``run`` here and naming it in the target's ``stages``.

Example:
    >>> [s.name for s in plan(ctx)]  # doctest: +SKIP
    ['phantom', 'cache', 'teacher', 'merge', 'distill', 'export', 'quantize', 'segment', 'bundle']
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fetaledge.errors import FetaledgeError
from fetaledge.pipeline import BuildContext, Stage
from fetaledge.stages import input_sig
from fetaledge.typed import to_json

#: Side of the cached square frames every stage trains and scores on.
CACHE_SIZE = 224


def _raw_hw(ctx: BuildContext) -> tuple[int, int]:
    from fetaledge.data.cache import FrameCache

    m = FrameCache(ctx.cache_dir).manifest
    return int(m["raw_height"]), int(m["raw_width"])


# ---------------------------------------------------------------------------------------------------- data
def run_phantom(ctx: BuildContext, folder: Path) -> None:
    from fetaledge.data.phantom import write_phantom
    from fetaledge.progress import bar

    p = ctx.config.phantom
    with bar("[phantom] writing", total=p.cases * 6 * p.frames_per_sweep, unit="frame", log=ctx.log) as b:
        write_phantom(folder, p, progress=b.update)


def _total_setter(b: Any):
    def on_total(n: int) -> None:
        b.total = n
        b.refresh()

    return on_total


def run_acouslic_cache(ctx: BuildContext, folder: Path) -> None:
    from fetaledge.data.cache import prepare_cache
    from fetaledge.progress import bar

    with bar("[cache] preparing", unit="frame", log=ctx.log) as b:
        prepare_cache(ctx.source, folder, size=CACHE_SIZE, progress=b.update, on_total=_total_setter(b))


def run_planes_cache(ctx: BuildContext, folder: Path) -> None:
    from fetaledge.data.planes import prepare_planes_cache
    from fetaledge.progress import bar

    d = ctx.config.data
    with bar("[cache] preparing", unit="image", log=ctx.log) as b:
        prepare_planes_cache(ctx.source, folder, positive_planes=d.positive_planes,
                             keep_published_split=d.keep_published_split,
                             labels=list(d.labels) if d.labels else None, skip_missing=d.skip_missing_images,
                             seed=d.split_seed, val_fraction=d.val_fraction, size=CACHE_SIZE, progress=b.update,
                             on_total=_total_setter(b))


PHANTOM = Stage("phantom", after=(), folder=lambda c: c.work.phantom,
                inputs=lambda c: {"phantom": to_json(c.config.phantom)}, run=run_phantom,
                outputs=("circumferences",))
ACOUSLIC_CACHE = Stage("cache", after=("phantom",), folder=lambda c: c.work.cache,
                       inputs=lambda c: {"src": input_sig(c.source / "circumferences"),
                                         "images": input_sig(c.source / "images")},
                       run=run_acouslic_cache, outputs=("manifest.json", "splits.json"))
PLANES_CACHE = Stage("cache", after=(), folder=lambda c: c.work.cache,
                     inputs=lambda c: {"planes": input_sig(c.source), "data": to_json(c.config.data),
                                       "size": CACHE_SIZE},
                     run=run_planes_cache, outputs=("manifest.json", "splits.json"))


def data_stages(ctx: BuildContext) -> tuple[Stage, ...]:
    """The data stages for ``--data`` (none for a prepared cache); sets ``ctx.source`` and ``ctx.cache_dir``."""
    from fetaledge.data.cache import FrameCache, is_cache
    from fetaledge.data.planes import is_planes_source

    data = ctx.opts.data
    if data is not None and is_cache(data):
        ctx.cache_dir, ctx.source = Path(data), Path(FrameCache(data).manifest["source"])
        ctx.keys["cache"] = json.dumps(input_sig(ctx.cache_dir / "manifest.json"))
        return ()
    ctx.cache_dir = ctx.work.cache
    if data is not None and is_planes_source(data):
        ctx.source = Path(data)
        ctx.log(f"[cache] plane dataset {data} (images + labels CSV): {to_json(ctx.config.data)}")
        return (PLANES_CACHE,)
    if data is None:
        ctx.source = ctx.work.phantom
        ctx.log("[phantom] no --data: using the synthetic phantom (not real ultrasound)")
        return (PHANTOM, ACOUSLIC_CACHE)
    ctx.source = Path(data)
    return (ACOUSLIC_CACHE,)


# -------------------------------------------------------------------------------------------------- models
def _finetune_config(ctx: BuildContext):
    return ctx.config.finetune.finetune_config(ctx.opts.weights, ctx.opts.device)


def run_teacher(ctx: BuildContext, folder: Path) -> None:
    from fetaledge.train.finetune import finetune

    finetune(ctx.cache_dir, folder, _finetune_config(ctx), log=ctx.log)


def run_merge(ctx: BuildContext, folder: Path) -> None:
    from fetaledge.train.merge import merge_run

    merge_run(ctx.work.teacher_run, folder)


def _distill_config(ctx: BuildContext):
    from fetaledge.train.distill import DistillConfig

    d = ctx.config.distill
    return DistillConfig(teacher=ctx.work.teacher_merged, data=ctx.cache_dir, out=ctx.work.distill,
                         device=ctx.opts.device, settings=d.settings(), **d.options())


def run_distill(ctx: BuildContext, folder: Path) -> None:
    from fetaledge.train.distill import distill

    distill(_distill_config(ctx), log=ctx.log)  # writes ctx.work.distill, the stage's folder


def run_export(ctx: BuildContext, folder: Path) -> None:
    from fetaledge.export.pipeline import export_model

    export_model(ctx.work.student, folder, raw_hw=_raw_hw(ctx), name="student", source=ctx.source)


def quantize_backends(ctx: BuildContext) -> tuple[str, ...]:
    """The target's quantize backends, narrowed by the config's ``quantize.backends`` (e.g. one, in CI)."""
    backends = tuple(sorted({c.backend for c in ctx.target.preference if c.backend}))
    wanted = ctx.config.quantize.backends
    return backends if wanted is None else tuple(b for b in backends if b in wanted)


def run_quantize(ctx: BuildContext, folder: Path) -> None:
    from fetaledge.data.cache import FrameCache
    from fetaledge.quantization import quantize_student

    q = ctx.config.quantize
    quantize_student(model_dir=ctx.work.student, fp32_onnx=ctx.work.export / "student.onnx",
                     cache=FrameCache(ctx.cache_dir), out_dir=folder, backends=quantize_backends(ctx),
                     recipes=ctx.target.recipes, raw_hw=_raw_hw(ctx), log=ctx.log,
                     n_calibration=q.calibration_frames, max_drop=q.max_drop, min_agreement=q.min_agreement,
                     max_fallbacks=q.max_fallbacks, kernels=ctx.target.int8_kernels,
                     min_gate_frames=q.min_gate_frames, agreement_copies=q.agreement_copies,
                     agreement_cap=q.agreement_cap, qat=q.qat)


def run_segment(ctx: BuildContext, folder: Path) -> None:
    from fetaledge.seg_build import build_segmentation

    phantom = ctx.config.phantom if ctx.opts.data is None else None  # extra masked sweeps from the same generator
    build_segmentation(ctx.cache_dir, folder, ctx.config.segment, log=ctx.log, phantom=phantom)


def run_bundle(ctx: BuildContext, folder: Path) -> None:
    from fetaledge.build_bundle import make_bundle

    make_bundle(ctx, folder)


TEACHER = Stage("teacher", after=("cache",), folder=lambda c: c.work.teacher_run,
                inputs=lambda c: {"cfg": _finetune_config(c).to_json(), "weights": input_sig(c.opts.weights)},
                run=run_teacher, outputs=("run.json",))
MERGE = Stage("merge", after=("teacher",), folder=lambda c: c.work.teacher_merged, inputs=lambda c: {},
              run=run_merge, outputs=("config.json", "model.pt"))
DISTILL = Stage("distill", after=("merge",), folder=lambda c: c.work.distill,
                inputs=lambda c: {"cfg": _distill_config(c).to_json()}, run=run_distill,
                outputs=("default_student/config.json",))
EXPORT = Stage("export", after=("distill",), folder=lambda c: c.work.export,
               inputs=lambda c: {"raw_hw": _raw_hw(c)}, run=run_export, outputs=("student.onnx", "student.tflite"))
QUANTIZE = Stage("quantize", after=("export",), folder=lambda c: c.work.quant(c.target.name),
                 inputs=lambda c: {"recipes": c.target.recipes, "backends": quantize_backends(c),
                                   "kernels": c.target.int8_kernels, "q": to_json(c.config.quantize)},
                 run=run_quantize, outputs=("quantize.json",), per_target=True)
SEGMENT = Stage("segment", after=("cache",), folder=lambda c: c.work.root / "segment",
                inputs=lambda c: {"segment": to_json(c.config.segment)}, run=run_segment, outputs=("seg.json",))
BUNDLE = Stage("bundle", after=("quantize",), folder=lambda c: Path(c.opts.out), inputs=lambda c: {},
               run=run_bundle, cached=False)

#: Every stage after the data stages, by name (a target's ``stages`` picks from these, in order).
STAGES: dict[str, Stage] = {s.name: s for s in (TEACHER, MERGE, DISTILL, EXPORT, QUANTIZE, SEGMENT, BUNDLE)}


def plan(ctx: BuildContext) -> tuple[Stage, ...]:
    """The stages one build runs, in order: the data stages for ``--data``, then the target's."""
    unknown = [n for n in ctx.target.stages if n not in STAGES]
    if unknown:
        raise FetaledgeError(f"target {ctx.target.name} names unknown stage(s) {', '.join(unknown)}",
                             hint=f"known stages: {', '.join(STAGES)}")
    wanted = [n for n in ctx.target.stages if n != "segment" or ctx.config.segment.enabled]
    if len(wanted) < len(ctx.target.stages):
        ctx.log("[segment] disabled by the config (segment.enabled false): the bundle will not measure")
    return (*data_stages(ctx), *(STAGES[n] for n in wanted))


def stage_named(name: str) -> Stage:
    """A stage record by name (data stages included; ``cache`` is the ACOUSLIC one)."""
    every = {"phantom": PHANTOM, "cache": ACOUSLIC_CACHE, "planes-cache": PLANES_CACHE, **STAGES}
    if name not in every:
        raise FetaledgeError(f"unknown stage {name!r}", hint=f"known stages: {', '.join(every)}")
    return every[name]

