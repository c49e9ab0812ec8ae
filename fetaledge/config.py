"""The build config: one typed, strict, frozen dataclass per section, read once (``fetaledge build --config``).

Sections (every key optional; absent keys keep the defaults below, which are the library's own)::

    phantom    synthetic data (without --data): PhantomConfig fields (cases 12, frames_per_sweep 48 here)
    data       plane datasets (images + labels CSV) only: positive_planes, keep_published_split, labels, ...
    finetune   the teacher: TrainSettings fields (epochs, batch_size, lr, ...), LoRA, trials, and
               ``pretrain`` (the stand-in pretraining: PretrainSettings fields, or false to skip it)
    distill    students: DistillSettings fields (epochs, batch_size, lr, ..., ``kd``: alpha, temperature,
               pos_weight), students, resolution, init, threads, ...
    quantize   calibration_frames, max_drop, min_agreement, max_fallbacks, backends
    segment    the measurement (segment stage): enabled, student, grid, epochs, ..., the INT8 gate's limits
    bundle     other_sizes (refuse | letterbox)

An unknown key anywhere, or a value of the wrong type, is a one-line :class:`FetaledgeError` naming it, its
section and the valid keys. :func:`config_to_json` writes the resolved config (saved beside each bundle as
``build_config.json``) and :func:`parse_config` reads it back to the same value.

Example:
    >>> cfg = parse_config({"finetune": {"epochs": 2, "pretrain": False}})
    >>> cfg.finetune.epochs, cfg.finetune.pretrain, cfg.quantize.max_drop
    (2, False, 0.01)
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from fetaledge.data.phantom import PhantomConfig
from fetaledge.data.planes import DEFAULT_POSITIVE
from fetaledge.errors import FetaledgeError
from fetaledge.fsio import read_json
from fetaledge.train.settings import DistillSettings, FinetuneConfig, KDConfig, PretrainSettings, TrainSettings
from fetaledge.typed import from_json, to_json

#: The build's phantom: bigger than ``fetaledge data phantom``'s default (8 cases), shorter sweeps (48 frames).
BUILD_PHANTOM = PhantomConfig(cases=12, seed=0, frames_per_sweep=48)

_F = FinetuneConfig()
_T = TrainSettings()
_D = DistillSettings()


@dataclass(frozen=True)
class DataSection:
    """Plane datasets only (see :mod:`fetaledge.data.planes`); an ACOUSLIC folder takes no options."""

    positive_planes: tuple[str, ...] = DEFAULT_POSITIVE
    keep_published_split: bool = False
    labels: tuple[Path, ...] | None = None  # labels CSV(s); None: the dataset's own
    skip_missing_images: bool = False
    split_seed: int = 0
    val_fraction: float = 0.2

    def __post_init__(self) -> None:
        if not self.positive_planes:
            raise FetaledgeError("positive_planes must name at least one plane")
        if not 0.0 < self.val_fraction < 1.0:
            raise FetaledgeError(f"val_fraction must lie in (0, 1), got {self.val_fraction}")


@dataclass(frozen=True)
class FinetuneSection:
    """The teacher stage: :class:`FinetuneConfig` without the paths and device the CLI gives, train settings flat."""

    epochs: int = _T.epochs
    batch_size: int = _T.batch_size
    lr: float = _T.lr
    weight_decay: float = _T.weight_decay
    pos_weight: float | None = _T.pos_weight
    seed: int = _T.seed
    backbone: str | None = _F.backbone
    backbone_weights: Path | None = _F.backbone_weights
    lora_targets: tuple[str, ...] | None = _F.lora_targets
    lora_r: int = _F.lora_r
    lora_alpha: int = _F.lora_alpha
    lora_dropout: float = _F.lora_dropout
    trials: int = _F.trials
    augment: bool = _F.augment
    # The stand-in pretraining of the tiny teacher; false skips it (true: the default settings).
    pretrain: PretrainSettings | bool = field(default_factory=PretrainSettings)
    input_size: int | None = _F.input_size
    timm_kwargs: dict[str, Any] | None = _F.timm_kwargs
    # "paper": FetalCLIP-IQA's split, labels, offline copies and LoRA targets (fetaledge.train.recipe)
    recipe: Literal["default", "paper"] = "default"

    def __post_init__(self) -> None:
        TrainSettings(**self._train())  # its checks (epochs >= 1, ...) with its messages

    def _train(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(TrainSettings)}

    def finetune_config(self, weights: Path | None, device: str) -> FinetuneConfig:
        """The library's config for this section, with the CLI's weights and device."""
        pre = self.pretrain
        pretrain = None if pre is False else PretrainSettings() if pre is True else pre
        rest = {f.name: getattr(self, f.name) for f in fields(FinetuneConfig)
                if f.name not in ("weights", "device", "train", "pretrain")}
        return FinetuneConfig(weights=weights, device=device, train=TrainSettings(**self._train()),
                              pretrain=pretrain, **rest)


@dataclass(frozen=True)
class DistillSection:
    """The distill stage: :class:`DistillSettings` fields flat (``kd`` nested) plus what picks the students.

    ``None`` leaves the choice to :class:`fetaledge.train.distill.DistillConfig` (default student, resolution by
    device, ...)."""

    epochs: int = _D.epochs
    batch_size: int = _D.batch_size
    lr: float = _D.lr
    weight_decay: float = _D.weight_decay
    warmup_frac: float = _D.warmup_frac
    seed: int = _D.seed
    kd: KDConfig = field(default_factory=KDConfig)
    augment: bool = _D.augment
    students: tuple[str, ...] | None = None
    resolution: int | None = None
    init: Literal["auto", "imagenet", "random"] | None = None
    student_weights: Path | None = None
    logit_store: Path | None = None
    latency_runs: int | None = None
    tolerance: float | None = None
    threads: int | None = None

    def __post_init__(self) -> None:
        self.settings()
        if self.students is not None and not self.students:
            raise FetaledgeError("students must name at least one student (or be left out)")

    def settings(self) -> DistillSettings:
        """The optimisation settings of each student."""
        return DistillSettings(**{f.name: getattr(self, f.name) for f in fields(DistillSettings)})

    def options(self) -> dict[str, Any]:
        """The :class:`DistillConfig` keyword arguments this section sets (the rest keep their defaults)."""
        names = ("students", "resolution", "init", "student_weights", "logit_store", "latency_runs", "tolerance",
                 "threads")
        return {n: getattr(self, n) for n in names if getattr(self, n) is not None}


@dataclass(frozen=True)
class QuantizeSection:
    """The INT8 stage and its gate; passed on to :func:`fetaledge.quantization.quantize_student`."""

    calibration_frames: int = 300
    max_drop: float = 0.01
    min_agreement: float = 0.99
    max_fallbacks: int | None = None  # None: every fallback recipe of the backend
    backends: tuple[str, ...] | None = None  # None: every backend the target names (e.g. one, for a quick CI build)
    # The agreement gate (fetaledge.gate_frames): at least this many gate frames, made of the validation frames, the
    # train frames calibration did not use and ``agreement_copies`` augmented copies of each calibration frame,
    # at most ``agreement_cap`` of the unlabelled ones (borderline frames first).
    min_gate_frames: int = 200
    agreement_copies: int = 2
    agreement_cap: int = 600
    qat: bool = False  # a backend that fails its gate gets one try on quantization-aware fine-tuned weights

    def __post_init__(self) -> None:
        if self.calibration_frames < 1:
            raise FetaledgeError(f"calibration_frames must be >= 1, got {self.calibration_frames}")
        if not 0.0 <= self.max_drop <= 1.0:
            raise FetaledgeError(f"max_drop must lie in [0, 1], got {self.max_drop}")
        if not 0.0 <= self.min_agreement <= 1.0:
            raise FetaledgeError(f"min_agreement must lie in [0, 1], got {self.min_agreement}")
        if self.min_gate_frames < 0 or self.agreement_copies < 0 or self.agreement_cap < 0:
            raise FetaledgeError("min_gate_frames, agreement_copies and agreement_cap must be >= 0")
        if self.max_fallbacks is not None and self.max_fallbacks < 0:
            raise FetaledgeError(f"max_fallbacks must be >= 0, got {self.max_fallbacks}")
        if self.backends is not None:
            from quantize.backends import backends

            known = sorted(backends())
            bad = [b for b in self.backends if b not in known]
            if bad:
                raise FetaledgeError(f"unknown backend(s) {', '.join(bad)}", hint=f"known: {', '.join(known)}")


@dataclass(frozen=True)
class SegmentSection:
    """The segment stage (:mod:`fetaledge.seg_build`): a segmentation student trained on the abdomen masks, INT8
    behind the measurement gate (:func:`fetaledge.seg_eval.seg_gate`), shipped in the bundle to measure the AC.

    ``enabled`` false (or a target without the stage) builds a classification-only bundle. The defaults keep the
    default phantom build's extra cost to about a minute on 2 cores (measured in the bundle's stage times)."""

    enabled: bool = True
    student: str = "unet8"
    grid_height: int = 96
    grid_width: int = 128
    epochs: int = 12
    batch_size: int = 16
    lr: float = 3e-3
    seed: int = 0
    threads: int = 2
    negatives_per_sweep: int = 2  # frames without a mask per kept sweep (the student must learn "nothing here")
    max_train_frames: int = 800
    # On the build's phantom only: extra cross sweeps rendered for training / validation + gate (seeds no case uses).
    phantom_sweeps: int = 30
    phantom_val_sweeps: int = 10
    calibration_frames: int = 48
    golden_frames: int = 6
    min_dice: float = 0.97
    min_agreement: float = 0.95
    max_mean_mm: float = 1.0

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "threads", "max_train_frames", "calibration_frames", "golden_frames"):
            if getattr(self, name) < 1:
                raise FetaledgeError(f"segment.{name} must be >= 1, got {getattr(self, name)}")
        for name in ("negatives_per_sweep", "phantom_sweeps", "phantom_val_sweeps"):
            if getattr(self, name) < 0:
                raise FetaledgeError(f"segment.{name} must be >= 0, got {getattr(self, name)}")
        if self.grid_height % 32 or self.grid_width % 32 or self.grid_height < 32 or self.grid_width < 32:
            raise FetaledgeError(f"segment grid {self.grid_height}x{self.grid_width} must be multiples of 32",
                                 hint="the student has five stride-2 levels; e.g. 96x128 for a 562x744 frame")
        if not self.lr > 0:
            raise FetaledgeError(f"segment.lr must be > 0, got {self.lr}")
        for name in ("min_dice", "min_agreement"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise FetaledgeError(f"segment.{name} must lie in [0, 1], got {getattr(self, name)}")
        if self.max_mean_mm < 0:
            raise FetaledgeError(f"segment.max_mean_mm must be >= 0, got {self.max_mean_mm}")


@dataclass(frozen=True)
class BundleSection:
    """What the bundle promises beyond the models."""

    # input.other_sizes of an ACOUSLIC bundle: refuse other raw sizes (the model only ever saw that probe's
    # geometry) or letterbox them. Plane-dataset bundles always letterbox (their training did).
    other_sizes: Literal["refuse", "letterbox"] = "refuse"


@dataclass(frozen=True)
class BuildConfig:
    """Every option of ``fetaledge build`` that is not a path or the target: one section per stage."""

    phantom: PhantomConfig = BUILD_PHANTOM
    data: DataSection = field(default_factory=DataSection)
    finetune: FinetuneSection = field(default_factory=FinetuneSection)
    distill: DistillSection = field(default_factory=DistillSection)
    quantize: QuantizeSection = field(default_factory=QuantizeSection)
    segment: SegmentSection = field(default_factory=SegmentSection)
    bundle: BundleSection = field(default_factory=BundleSection)


def parse_config(data: Any, where: str = "build config") -> BuildConfig:
    """A :class:`BuildConfig` from its JSON object (strict: see the module docstring)."""
    return from_json(BuildConfig, data, where, base=BuildConfig())


def load_config(path: Path | None) -> BuildConfig:
    """Read a build config JSON (``None``: the defaults).

    Example:
        >>> load_config(Path("benchmarks/real_african.json")).distill.threads  # doctest: +SKIP
        1
    """
    if path is None:
        return BuildConfig()
    return parse_config(read_json(path, "build config"), str(path))


def config_to_json(cfg: BuildConfig) -> dict[str, Any]:
    """The resolved config as JSON (every value, defaults included)."""
    return to_json(cfg)
