"""HC18 (van den Heuvel et al. 2018, PLoS ONE 13(8): e0200412; Zenodo 1327317, CC BY 4.0): fetal-head
ultrasound images with ellipse-outline annotations and the reference head circumference in mm.

The training set as released: ``training_set/NNN_HC.png`` (800x540 grey; ``NNN_2HC.png``, ``NNN_3HC.png``
are further images of subject NNN), ``NNN_HC_Annotation.png`` (the ellipse drawn as a thin outline, not a filled
mask) and ``training_set_pixel_size_and_HC.csv`` (pixel size in mm, reference HC in mm). The project never
copies these files: point ``root`` at a folder holding them (the shared copy is ``../shared/data/real/hc18``).

The filled mask is the drawn ellipse plus everything it encloses: the background is the 4-connected region
touching the image border (a drawn outline is 8-connected, so a 4-connected flood cannot leak through it). The
shared copy's annotation PNGs are already filled ellipses (every one checked: filling adds no pixel); their
edge lies about 1.4 px outside the ellipse the reference HC was computed from (the drawn line's width), so HC
from these masks reads about 0.7 mm high (``benchmarks/results/hc18.md``).

Example:
    >>> items = read_hc18("../shared/data/real/hc18")        # doctest: +SKIP
    >>> items[0].name, items[0].subject, items[0].pixel_mm     # doctest: +SKIP
    ('000_HC', '000', 0.0691358041432)
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fetaledge.errors import FetaledgeError
from fetaledge.runtime.contour import label_components
from fetaledge.runtime.geometry import letterbox
from fetaledge.runtime.images import read_image

__all__ = ["HC18_ATTRIBUTION", "Hc18Item", "filled_mask", "frame_and_mask", "grid_arrays", "hc18_subjects", "outline",
           "read_hc18"]

HC18_ATTRIBUTION = ("HC18 (van den Heuvel TLA, de Bruijn D, de Korte CL, van Ginneken B, 2018, PLoS ONE "
                    "13(8): e0200412; Zenodo 10.5281/zenodo.1327317), CC BY 4.0")
CSV_NAME = "training_set_pixel_size_and_HC.csv"
_NAME = re.compile(r"^(\d{3})_(\d*)HC\.png$")


@dataclass(frozen=True)
class Hc18Item:
    """One HC18 image: ``name`` (e.g. ``010_2HC``), ``subject`` (``010``), paths, pixel size, reference HC."""

    name: str
    subject: str
    image: Path
    annotation: Path
    pixel_mm: float
    hc_mm: float


def _find_csv(root: Path) -> Path:
    for cand in (root / CSV_NAME, root / "training_set" / CSV_NAME, root.parent / CSV_NAME):
        if cand.is_file():
            return cand
    raise FetaledgeError(f"HC18: {CSV_NAME} not found beside or in {root}",
                         hint="point --hc18 at the folder holding training_set/ and the CSV (Zenodo 1327317)")


def read_hc18(root: Path | str) -> list[Hc18Item]:
    """Every CSV row of an HC18 training set whose image and annotation exist, in CSV order.

    A row whose files are missing is an error naming it (a partial copy is a broken copy).
    """
    root = Path(root)
    images = root / "training_set" if (root / "training_set").is_dir() else root
    if not images.is_dir():
        raise FetaledgeError(f"HC18 folder not found: {root}", hint="point --hc18 at the HC18 training set")
    items = []
    with open(_find_csv(root), newline="") as fh:
        rows = list(csv.reader(fh))
    if not rows or [c.strip().lower() for c in rows[0][:3]] != ["filename", "pixel size(mm)",
                                                              "head circumference (mm)"]:
        raise FetaledgeError(f"HC18 CSV header is {rows[:1]}, expected filename,pixel size(mm),"
                             "head circumference (mm)", hint="use the release's training_set_pixel_size_and_HC.csv")
    for k, row in enumerate(rows[1:], start=2):
        name = row[0].strip()
        m = _NAME.match(name)
        if not m:
            raise FetaledgeError(f"HC18 CSV line {k}: unexpected file name {name!r}")
        img = images / name
        ann = images / name.replace(".png", "_Annotation.png")
        for p in (img, ann):
            if not p.is_file():
                raise FetaledgeError(f"HC18: {p} (CSV line {k}) is missing", hint="restore the full training set")
        items.append(Hc18Item(name[:-4], m.group(1), img, ann, float(row[1]), float(row[2])))
    if not items:
        raise FetaledgeError(f"HC18 CSV in {root} lists no images")
    return items


def hc18_subjects(items: list[Hc18Item]) -> dict[str, str]:
    """``name -> subject`` for a subject-level split (``fetaledge.data.splits.make_split``)."""
    return {it.name: it.subject for it in items}


def outline(path: Path | str) -> np.ndarray:
    """The drawn ellipse outline of an annotation PNG as a bool image (grey >= 128)."""
    return read_image(path) >= 128


def filled_mask(path: Path | str) -> np.ndarray:
    """The annotation as a filled bool mask (module docstring).

    Example:
        >>> m = filled_mask("../shared/data/real/hc18/training_set/000_HC_Annotation.png")  # doctest: +SKIP
        >>> m.shape, m.dtype                                                                  # doctest: +SKIP
        ((540, 800), dtype('bool'))
    """
    line = outline(path)
    if not line.any():
        raise FetaledgeError(f"HC18 annotation {path} has no outline pixels")
    labels, _ = label_components(~line, diagonal=False)
    border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    outside = np.isin(labels, border[border > 0])
    return ~outside


def frame_and_mask(item: Hc18Item) -> tuple[np.ndarray, np.ndarray]:
    """(grey uint8 frame, filled bool mask) of one item at full size; both must be the same size."""
    frame = read_image(item.image)
    mask = filled_mask(item.annotation)
    if frame.shape != mask.shape:
        raise FetaledgeError(f"HC18 {item.name}: image {frame.shape} and annotation {mask.shape} differ in size")
    return frame, mask


def grid_arrays(items: list[Hc18Item], out_h: int, out_w: int,
                progress: Callable[[int], None] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Letterboxed (N, out_h, out_w) uint8 frames and soft masks (0..255: the covered share of each grid pixel).

    Both go through :func:`fetaledge.runtime.geometry.letterbox`, the rule the exported graph folds in.
    """
    frames = np.zeros((len(items), out_h, out_w), np.uint8)
    masks = np.zeros_like(frames)
    for k, it in enumerate(items):
        f, m = frame_and_mask(it)
        frames[k] = letterbox(f, out_h, out_w)
        masks[k] = letterbox(m.astype(np.uint8) * 255, out_h, out_w)
        if progress:
            progress(1)
    return frames, masks
