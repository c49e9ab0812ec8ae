"""A second data source: a folder of 2D ultrasound images with a CSV of plane labels, into the frame cache.

Three CSV formats are read (the layout is detected, or named with ``labels=``):

* **FETAL_PLANES_DB** (Burgos-Artizzu et al. 2020): ``FETAL_PLANES_DB_data.csv``, semicolon-separated,
  ``Image_name;Patient_num;Plane;Brain_plane;Operator;US_Machine;Train``, images ``Images/<Image_name>.png``.
  Group = ``Patient_num``, centre = ``US_Machine``.
* **African planes, curated** (``labels.csv`` of ``shared/data/real/african_fetal_planes``): ``file``,
  ``image_name``, ``plane``, ``label_abdomen``, ``center``, ``patient_num``, ``patient_group``, ``train``, ...
  Group = ``patient_group`` (patient numbers recur in every country, and 47 byte-identical images were filed
  under two patient ids: ``patient_group`` merges those ids), centre = ``center``.
* **African planes, published** (``African_train.csv`` / ``African_test.csv`` of Sendra-Balcells et al. 2023,
  comma-separated ``Patient_num,Plane,Train,Center,Image_name``). Group = ``<Center>_<Patient_num>``, merged
  (union) where byte-identical images appear under two ids, of which one copy is kept (a test copy first).

Labels: an image is positive (label 1) when its plane is one of ``positive_planes`` (``--positive-plane``,
repeatable, default "Fetal abdomen"), else 0. Plane names must be known (:data:`KNOWN_PLANES`).

Pixels: every image (grey or colour, any size) takes ONE path: grey by the integer BT.601 luma, then the
letterbox of :mod:`fetaledge.runtime.geometry` to the cache size S x S (for a square target: pad to square,
centred, then the antialiased triangle resample of :mod:`fetaledge.preprocess`). The cache records S x S as
its raw frame size, so the exported graph takes S x S frames and a bundle built from it says
``input.other_sizes: "letterbox"``: the device applies the very same two steps (docs/frame_geometry.md).

Split (never one group in two splits): with ``keep_published_split`` the published test set is the test split
(train-side images of a group that also has test images are left out, and listed), and validation groups are
carved from the published train set, stratified by whether a group holds a positive; otherwise a seeded,
stratified group split (70/10/20 of the groups).

Example:
    >>> ds = read_planes(Path("shared/data/real/african_fetal_planes"))            # doctest: +SKIP
    >>> manifest = prepare_planes_cache(ds.root, Path("cache"), keep_published_split=True)  # doctest: +SKIP
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fetaledge.data.splits import SPLITS, Split, save_split
from fetaledge.errors import FetaledgeError
from fetaledge.fsio import atomic_path, ensure_writable_dir, read_json, sha256_file, write_json
from fetaledge.runtime.geometry import letterbox

SOURCE_KIND = "planes"
CACHE_FORMAT = "fetaledge-frame-cache"  # the same format and version as fetaledge.data.cache
CACHE_VERSION = 1
KNOWN_PLANES = ("Fetal abdomen", "Fetal brain", "Fetal femur", "Fetal thorax", "Maternal cervix", "Other")
DEFAULT_POSITIVE = ("Fetal abdomen",)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
PIXEL_PATH = ("grey: integer BT.601 luma (19595 R + 38470 G + 7471 B + 32768) >> 16; then letterbox to the cache "
              "size (fetaledge.runtime.geometry, docs/frame_geometry.md)")

FETAL_PLANES_DB_COLUMNS = ("Image_name", "Patient_num", "Plane", "Brain_plane", "Operator", "US_Machine", "Train")
AFRICAN_PUBLISHED_COLUMNS = ("Patient_num", "Plane", "Train", "Center", "Image_name")
AFRICAN_LABELS_COLUMNS = ("file", "image_name", "plane", "center", "patient_num", "patient_group", "train")
LAYOUTS = ("fetal-planes-db", "african-labels", "african-published")


@dataclass(frozen=True)
class PlaneImage:
    """One labelled image of a plane dataset."""

    image_id: str  # unique name (the cache's case id)
    path: Path
    plane: str
    group: str  # the split unit: a patient (group of patient ids that share identical images)
    centre: str
    patient: str
    published_train: bool | None  # the publication's split; None where the CSV has none


@dataclass
class PlanesDataset:
    """The images of a plane dataset folder, validated (every image present, names unique, planes known)."""

    root: Path
    layout: str
    labels: list[Path]
    images: list[PlaneImage]
    notes: list[str] = field(default_factory=list)

    def planes(self) -> dict[str, int]:
        """Images per plane name."""
        out: dict[str, int] = {}
        for im in self.images:
            out[im.plane] = out.get(im.plane, 0) + 1
        return out


# --------------------------------------------------------------------------------------------- CSV reading
def _read_rows(path: Path, want: Sequence[str]) -> list[tuple[int, dict[str, str]]]:
    """(line number, row) of a CSV whose header holds ``want``; the delimiter (';' or ',') comes from the header.

    A row with more or fewer fields than the header (trailing empty fields aside) or an empty required value
    is an error naming the file and line.
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise FetaledgeError(f"cannot read labels CSV {path}: {exc.strerror}") from exc
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise FetaledgeError(f"labels CSV {path} is empty")
    delimiter = ";" if lines[0].count(";") > lines[0].count(",") else ","
    reader = csv.reader(lines, delimiter=delimiter)
    header = [h.strip() for h in next(reader)]
    while header and header[-1] == "":
        header.pop()
    missing = [c for c in want if c not in header]
    if missing:
        raise FetaledgeError(f"labels CSV {path}: header lacks column(s) {missing}; it has {header}",
                             hint=f"a {delimiter!r}-separated CSV with columns {', '.join(want)}")
    rows = []
    for lineno, fields in enumerate(reader, start=2):
        if not any(f.strip() for f in fields):
            continue
        while len(fields) > len(header) and fields[-1].strip() == "":
            fields = fields[:-1]
        if len(fields) != len(header):
            raise FetaledgeError(f"{path}:{lineno}: malformed row: {len(fields)} fields, the header has "
                                 f"{len(header)} ({delimiter!r}-separated): {delimiter.join(fields)[:120]!r}")
        row = {h: f.strip() for h, f in zip(header, fields, strict=True)}
        empty = [c for c in want if not row[c] and c not in ("Brain_plane", "Operator", "US_Machine")]
        if empty:
            raise FetaledgeError(f"{path}:{lineno}: malformed row: empty {empty}")
        rows.append((lineno, row))
    return rows


