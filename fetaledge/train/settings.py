"""The settings dataclasses of the training stages, in one torch-free module.

The CLI takes its option defaults from these, and the build config (:mod:`fetaledge.config`) is made of them,
so every default lives here once. The training modules (``loop``, ``pretrain``, ``finetune``, ``distill_loss``,
``distill_train``) import them from here.

Example:
    >>> TrainSettings(epochs=2).batch_size
    32
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from fetaledge.errors import FetaledgeError


@dataclass(frozen=True)
class TrainSettings:
    """Optimisation settings (the paper's: AdamW lr 3e-4, 5 epochs, batch 32, no scheduler)."""

    epochs: int = 5
    batch_size: int = 32
    lr: float = 3e-4
    weight_decay: float = 0.01
    pos_weight: float | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise FetaledgeError(f"--epochs must be >= 1, got {self.epochs}")
        if self.batch_size < 1:
            raise FetaledgeError(f"--batch-size must be >= 1, got {self.batch_size}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise FetaledgeError(f"--lr must be a positive number, got {self.lr}")
        if self.pos_weight is not None and not self.pos_weight > 0:
            raise FetaledgeError(f"--pos-weight must be > 0, got {self.pos_weight}")


@dataclass(frozen=True)
class PretrainSettings:
    """Stand-in pretraining recipe (full training of the tiny encoder on train frames, 3 classes)."""

    epochs: int = 10
    batch_size: int = 32
    lr: float = 2e-3
    weight_decay: float = 0.05
    class_weight: float = 5.0  # weight of the optimal and suboptimal classes against irrelevant frames
    augment: bool = True
    seed: int = 0


@dataclass(frozen=True)
class FinetuneConfig:
    """Everything that defines a finetune run (saved in run.json and every model folder)."""

    backbone: str | None = None  # None: FetalCLIP when weights are given, else the tiny stand-in
    weights: Path | None = None  # FetalCLIP (or tiny) encoder checkpoint
    backbone_weights: Path | None = None  # timm checkpoint for a baseline
    lora_targets: tuple[str, ...] | None = None
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.1
    train: TrainSettings = field(default_factory=TrainSettings)
    trials: int = 1
    device: str = "cpu"
    augment: bool = True
    pretrain: PretrainSettings | None = field(default_factory=PretrainSettings)  # tiny only; None: skip
    input_size: int | None = None  # baselines only (default 224)
    timm_kwargs: dict[str, Any] | None = None  # baselines only (tests shrink models with it)
    recipe: str = "default"  # "default" or "paper" (fetaledge.train.recipe)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("weights", "backbone_weights"):
            d[k] = None if d[k] is None else str(Path(d[k]).resolve())
        d["lora_targets"] = None if self.lora_targets is None else list(self.lora_targets)
        return d


@dataclass(frozen=True)
class KDConfig:
    """Weights of the distillation loss (see the module docstring for the defaults)."""

    alpha: float = 0.5
    temperature: float = 2.0
    pos_weight: float = 1.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.alpha <= 1.0:
            raise FetaledgeError(f"--alpha must lie in [0, 1], got {self.alpha}")
        if self.temperature <= 0:
            raise FetaledgeError(f"--temperature must be positive, got {self.temperature}")
        if self.pos_weight <= 0:
            raise FetaledgeError(f"--pos-weight must be positive, got {self.pos_weight}")


@dataclass(frozen=True)
class DistillSettings:
    """Optimisation settings of one student (defaults sized for the 2-core CPU phantom run)."""

    epochs: int = 4
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup_frac: float = 0.1  # linear warm-up over this fraction of the steps, then cosine decay to 0
    seed: int = 0
    kd: KDConfig = field(default_factory=KDConfig)
    augment: bool = True

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise FetaledgeError(f"--epochs must be >= 1, got {self.epochs}")
        if self.batch_size < 2:
            raise FetaledgeError(f"--batch-size must be >= 2 (batch norm), got {self.batch_size}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise FetaledgeError(f"--lr must be a positive number, got {self.lr}")

    def to_json(self) -> dict:
        return asdict(self)
