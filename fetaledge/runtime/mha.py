"""A numpy-only MetaImage (.mha) reader for the device: header parse + memory-mapped frames.

The device has no SimpleITK. ACOUSLIC stacks are uncompressed 8-bit MetaImage with LOCAL data; compressed
files (zlib) are also read, whole. Errors say what is wrong with the file.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np

from fetaledge.errors import FetaledgeError

_TYPES = {"MET_UCHAR": np.uint8, "MET_CHAR": np.int8, "MET_USHORT": np.uint16, "MET_SHORT": np.int16,
          "MET_FLOAT": np.float32}


def read_mha_header(path: Path) -> tuple[dict[str, str], int]:
    """(header fields, byte offset of the pixel data)."""
    path = Path(path)
    if not path.is_file():
        raise FetaledgeError(f"file not found: {path}")
    with open(path, "rb") as f:
        head = f.read(8192)
    fields: dict[str, str] = {}
    offset = 0
    for raw in head.split(b"\n"):
        offset += len(raw) + 1
        line = raw.decode("latin-1").strip()
        if "=" not in line:
            raise FetaledgeError(f"{path} is not a MetaImage file (line {line[:40]!r})",
                                 hint="pass an .mha stack as written by the scanner export / SimpleITK")
        key, value = (s.strip() for s in line.split("=", 1))
        fields[key] = value
        if key == "ElementDataFile":
            break
    else:
        raise FetaledgeError(f"{path} has no ElementDataFile line: not a MetaImage file")
    if fields["ElementDataFile"] != "LOCAL":
        raise FetaledgeError(f"{path} keeps its pixels in another file ({fields['ElementDataFile']}); use a .mha")
    return fields, offset


def read_mha(path: Path) -> np.ndarray:
    """The image as a numpy array (frames, height, width), memory-mapped when uncompressed.

    Example:
        >>> stack = read_mha("case.mha")  # doctest: +SKIP
        >>> stack.shape                   # (840, 562, 744)
    """
    path = Path(path)
    fields, offset = read_mha_header(path)
    try:
        dims = [int(x) for x in fields["DimSize"].split()]
        dtype = np.dtype(_TYPES[fields["ElementType"]])
    except (KeyError, ValueError) as exc:
        raise FetaledgeError(f"{path}: unsupported or missing DimSize/ElementType ({exc})") from exc
    if int(fields.get("ElementNumberOfChannels", "1")) != 1:
        raise FetaledgeError(f"{path} has several channels per pixel; a grey stack is expected")
    shape = tuple(reversed(dims))  # MetaImage lists x (width) first
    count = int(np.prod(shape))
    if fields.get("BinaryDataByteOrderMSB", "False") == "True" and dtype.itemsize > 1:
        dtype = dtype.newbyteorder(">")
    if fields.get("CompressedData", "False") == "True":
        with open(path, "rb") as f:
            f.seek(offset)
            try:
                buf = zlib.decompress(f.read())
            except zlib.error as exc:
                raise FetaledgeError(f"{path}: compressed pixel data is corrupt ({exc})") from exc
        if len(buf) != count * dtype.itemsize:
            raise FetaledgeError(f"{path}: {len(buf)} bytes of pixels, expected {count * dtype.itemsize}")
        return np.frombuffer(buf, dtype).reshape(shape)
    available = path.stat().st_size - offset
    if available < count * dtype.itemsize:
        raise FetaledgeError(f"{path} is truncated: {available} bytes of pixels, expected {count * dtype.itemsize}",
                             hint="copy the file again")
    arr = np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape)
    return arr if len(shape) == 3 else arr.reshape((1, *shape))