def _int(value: str, path: Path, lineno: int, column: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise FetaledgeError(f"{path}:{lineno}: malformed row: {column} must be an integer, got {value!r}") from None


def _train_flag(value: str, path: Path, lineno: int, column: str) -> bool:
    if value not in ("0", "1"):
        raise FetaledgeError(f"{path}:{lineno}: malformed row: {column} must be 0 or 1, got {value!r}")
    return value == "1"


def _plane(value: str, path: Path, lineno: int) -> str:
    canon = {p.lower(): p for p in KNOWN_PLANES}
    key = " ".join(value.split()).lower()
    if key not in canon:
        raise FetaledgeError(f"{path}:{lineno}: unknown plane name {value!r}",
                             hint=f"known planes: {', '.join(KNOWN_PLANES)}")
    return canon[key]


def _find_image(root: Path, name: str, extra_dirs: Sequence[Path] = ()) -> Path | None:
    """The file of an image name: as given, or with a known suffix, in images/, Images/, the root or extra dirs."""
    dirs = [root / "images", root / "Images", root, *extra_dirs]
    names = [name] if Path(name).suffix.lower() in IMAGE_SUFFIXES else [name + s for s in IMAGE_SUFFIXES]
    for d in dirs:
        for n in names:
            p = d / n
            if p.is_file():
                return p
    return None


def _parse_fetal_planes_db(root: Path, path: Path) -> tuple[list[PlaneImage], list[str]]:
    images, missing = [], []
    for lineno, row in _read_rows(path, FETAL_PLANES_DB_COLUMNS):
        plane = _plane(row["Plane"], path, lineno)
        patient = str(_int(row["Patient_num"], path, lineno, "Patient_num"))
        train = _train_flag(row["Train"], path, lineno, "Train")
        file = _find_image(root, row["Image_name"])
        if file is None:
            missing.append(f"{path.name}:{lineno} {row['Image_name']}")
            continue
        images.append(PlaneImage(row["Image_name"], file, plane, f"patient_{patient}",
                                 row["US_Machine"] or "unknown", patient, train))
    return images, missing


def _parse_african_labels(root: Path, path: Path) -> tuple[list[PlaneImage], list[str]]:
    images, missing = [], []
    for lineno, row in _read_rows(path, AFRICAN_LABELS_COLUMNS):
        plane = _plane(row["plane"], path, lineno)
        _int(row["patient_num"], path, lineno, "patient_num")
        train = _train_flag(row["train"], path, lineno, "train")
        if "label_abdomen" in row and row["label_abdomen"] not in ("", "0", "1"):
            raise FetaledgeError(f"{path}:{lineno}: malformed row: label_abdomen must be 0 or 1")
        if row.get("label_abdomen") and (row["label_abdomen"] == "1") != (plane == "Fetal abdomen"):
            raise FetaledgeError(f"{path}:{lineno}: label_abdomen {row['label_abdomen']} contradicts plane {plane!r}")
        file = root / row["file"]
        if not file.is_file():
            missing.append(f"{path.name}:{lineno} {row['file']}")
            continue
        images.append(PlaneImage(row["image_name"], file, plane, row["patient_group"], row["center"],
                                 row.get("patient_uid") or f"{row['center']}_{row['patient_num']}", train))
    return images, missing


def _parse_african_published(root: Path, paths: Sequence[Path]) -> tuple[list[PlaneImage], list[str], list[str]]:
    rows: list[tuple[Path, int, dict[str, str]]] = []
    for path in paths:
        rows.extend((path, n, r) for n, r in _read_rows(path, AFRICAN_PUBLISHED_COLUMNS))
    images, missing = [], []
    for path, lineno, row in rows:
        plane = _plane(row["Plane"], path, lineno)
        num = _int(row["Patient_num"], path, lineno, "Patient_num")
        train = _train_flag(row["Train"], path, lineno, "Train")
        centre = row["Center"]
        file = _find_image(root, row["Image_name"], [root / centre, root / "images" / centre])
        if file is None:
            missing.append(f"{path.name}:{lineno} {row['Image_name']}")
            continue
        pid = f"{centre}_{num:03d}"
        images.append(PlaneImage(row["Image_name"], file, plane, pid, centre, pid, train))
    # Byte-identical images filed under two patient ids: one patient; keep one copy (a test copy first).
    parent = {im.group: im.group for im in images}

    def find(g: str) -> str:
        while parent[g] != g:
            parent[g] = parent[parent[g]]
            g = parent[g]
        return g

    by_hash: dict[str, list[PlaneImage]] = {}
    for im in images:
        by_hash.setdefault(sha256_file(im.path), []).append(im)
    notes, drop = [], set()
    for copies in by_hash.values():
        if len(copies) < 2:
            continue
        a = find(copies[0].group)
        for c in copies[1:]:
            b = find(c.group)
            if a != b:
                parent[b] = a
        keep = min(copies, key=lambda im: (im.published_train is not False, images.index(im)))
        drop.update(id(c) for c in copies if c is not keep)
        if len({c.plane for c in copies}) > 1:
            raise FetaledgeError(f"identical images with different planes: {[c.image_id for c in copies]}")
        notes.append(f"identical copies {', '.join(c.image_id for c in copies)}: kept {keep.image_id}")
    merged = [PlaneImage(im.image_id, im.path, im.plane, find(im.group), im.centre, im.patient, im.published_train)
              for im in images if id(im) not in drop]
    return merged, missing, notes


def detect_layout(root: Path) -> tuple[str, list[Path]] | None:
    """(layout, labels CSVs) of a plane dataset folder, or None when it is not one.

    Looks for ``labels.csv`` (African, curated), then a semicolon CSV with the FETAL_PLANES_DB header, then the
    published ``African_*.csv`` (in the folder or its ``source_csv/``).

    Example:
        >>> detect_layout(Path("shared/data/real/african_fetal_planes"))  # doctest: +SKIP
        ('african-labels', [PosixPath('shared/data/real/african_fetal_planes/labels.csv')])
    """
    root = Path(root)
    if not root.is_dir():
        return None
    if (root / "labels.csv").is_file():
        return "african-labels", [root / "labels.csv"]
    for csv_path in sorted(root.glob("*.csv")):
        head = csv_path.read_text(encoding="utf-8-sig", errors="replace").split("\n", 1)[0]
        if head.startswith("Image_name;") or (head.count(";") >= 6 and "Patient_num" in head):
            return "fetal-planes-db", [csv_path]
    for d in (root, root / "source_csv"):
        published = sorted(d.glob("African_*.csv"))
        if published:
            return "african-published", published
    return None


def _layout_of(paths: Sequence[Path]) -> str:
    head = Path(paths[0]).read_text(encoding="utf-8-sig", errors="replace").split("\n", 1)[0]
    cols = {c.strip() for c in re.split("[;,]", head)}
    if set(FETAL_PLANES_DB_COLUMNS) <= cols:
        return "fetal-planes-db"
    if {"patient_group", "file"} <= cols:
        return "african-labels"
    if set(AFRICAN_PUBLISHED_COLUMNS) <= cols:
        return "african-published"
    raise FetaledgeError(f"{paths[0]}: not a known plane-label CSV (header {sorted(cols)})",
                         hint="FETAL_PLANES_DB (Image_name;Patient_num;Plane;...), African labels.csv, or "
                         "African_*.csv (Patient_num,Plane,Train,Center,Image_name)")


def read_planes(root: Path, labels: Sequence[Path] | None = None, skip_missing: bool = False) -> PlanesDataset:
    """Read and validate a plane dataset folder (every row parsed before any pixel is read).

    ``labels`` names the CSV(s) (default: detected, :func:`detect_layout`). An image listed but absent is an
    error listing them, unless ``skip_missing`` (then they are left out and counted in ``notes``).

    Example:
        >>> ds = read_planes(Path("shared/data/real/african_fetal_planes"))  # doctest: +SKIP
        >>> len(ds.images), ds.planes()["Fetal abdomen"]                       # doctest: +SKIP
        (312, 112)
    """
    root = Path(root)
    if not root.is_dir():
        raise FetaledgeError(f"plane dataset folder not found: {root}")
    if labels:
        paths = [Path(p) if Path(p).is_absolute() or Path(p).is_file() else root / p for p in labels]
        for p in paths:
            if not p.is_file():
                raise FetaledgeError(f"labels CSV not found: {p}")
        layout = _layout_of(paths)
        if layout != "african-published" and len(paths) != 1:
            raise FetaledgeError(f"a {layout} dataset has one labels CSV, got {len(paths)}")
    else:
        found = detect_layout(root)
        if found is None:
            raise FetaledgeError(f"{root} holds no plane-label CSV",
                                 hint="labels.csv, FETAL_PLANES_DB_data.csv or African_*.csv, or pass --labels")
        layout, paths = found
    notes: list[str] = []
    if layout == "fetal-planes-db":
        images, missing = _parse_fetal_planes_db(root, paths[0])
    elif layout == "african-labels":
        images, missing = _parse_african_labels(root, paths[0])
    else:
        images, missing, notes = _parse_african_published(root, paths)
    if missing and not skip_missing:
        raise FetaledgeError(f"{len(missing)} image(s) listed in the labels are missing under {root}: "
                             f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}",
                             hint="restore them, or pass --skip-missing-images to leave those rows out")
    if missing:
        notes.insert(0, f"{len(missing)} listed image(s) missing, left out (--skip-missing-images)")
    seen: dict[str, PlaneImage] = {}
    for im in images:
        if im.image_id in seen:
            raise FetaledgeError(f"image {im.image_id!r} is listed twice in {', '.join(str(p) for p in paths)}")
        seen[im.image_id] = im
    if not images:
        raise FetaledgeError(f"no image to read in {root}")
    return PlanesDataset(root, layout, list(paths), images, notes)


