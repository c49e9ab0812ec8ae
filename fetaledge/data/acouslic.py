"""ACOUSLIC-AI reader: the real layout, read one sweep at a time through SimpleITK.

Layout (root = the unzipped ``acouslic-ai-train-set``)::

    images/stacked_fetal_ultrasound/<uuid>.mha   840 x 562 x 744 uint8, 0.28 mm
    masks/stacked_fetal_abdomen/<uuid>.mha       same shape, 0 irrelevant / 1 optimal / 2 suboptimal
    circumferences/fetal_abdominal_circumferences_per_sweep.csv   uuid,subject_id,sweep_1_ac_mm..sweep_6_ac_mm

A case is never held whole: :meth:`AcouslicCase.read_sweep` streams one sweep (140 frames, ~58 MB per
stack) through SimpleITK's region extraction, so memory stays bounded by about one sweep of image + mask.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fetaledge.data import layout as L
from fetaledge.errors import FetaledgeError


def _sitk():
    try:
        import SimpleITK as sitk
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise FetaledgeError(
            "SimpleITK is needed to read .mha files", hint="pip install 'fetaledge[train]'"
        ) from exc
    return sitk


@dataclass(frozen=True)
class StackInfo:
    """Header of one .mha stack: (frames, height, width), pixel type and spacing."""

    path: Path
    frames: int
    height: int
    width: int
    pixel_type: str
    spacing: tuple[float, ...]


def read_stack_info(path: Path, what: str) -> StackInfo:
    """Read an .mha header only; a missing or unreadable file is a clear error."""
    sitk = _sitk()
    path = Path(path)
    if not path.is_file():
        raise FetaledgeError(f"{what} not found: {path}", hint="check the ACOUSLIC-AI folder is complete")
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError as exc:
        raise FetaledgeError(
            f"{what} {path} is not a readable .mha: {_first_line(exc)}",
            hint="re-download or re-extract this file",
        ) from exc
    size = reader.GetSize()
    if len(size) != 3:
        raise FetaledgeError(f"{what} {path} has {len(size)} dimensions, expected a 3-D stack of frames")
    w, h, n = size
    expected = n * h * w
    data_bytes = _local_data_bytes(path)
    if data_bytes is not None and data_bytes < expected:
        raise FetaledgeError(
            f"{what} {path} is truncated: {data_bytes} bytes of pixel data, expected {expected} ({n} frames)",
            hint="re-download or re-extract this file",
        )
    return StackInfo(path, n, h, w, sitk.GetPixelIDValueAsString(reader.GetPixelID()), tuple(reader.GetSpacing()))


def _first_line(exc: Exception) -> str:
    lines = [s.strip() for s in str(exc).splitlines() if s.strip()]
    # SimpleITK messages start with a source location line; the last line carries the reason.
    return lines[-1] if lines else type(exc).__name__


def _local_data_bytes(path: Path) -> int | None:
    """Bytes after the header of an uncompressed MetaImage with LOCAL data; None when not applicable."""
    with open(path, "rb") as f:
        head = f.read(4096)
    marker = b"ElementDataFile = LOCAL"
    if marker not in head or b"CompressedData = True" in head:
        return None
    start = head.index(marker) + len(marker)
    start = head.index(b"\n", start) + 1
    return path.stat().st_size - start


@dataclass(frozen=True)
class CaseRecord:
    """One row of the circumference CSV: a case (scan) of one subject with its per-sweep AC (mm or NaN)."""

    uuid: str
    subject_id: str
    sweep_ac_mm: tuple[float, ...]

    @property
    def annotated_sweeps(self) -> list[int]:
        return [k for k, ac in enumerate(self.sweep_ac_mm) if not math.isnan(ac)]


#: Spellings of a missing value in the circumference CSV (compared case-insensitively after stripping): pandas
#: writes ``nan`` or an empty field, R and spreadsheets ``NA``, JSON-minded tools ``null``.
MISSING_VALUES = frozenset({"", "nan", "na", "null"})


def parse_ac_value(raw: str | None, where: str) -> float:
    """One AC cell -> millimetres, or NaN for a missing value (:data:`MISSING_VALUES`).

    Example:
        >>> parse_ac_value(" 231.5 ", "x"), parse_ac_value("NA", "x")
        (231.5, nan)
    """
    text = (raw or "").strip()
    if text.lower() in MISSING_VALUES:
        return math.nan
    try:
        value = float(text)
    except ValueError:
        value = math.nan
        bad = True
    else:
        bad = not math.isfinite(value) or value <= 0
    if bad:
        raise FetaledgeError(f"{where}={text!r} is not a circumference in mm",
                             hint="write a positive number, or leave the cell empty (also accepted: nan, NA, null)")
    return value


def read_circumferences(root: Path) -> list[CaseRecord]:
    """Parse the per-sweep AC CSV with clear errors for missing columns and bad values.

    The file is read as UTF-8 with an optional byte-order mark (``utf-8-sig``: Excel writes one, and without
    this the first column would be named ``\ufeffuuid``); missing AC values may be empty, nan, NA or null.

    Example:
        >>> records = read_circumferences(Path("acouslic-ai-train-set"))  # doctest: +SKIP
        >>> records[0].annotated_sweeps                                    # doctest: +SKIP
        [0, 2]
    """
    path = Path(root) / L.CSV_PATH
    if not path.is_file():
        raise FetaledgeError(
            f"circumference CSV not found: {path}",
            hint=f"point at the ACOUSLIC-AI root that holds {L.CSV_PATH}",
        )
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            return _parse_rows(path, csv.DictReader(f))
    except UnicodeDecodeError as exc:
        raise FetaledgeError(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start})",
                             hint="save the CSV as UTF-8") from exc


def _parse_rows(path: Path, reader: csv.DictReader) -> list[CaseRecord]:
    names = [(n or "").strip() for n in (reader.fieldnames or [])]
    reader.fieldnames = names
    missing = [c for c in L.CSV_COLUMNS if c not in names]
    if missing:
        raise FetaledgeError(f"{path} lacks columns {missing}; expected {list(L.CSV_COLUMNS)}",
                             hint=f"the header it has: {names}")
    records = []
    for line, row in enumerate(reader, start=2):
        acs = tuple(parse_ac_value(row[f"sweep_{k}_ac_mm"], f"{path} line {line}: sweep_{k}_ac_mm")
                    for k in range(1, L.N_SWEEPS + 1))
        uuid = (row["uuid"] or "").strip()
        if uuid.lower() in MISSING_VALUES:
            raise FetaledgeError(f"{path} line {line}: empty uuid", hint="every row names its scan's uuid")
        records.append(CaseRecord(uuid, (row["subject_id"] or "").strip(), acs))
    return records


@dataclass(frozen=True)
class SweepData:
    """One sweep: frames (n, H, W) uint8 and per-frame labels (0/1/2: 1 if any pixel is 1, else 2 if any is 2)."""

    sweep: int
    frames: np.ndarray
    labels: np.ndarray


class AcouslicCase:
    """One validated case: image and mask headers agree, frame count is a multiple of 6.

    Example:
        >>> ds = AcouslicDataset("acouslic-ai-train-set")  # doctest: +SKIP
        >>> case = next(ds.cases())                         # doctest: +SKIP
        >>> sweep = case.read_sweep(0)                      # 140 frames, never the whole case
    """

    def __init__(self, root: Path, record: CaseRecord) -> None:
        self.record = record
        self.image_path = Path(root) / L.IMAGES_DIR / f"{record.uuid}.mha"
        self.mask_path = Path(root) / L.MASKS_DIR / f"{record.uuid}.mha"
        if not self.image_path.is_file():
            raise FetaledgeError(
                f"CSV row for uuid {record.uuid} has no image: {self.image_path} is missing",
                hint="restore the image or remove the row from the circumference CSV",
            )
        self.image = read_stack_info(self.image_path, "image")
        self.mask = read_stack_info(self.mask_path, "mask")
        img, msk = self.image, self.mask
        if (img.frames, img.height, img.width) != (msk.frames, msk.height, msk.width):
            raise FetaledgeError(
                f"case {record.uuid}: image is {img.frames}x{img.height}x{img.width} but mask is "
                f"{msk.frames}x{msk.height}x{msk.width} (frames x height x width)",
                hint="image and mask must come from the same case",
            )
        if img.frames == 0 or img.frames % L.N_SWEEPS:
            raise FetaledgeError(
                f"case {record.uuid}: {img.frames} frames is not a multiple of {L.N_SWEEPS} sweeps",
                hint="each stack holds six sweeps of equal length (140 frames each in ACOUSLIC-AI)",
            )
        if img.pixel_type != "8-bit unsigned integer" or msk.pixel_type != "8-bit unsigned integer":
            raise FetaledgeError(
                f"case {record.uuid}: expected uint8 image and mask, got {img.pixel_type} / {msk.pixel_type}"
            )

    @property
    def uuid(self) -> str:
        return self.record.uuid

    @property
    def frames_per_sweep(self) -> int:
        return self.image.frames // L.N_SWEEPS

    def _read_frames(self, info: StackInfo, start: int, count: int) -> np.ndarray:
        sitk = _sitk()
        reader = sitk.ImageFileReader()
        reader.SetFileName(str(info.path))
        reader.SetExtractIndex((0, 0, start))
        reader.SetExtractSize((info.width, info.height, count))
        try:
            arr = sitk.GetArrayFromImage(reader.Execute())
        except RuntimeError as exc:
            raise FetaledgeError(
                f"{info.path} could not be read (frames {start}..{start + count - 1}): {_first_line(exc)}",
                hint="the file is corrupt; re-download or re-extract it",
            ) from exc
        return arr.reshape(count, info.height, info.width)

    def read_sweep(self, sweep: int) -> SweepData:
        """Read sweep ``sweep`` (0-based) of image and mask; labels per frame from the mask."""
        n = self.frames_per_sweep
        frames = self._read_frames(self.image, sweep * n, n)
        mask = self._read_frames(self.mask, sweep * n, n)
        bad = np.setdiff1d(np.unique(mask), [0, 1, 2])
        if bad.size:
            raise FetaledgeError(f"case {self.uuid} sweep {sweep + 1}: mask values {bad.tolist()} not in {{0,1,2}}")
        has1 = (mask == L.LABEL_OPTIMAL).any(axis=(1, 2))
        has2 = (mask == L.LABEL_SUBOPTIMAL).any(axis=(1, 2))
        labels = np.where(has1, L.LABEL_OPTIMAL, np.where(has2, L.LABEL_SUBOPTIMAL, L.LABEL_IRRELEVANT))
        return SweepData(sweep, frames, labels.astype(np.uint8))

    def read_sweep_mask(self, sweep: int) -> np.ndarray:
        """The mask frames (n, H, W) uint8 of sweep ``sweep`` (0-based): 0 / 1 optimal / 2 suboptimal."""
        n = self.frames_per_sweep
        mask = self._read_frames(self.mask, sweep * n, n)
        bad = np.setdiff1d(np.unique(mask), [0, 1, 2])
        if bad.size:
            raise FetaledgeError(f"case {self.uuid} sweep {sweep + 1}: mask values {bad.tolist()} not in {{0,1,2}}")
        return mask


class AcouslicDataset:
    """An ACOUSLIC-AI folder (real or phantom); validates the layout on construction."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise FetaledgeError(
                f"data folder not found: {self.root}",
                hint="pass the unzipped ACOUSLIC-AI folder, or make one with `fetaledge data phantom`",
            )
        for sub in (L.IMAGES_DIR, L.MASKS_DIR):
            if not (self.root / sub).is_dir():
                raise FetaledgeError(
                    f"{self.root} is not an ACOUSLIC-AI folder: {sub}/ is missing",
                    hint="the folder must hold images/, masks/ and circumferences/ as in acouslic-ai-train-set",
                )
        self.records = read_circumferences(self.root)
        if not self.records:
            raise FetaledgeError(f"{self.root / L.CSV_PATH} lists no cases")
        seen: set[str] = set()
        for r in self.records:
            if r.uuid in seen:
                raise FetaledgeError(f"uuid {r.uuid} appears twice in {L.CSV_PATH}")
            seen.add(r.uuid)

    def cases(self) -> Iterator[AcouslicCase]:
        """Validate and yield cases one by one (headers only; pixels are read per sweep)."""
        for record in self.records:
            yield AcouslicCase(self.root, record)
