"""The ``fetaledge`` command line: thin click commands over library functions.

Every user error is a :class:`~fetaledge.errors.FetaledgeError`, printed as one line with a non-zero exit.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from fetaledge.errors import FetaledgeError


class _Group(click.Group):
    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except FetaledgeError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="fetaledge")
def main() -> None:
    """fetaledge: fetal-ultrasound image-quality models from FetalCLIP to a cheap ARM tablet.

    Pipeline: data -> finetune -> merge -> distill -> export -> quantize -> bench -> build. Each command
    writes files the next one reads. Start with `fetaledge data phantom --help`.
    """


@main.group()
def data() -> None:
    """ACOUSLIC-AI data: make a phantom, prepare the frame cache, print split statistics."""


@data.command("phantom")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Folder to write (ACOUSLIC layout).")
@click.option("--cases", type=int, default=8, show_default=True, help="Number of cases (scans).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed; the same seed gives the same bytes.")
@click.option("--frames-per-sweep", type=int, default=140, show_default=True,
              help="Frames per sweep (the real set has 140; fewer makes a quick CI phantom).")
@click.option("--noise", type=float, default=1.0, show_default=True, help="Speckle and noise strength.")
@click.option("--contrast", type=float, default=1.0, show_default=True, help="Contrast of fetal structures.")
@click.option("--tilt", type=float, default=1.0, show_default=True, help="Probe tilt variability.")
@click.option("--partial", type=float, default=0.25, show_default=True,
              help="Probability that the abdomen sits at the fan edge (partial view).")
def data_phantom(out: Path, cases: int, seed: int, frames_per_sweep: int, noise: float, contrast: float,
                 tilt: float, partial: float) -> None:
    """Write a synthetic blind-sweep phantom in the ACOUSLIC-AI layout (images, masks, circumference CSV).

    Example: fetaledge data phantom --out phantom --cases 4 --seed 1
    """
    from fetaledge.data.phantom import PhantomConfig, write_phantom
    from fetaledge.progress import bar

    cfg = PhantomConfig(cases=cases, seed=seed, frames_per_sweep=frames_per_sweep, noise=noise,
                        contrast=contrast, tilt=tilt, partial=partial)
    with bar("phantom", total=cases * 6 * frames_per_sweep, unit="frame") as b:
        written = write_phantom(out, cfg, progress=b.update)
    click.echo(f"wrote {len(written)} cases ({len({c.subject_id for c in written})} subjects) to {out}")


@data.command("prepare")
@click.argument("src", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Cache folder to write.")
@click.option("--size", type=int, default=224, show_default=True, help="Square side of cached frames.")
@click.option("--sweeps", type=click.Choice(["annotated", "all"]), default="annotated", show_default=True,
              help="'annotated': only sweeps with an AC value (the paper's setting); 'all': all six.")
@click.option("--split-seed", type=int, default=0, show_default=True, help="Seed of the subject-level split.")
def data_prepare(src: Path, out: Path, size: int, sweeps: str, split_seed: int) -> None:
    """Preprocess an ACOUSLIC-layout folder into a frame cache with a subject-level split (resumable).

    Example: fetaledge data prepare phantom --out cache
    """
    from fetaledge.data.cache import prepare_cache
    from fetaledge.progress import bar

    with bar("prepare", unit="frame") as b:
        def on_total(n: int) -> None:
            b.total = n
            b.refresh()

        manifest = prepare_cache(src, out, size=size, sweeps=sweeps, seed=split_seed, progress=b.update,
                                 on_total=on_total)
    n_frames = sum(e["frames"] for e in manifest["cases"])
    click.echo(f"cached {len(manifest['cases'])} cases, {n_frames} frames at {size}x{size} in {out}")


@data.command("stats")
@click.argument("cache", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def data_stats(cache: Path, as_json: bool) -> None:
    """Cases, subjects, frames and positives per split of a prepared cache.

    Example: fetaledge data stats cache
    """
    import json

    from fetaledge.data.cache import FrameCache

    fc = FrameCache(cache)
    stats = fc.stats()
    shared = _shared_subjects(fc)
    if as_json:
        click.echo(json.dumps({"splits": stats, "subjects_shared_between_splits": shared}, indent=2))
        return
    click.echo(f"{'split':<6} {'cases':>6} {'subjects':>9} {'frames':>8} {'positives':>10} {'rate':>7}")
    for name, s in stats.items():
        rate = s["positives"] / s["frames"] if s["frames"] else 0.0
        click.echo(f"{name:<6} {s['cases']:>6} {s['subjects']:>9} {s['frames']:>8} {s['positives']:>10} {rate:>7.2%}")
    click.echo(f"subjects shared between splits: {len(shared)}")


def _shared_subjects(fc) -> list[str]:
    seen: dict[str, str] = {}
    shared = set()
    for name, subs in fc.split.subjects.items():
        for s in subs:
            if s in seen and seen[s] != name:
                shared.add(s)
            seen[s] = name
    return sorted(shared)


# Edge stages (export, quantize, build, verify, infer, bench) live in their own module.
from fetaledge.cli_edge import register as _register_edge  # noqa: E402

_register_edge(main)


if __name__ == "__main__":  # pragma: no cover
    main()