# --------------------------------------------------------------------------------------------- pixels
def load_grey(path: Path) -> np.ndarray:
    """An image file as grey uint8 (H, W): 8-bit grey as is, colour by the integer BT.601 luma (``to_grey``).

    The runtime's reader (:func:`fetaledge.runtime.images.read_image`): training and inference read images
    the same way. Needs Pillow (``pip install pillow``, in fetaledge's train extra).
    """
    from fetaledge.runtime.images import read_image

    return read_image(path)


def model_frame(path: Path, size: int) -> np.ndarray:
    """The cache's (and a letterbox bundle's) input for an image: grey, letterboxed to ``size x size``."""
    return letterbox(load_grey(path), size, size)


# --------------------------------------------------------------------------------------------- splits
def _stratified_groups(groups: list[str], positive: dict[str, bool], fractions: Sequence[float],
                       rng: np.random.Generator) -> list[list[str]]:
    """Split groups into len(fractions) parts, each stratum (groups with / without a positive) separately."""
    parts: list[list[str]] = [[] for _ in fractions]
    for flag in (True, False):
        stratum = sorted(g for g in groups if positive[g] == flag)
        order = [stratum[i] for i in rng.permutation(len(stratum))]
        n = len(order)
        counts = [int(round(f * n)) for f in fractions[1:]]
        start = n - sum(counts)
        parts[0].extend(order[:start])
        for k, c in enumerate(counts, start=1):
            parts[k].extend(order[start : start + c])
            start += c
    return [sorted(p) for p in parts]


