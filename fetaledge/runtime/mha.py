"""A numpy-only MetaImage (.mha) reader for the device: header parse, then frames read one at a time.

The device has no SimpleITK. ACOUSLIC stacks are uncompressed 8-bit MetaImage with LOCAL data; compressed
files (zlib) are also read, streamed through one decompressor. :class:`MhaStack` holds one frame in memory at
a time (``os.pread`` of that frame's bytes, never a map of the whole payload), so the resident memory of a
case run does not grow with the case: an 840-frame ACOUSLIC stack is 351 MB on disk and a frame 418 kB.
Errors say what is wrong with the file.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import numpy as np

from fetaledge.errors import FetaledgeError

_TYPES = {"MET_UCHAR": np.uint8, "MET_CHAR": np.int8, "MET_USHORT": np.uint16, "MET_SHORT": np.int16,
          "MET_FLOAT": np.float32}
#: Compressed bytes read per step when streaming a zlib payload.
_ZCHUNK = 1 << 20


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


@dataclass(frozen=True)
class MhaLayout:
    """Where and how the pixels of an .mha lie: ``shape`` is (frames, height, width)."""

    path: Path
    shape: tuple[int, int, int]
    dtype: np.dtype
    offset: int
    compressed: bool

    @property
    def frame_bytes(self) -> int:
        return self.shape[1] * self.shape[2] * self.dtype.itemsize


def mha_layout(path: Path | str) -> MhaLayout:
    """Parse and check the header of ``path`` (a 2D image counts as one frame); uncompressed payloads are
    checked for truncation here, compressed ones while they are read."""
    path = Path(path)
    fields, offset = read_mha_header(path)
    try:
        dims = [int(x) for x in fields["DimSize"].split()]
        dtype = np.dtype(_TYPES[fields["ElementType"]])
    except (KeyError, ValueError) as exc:
        raise FetaledgeError(f"{path}: unsupported or missing DimSize/ElementType ({exc})") from exc
    if len(dims) not in (2, 3):
        raise FetaledgeError(f"{path} has {len(dims)} dimensions; a 2D frame or a 3D stack of frames is expected")
    if int(fields.get("ElementNumberOfChannels", "1")) != 1:
        raise FetaledgeError(f"{path} has several channels per pixel; a grey stack is expected")
    rev = tuple(reversed(dims))  # MetaImage lists x (width) first
    shape = rev if len(rev) == 3 else (1, *rev)
    if fields.get("BinaryDataByteOrderMSB", "False") == "True" and dtype.itemsize > 1:
        dtype = dtype.newbyteorder(">")
    layout = MhaLayout(path, (int(shape[0]), int(shape[1]), int(shape[2])), dtype, offset,
                       fields.get("CompressedData", "False") == "True")
    if not layout.compressed:
        available = path.stat().st_size - offset
        need = layout.shape[0] * layout.frame_bytes
        if available < need:
            raise FetaledgeError(f"{path} is truncated: {available} bytes of pixels, expected {need}",
                                 hint="copy the file again")
    return layout


class MhaStack:
    """A case stack read one frame at a time: ``len(stack)``, ``stack.frame(i)``, ``stack.frames(a, b)``.

    Uncompressed payloads: each frame is one ``os.pread`` into a fresh array (the file's pages stay in the
    kernel's page cache, not in this process). Compressed payloads: one zlib stream decompressed as far as the
    frame asked for (sequential reads cost nothing extra; going back restarts the stream).

    Example:
        >>> with MhaStack("case.mha") as stack:          # doctest: +SKIP
        ...     for frame in stack.frames(0, 140):        # sweep 1, one (562, 744) uint8 frame at a time
        ...         p = clf.probability(frame)
    """

    def __init__(self, path: Path | str) -> None:
        self.layout = mha_layout(path)
        self.path = self.layout.path
        self._fd: int | None = os.open(self.path, os.O_RDONLY)
        self._z: zlib._Decompress | None = None
        self._zpos = 0  # compressed: next payload byte to read from the file
        self._zbuf = b""  # compressed: decompressed bytes not yet handed out
        self._znext = 0  # compressed: index of the frame that _zbuf starts with

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.layout.shape

    def __len__(self) -> int:
        return self.layout.shape[0]

    def __enter__(self) -> MhaStack:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self._z, self._zbuf = None, b""

    def _check(self, i: int) -> int:
        if self._fd is None:
            raise FetaledgeError(f"{self.path}: the stack was closed")
        n = len(self)
        if not -n <= i < n:
            raise FetaledgeError(f"{self.path}: frame {i} asked for, the stack holds {n} (0..{n - 1})")
        return i % n

    def frame(self, i: int) -> np.ndarray:
        """Frame ``i`` as a new (height, width) array."""
        i = self._check(i)
        lay = self.layout
        if lay.compressed:
            buf = self._zframe(i)
        else:
            buf = os.pread(self._fd, lay.frame_bytes, lay.offset + i * lay.frame_bytes)
            if len(buf) != lay.frame_bytes:  # the file shrank after it was opened
                raise FetaledgeError(f"{self.path} is truncated at frame {i}", hint="copy the file again")
        return np.frombuffer(buf, lay.dtype).reshape(lay.shape[1:]).copy()

    def frames(self, start: int = 0, stop: int | None = None) -> Iterator[np.ndarray]:
        """Frames ``start`` .. ``stop - 1``, one at a time (each a new array: keep any you need)."""
        stop = len(self) if stop is None else min(stop, len(self))
        for i in range(start, stop):
            yield self.frame(i)

    def __iter__(self) -> Iterator[np.ndarray]:
        return self.frames()

    def _zframe(self, i: int) -> bytes:
        lay, size = self.layout, self.layout.frame_bytes
        if self._z is None or i < self._znext:
            self._z, self._zpos, self._zbuf, self._znext = zlib.decompressobj(), lay.offset, b"", 0
        while True:
            if len(self._zbuf) >= size:
                if self._znext == i:
                    return self._zbuf[:size]
                skip = min(i - self._znext, len(self._zbuf) // size)
                self._zbuf = self._zbuf[skip * size:]
                self._znext += skip
                continue
            chunk = os.pread(self._fd, _ZCHUNK, self._zpos)
            self._zpos += len(chunk)
            try:
                # max_length bounds what one call inflates: never more than about two frames in memory
                data = self._z.decompress(self._z.unconsumed_tail + chunk, 2 * size)
            except zlib.error as exc:
                raise FetaledgeError(f"{self.path}: compressed pixel data is corrupt ({exc})") from exc
            if not data and not chunk and not self._z.unconsumed_tail:
                raise FetaledgeError(f"{self.path} is truncated: its compressed pixels end before frame {i}",
                                     hint="copy the file again")
            self._zbuf += data


def read_mha(path: Path) -> np.ndarray:
    """The whole image as a numpy array (frames, height, width): memory-mapped when uncompressed.

    For a case stack use :class:`MhaStack`, which holds one frame at a time; this is for small files (one
    frame) and tools that need random access to everything.

    Example:
        >>> stack = read_mha("case.mha")  # doctest: +SKIP
        >>> stack.shape                   # (840, 562, 744)
    """
    lay = mha_layout(path)
    if lay.compressed:
        with MhaStack(lay.path) as s:
            return np.stack(list(s.frames())) if len(s) else np.zeros(lay.shape, lay.dtype)
    return np.memmap(lay.path, dtype=lay.dtype, mode="r", offset=lay.offset, shape=lay.shape)
