"""Training data: resolve --data to a frame cache, load splits as tensors, turn uint8 frames into model input.

Frames stay uint8 at the cache size in memory; each batch is resampled to the model's input size (the same
linear maps as the exported graph, :class:`~fetaledge.models.preprocess.LinearResample`), optionally augmented,
and normalised on the training device.

Example:
    >>> cache = resolve_cache(Path("phantom"), Path("runs/teacher"))   # doctest: +SKIP
    >>> frames = load_frames(cache, "train")                            # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from fetaledge.data.cache import FrameCache, is_cache
from fetaledge.data.splits import SPLITS
from fetaledge.errors import FetaledgeError
from fetaledge.models.preprocess import GrayToInput, LinearResample
from fetaledge.preprocess import FrameGeometry


def resolve_cache(data: Path, out: Path, *, prepare: bool = True) -> Path:
    """A prepared cache as is, or an ACOUSLIC-layout folder prepared into ``out/cache`` (resumable)."""
    data = Path(data)
    if is_cache(data):
        return data
    if not data.exists():
        raise FetaledgeError(f"--data {data} does not exist", hint="pass an ACOUSLIC-layout folder or a cache")
    if not (data / "images").is_dir():
        raise FetaledgeError(
            f"--data {data} is neither a prepared frame cache nor an ACOUSLIC-layout folder (no images/)",
            hint="pass the ACOUSLIC root (images/, masks/, circumferences/) or a `fetaledge data prepare` output",
        )
    target = Path(out) / "cache"
    if prepare:
        from fetaledge.data.cache import prepare_cache
        from fetaledge.progress import bar

        with bar("prepare", unit="frame") as b:
            def on_total(n: int) -> None:
                b.total = n
                b.refresh()

            prepare_cache(data, target, progress=b.update, on_total=on_total)
    return target


def cache_fingerprint(root: Path) -> str:
    """sha256 of the cache's manifest and split files (names the data a model was trained on)."""
    h = hashlib.sha256()
    for name in ("manifest.json", "splits.json"):
        h.update((Path(root) / name).read_bytes())
    return h.hexdigest()


@dataclass
class Frames:
    """One split in memory: uint8 images (n, S, S), binary targets (n,), ACOUSLIC labels 0/1/2, case ids."""

    split: str
    images: torch.Tensor
    targets: torch.Tensor
    labels: torch.Tensor
    case: np.ndarray

    def __len__(self) -> int:
        return int(self.targets.numel())

    @property
    def positives(self) -> int:
        return int(self.targets.sum().item())


def load_frames(cache: Path | FrameCache, split: str) -> Frames:
    """Load ``split`` of a cache as tensors."""
    fc = cache if isinstance(cache, FrameCache) else FrameCache(cache)
    sf = fc.load(split)
    return Frames(split, torch.from_numpy(np.ascontiguousarray(sf.images)), torch.from_numpy(sf.targets),
                  torch.from_numpy(sf.labels.astype(np.int64)), sf.case)


def check_splits(cache: Path | FrameCache, splits: tuple[str, ...] = SPLITS) -> dict[str, dict[str, int]]:
    """Every split must hold frames and positive frames; returns the cache stats. Clear error otherwise."""
    fc = cache if isinstance(cache, FrameCache) else FrameCache(cache)
    stats = fc.stats()
    for name in splits:
        s = stats[name]
        if s["frames"] == 0:
            raise FetaledgeError(f"the {name} split of {fc.root} holds no frames",
                                 hint="prepare the cache from more cases (at least 3 subjects)")
        if s["positives"] == 0:
            raise FetaledgeError(
                f"the {name} split of {fc.root} holds no positive (abdominal-plane) frame "
                f"({s['frames']} frames, {s['cases']} cases): F1, the threshold and the loss are meaningless",
                hint="use more cases or another --split-seed in `fetaledge data prepare` so every split has positives",
            )
    return stats


class InputPipeline(nn.Module):
    """uint8 frames (B, C, C) at the cache size -> normalised RGB (B, 3, S, S) at the model size.

    In training mode with ``augment`` it applies a small random affine (rotation +-10 degrees, shift +-8 %, scale
    0.9-1.1) and brightness/contrast jitter (+-15 %), a cheap online stand-in for the paper's offline copies.
    """

    def __init__(self, cache_size: int, input_size: int, norm: str, augment: bool = False) -> None:
        super().__init__()
        self.resample = (
            LinearResample.from_geometry(FrameGeometry(cache_size, cache_size, (cache_size, input_size)))
            if input_size != cache_size else None
        )
        self.to_input = GrayToInput(norm)
        self.augment = augment

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        x = frames.to(torch.float32)
        if self.resample is not None:
            x = self.resample(x)
        if self.training and self.augment:
            x = _augment(x)
        return self.to_input(x)


def _augment(x: torch.Tensor) -> torch.Tensor:
    b = x.shape[0]
    dev = x.device
    angle = (torch.rand(b, device=dev) * 2 - 1) * math.radians(10)
    scale = 1 + (torch.rand(b, device=dev) * 2 - 1) * 0.1
    shift = (torch.rand(b, 2, device=dev) * 2 - 1) * 0.08 * 2  # in [-1, 1] grid units
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = nn.functional.affine_grid(theta, (b, 1, *x.shape[-2:]), align_corners=False)
    x = nn.functional.grid_sample(x.unsqueeze(1), grid, align_corners=False, padding_mode="zeros").squeeze(1)
    gain = 1 + (torch.rand(b, 1, 1, device=dev) * 2 - 1) * 0.15
    bias = (torch.rand(b, 1, 1, device=dev) * 2 - 1) * 0.15 * 64
    return (x * gain + bias).clamp(0, 255)