def planes_split(images: Sequence[PlaneImage], positive_planes: Sequence[str], *, keep_published: bool = False,
                 seed: int = 0, ratios: tuple[float, float, float] = (0.7, 0.1, 0.2),
                 val_fraction: float = 0.2) -> tuple[Split, list[str]]:
    """(group-level split of the images, image ids left out). No group is ever in two splits.

    ``keep_published``: test = the published test images; a group with images on both sides of the published
    split keeps its test images and its train images are left out; val = ``val_fraction`` of the remaining
    train groups (stratified by holding a positive). Otherwise a seeded stratified split with ``ratios``.

    Example:
        >>> ims = [PlaneImage(f"i{k}", Path("x"), "Fetal abdomen" if k % 2 else "Fetal brain", f"g{k // 2}",
        ...                   "c", "p", None) for k in range(20)]
        >>> split, left_out = planes_split(ims, ["Fetal abdomen"], seed=0)
        >>> sorted(len(v) for v in split.subjects.values()), left_out
        ([1, 2, 7], [])
    """
    pos = set(positive_planes)
    positive: dict[str, bool] = {}
    for im in images:
        positive[im.group] = positive.get(im.group, False) or im.plane in pos
    rng = np.random.default_rng(seed)
    left_out: list[str] = []
    if keep_published:
        unknown = [im.image_id for im in images if im.published_train is None]
        if unknown:
            raise FetaledgeError(f"{len(unknown)} image(s) have no published split (e.g. {unknown[0]})",
                                 hint="drop --keep-published-split")
        test_groups = sorted({im.group for im in images if im.published_train is False})
        if not test_groups:
            raise FetaledgeError("the published split has no test image", hint="drop --keep-published-split")
        tg = set(test_groups)
        left_out = sorted(im.image_id for im in images if im.published_train and im.group in tg)
        train_pool = sorted({im.group for im in images if im.published_train and im.group not in tg})
        train_groups, val_groups = _stratified_groups(train_pool, positive, (1 - val_fraction, val_fraction), rng)
        groups = {"train": train_groups, "val": val_groups, "test": test_groups}
        n = len(train_pool) + len(test_groups)
        ratios = tuple(round(len(groups[s]) / n, 4) for s in SPLITS)  # type: ignore[assignment]
    else:
        if abs(sum(ratios) - 1.0) > 1e-6 or min(ratios) <= 0:
            raise FetaledgeError(f"split ratios {ratios} must be positive and sum to 1")
        train_groups, val_groups, test_groups = _stratified_groups(sorted(positive), positive, ratios, rng)
        groups = {"train": train_groups, "val": val_groups, "test": test_groups}
    empty = [s for s in SPLITS if not groups[s]]
    if empty:
        raise FetaledgeError(f"{len(positive)} patient group(s) cannot fill the {', '.join(empty)} split(s)",
                             hint="use more images/patients, or another split option")
    where = {g: s for s, gs in groups.items() for g in gs}
    dropped = set(left_out)
    cases: dict[str, list[str]] = {s: [] for s in SPLITS}
    for im in images:
        if im.image_id not in dropped:
            cases[where[im.group]].append(case_id(im.image_id))
    split = Split(seed, tuple(ratios), {s: sorted(groups[s]) for s in SPLITS},
                  {s: sorted(v) for s, v in cases.items()})
    return split, left_out


# --------------------------------------------------------------------------------------------- cache
def case_id(image_id: str) -> str:
    """The cache folder name of an image (its name with anything but ``[A-Za-z0-9._-]`` replaced by '_').

    Example:
        >>> case_id("patient001_DZA plane0")
        'patient001_DZA_plane0'
    """
    cid = re.sub(r"[^A-Za-z0-9._-]", "_", image_id)
    return cid if cid not in ("", ".", "..") else f"_{cid}"


def _signature(im: PlaneImage, size: int, label: int) -> dict:
    st = im.path.stat()
    return {"file": str(im.path), "bytes": st.st_size, "mtime": int(st.st_mtime), "size": size, "label": label,
            "pixels": PIXEL_PATH}


def prepare_planes_cache(src: Path, out: Path, *, positive_planes: Sequence[str] = DEFAULT_POSITIVE,
                         keep_published_split: bool = False, size: int = 224, seed: int = 0,
                         labels: Sequence[Path] | None = None, skip_missing: bool = False,
                         val_fraction: float = 0.2, progress: Callable[[int], None] | None = None,
                         on_total: Callable[[int], None] | None = None) -> dict:
    """Write the frame cache (the format of :mod:`fetaledge.data.cache`) for a plane dataset folder.

    Each image is a one-frame case (subject = its patient group, sweep 0, frame 0, label 1 when its plane is
    positive). The manifest records ``source_kind: "planes"``, the layout, the positive planes, the split
    rule, what was left out, and per image its file, plane, centre and raw size, so that raw frames can be read
    back (:mod:`fetaledge.data.raw`). Raw frame size of the cache: ``size x size`` (the letterboxed image).
    Re-running resumes (images whose file and options are unchanged are skipped).

    Example:
        >>> prepare_planes_cache(Path("african_fetal_planes"), Path("cache"), keep_published_split=True)
        ... # doctest: +SKIP
    """
    positive_planes = tuple(dict.fromkeys(positive_planes or DEFAULT_POSITIVE))
    bad = [p for p in positive_planes if p not in KNOWN_PLANES]
    if bad:
        raise FetaledgeError(f"unknown positive plane(s) {bad}", hint=f"known planes: {', '.join(KNOWN_PLANES)}")
    ds = read_planes(src, labels, skip_missing)
    present = ds.planes()
    absent = [p for p in positive_planes if p not in present]
    if absent:
        raise FetaledgeError(f"no image of positive plane(s) {absent} in {ds.root}; it has {present}")
    if len(positive_planes) and sum(present[p] for p in positive_planes) == len(ds.images):
        raise FetaledgeError("every image is positive: nothing to tell apart", hint="choose other --positive-plane")
    split, left_out = planes_split(ds.images, positive_planes, keep_published=keep_published_split, seed=seed,
                                   val_fraction=val_fraction)
    out = ensure_writable_dir(Path(out))
    if (out / "manifest.json").exists() and read_json(out / "manifest.json", "cache manifest").get(
            "format") != CACHE_FORMAT:
        raise FetaledgeError(f"{out} holds something that is not a fetaledge frame cache", hint="pick another --out")
    ensure_writable_dir(out / "cases")
    kept = [im for im in ds.images if im.image_id not in set(left_out)]
    if on_total:
        on_total(len(kept))
    entries = []
    for im in kept:
        label = 1 if im.plane in positive_planes else 0
        cid = case_id(im.image_id)
        dest = out / "cases" / cid
        sig = _signature(im, size, label)
        done = dest / "done.json"
        if done.is_file() and read_json(done, "case marker") == sig and (dest / "raw.json").is_file():
            raw = read_json(dest / "raw.json", "raw size")
        else:
            grey = load_grey(im.path)
            raw = {"height": int(grey.shape[0]), "width": int(grey.shape[1])}
            arrays = {"images": letterbox(grey, size, size)[None], "labels": np.array([label], np.uint8),
                      "sweep": np.zeros(1, np.int8), "frame": np.zeros(1, np.int16)}
            with atomic_path(dest) as tmp:
                tmp.mkdir()
                for name, arr in arrays.items():
                    np.save(tmp / f"{name}.npy", arr)
                write_json(tmp / "raw.json", raw)
                write_json(tmp / "done.json", sig)
        entries.append({
            "uuid": cid, "subject_id": im.group, "frames": 1, "frames_per_sweep": 1, "sweeps": [0],
            "positives": label, "optimal": label, "sweep_ac_mm": [],
            "image_name": im.image_id, "file": str(im.path.relative_to(ds.root)) if im.path.is_relative_to(ds.root)
            else str(im.path), "plane": im.plane, "centre": im.centre, "patient": im.patient,
            "published_train": im.published_train, "raw_height": raw["height"], "raw_width": raw["width"],
        })
        if progress:
            progress(1)
    save_split(split, out / "splits.json")
    manifest = {
        "format": CACHE_FORMAT,
        "version": CACHE_VERSION,
        "source": str(ds.root.resolve()),
        "source_kind": SOURCE_KIND,
        "size": size,
        "raw_height": size,
        "raw_width": size,
        "sweeps": "all",
        "split_seed": seed,
        "planes": {
            "layout": ds.layout,
            "labels": [str(p.resolve()) for p in ds.labels],
            "positive_planes": list(positive_planes),
            "split": "published" if keep_published_split else "seeded",
            "val_fraction": val_fraction if keep_published_split else None,
            "left_out": left_out,
            "notes": ds.notes,
            "pixels": PIXEL_PATH,
            "other_sizes": "letterbox",
        },
        "cases": entries,
    }
    write_json(out / "manifest.json", manifest)
    return manifest


def is_planes_source(path: Path) -> bool:
    """True when ``path`` is a plane dataset folder (a labels CSV of a known layout), not ACOUSLIC-layout."""
    return detect_layout(Path(path)) is not None and not (Path(path) / "circumferences").is_dir()


def is_planes_cache(manifest: dict) -> bool:
    """True for the manifest of a cache prepared from a plane dataset."""
    return manifest.get("source_kind") == SOURCE_KIND
