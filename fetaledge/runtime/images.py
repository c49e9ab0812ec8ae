"""Single frames from files, as grey uint8 (H, W): .npy and .mha with numpy only, PNG/JPEG/BMP/TIFF with Pillow.

Colour becomes grey by the integer BT.601 luma (:func:`fetaledge.runtime.geometry.to_grey`), the same rule the
plane-dataset cache used in training (docs/frame_geometry.md). Pillow is imported only for image formats, so
the torch-free runtime needs nothing beyond numpy for .npy and .mha frames.

Example:
    >>> frame = read_frame_file("patient001_DZA_plane0.png")  # doctest: +SKIP
    >>> frame.shape, frame.dtype                                # doctest: +SKIP
    ((430, 500), dtype('uint8'))
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fetaledge.errors import FetaledgeError
from fetaledge.runtime.geometry import to_grey

__all__ = ["IMAGE_SUFFIXES", "FRAME_SUFFIXES", "read_frame_file", "read_image"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
FRAME_SUFFIXES = (*IMAGE_SUFFIXES, ".npy", ".mha")


def read_image(path: Path | str) -> np.ndarray:
    """An image file (PNG, JPEG, BMP, TIFF) as grey uint8 (H, W); 16-bit grey is scaled to 8 bits (>> 8).

    Needs Pillow (``pip install pillow``; in fetaledge's train extra).
    """
    path = Path(path)
    try:
        from PIL import Image
    except ImportError:
        raise FetaledgeError(f"reading {path.suffix} images needs Pillow",
                             hint="pip install pillow (or pass frames as .npy / .mha)") from None
    try:
        with Image.open(path) as im:
            im.load()
            if im.mode in ("I;16", "I;16B", "I;16L", "I"):
                return (np.asarray(im).astype(np.int64) >> 8).clip(0, 255).astype(np.uint8)
            if im.mode == "P":
                im = im.convert("RGBA" if "transparency" in im.info else "RGB")
            elif im.mode not in ("L", "RGB", "RGBA"):
                im = im.convert("RGB")
            return to_grey(np.asarray(im, np.uint8))
    except OSError as exc:
        raise FetaledgeError(f"cannot read image {path}: {exc}") from exc


def read_frame_file(path: Path | str) -> np.ndarray:
    """One frame from a file as grey uint8 (H, W): an image, a .npy array (H, W), (H, W, 1|3|4) or (1, H, W), or
    a one-frame .mha.

    Example:
        >>> import tempfile, os
        >>> f = os.path.join(tempfile.mkdtemp(), "f.npy")
        >>> np.save(f, np.zeros((4, 6, 3), np.uint8))
        >>> read_frame_file(f).shape
        (4, 6)
    """
    path = Path(path)
    if not path.is_file():
        raise FetaledgeError(f"frame file not found: {path}")
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return read_image(path)
    if suffix == ".npy":
        try:
            arr = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise FetaledgeError(f"cannot read {path}: {exc}") from exc
        if arr.ndim == 3 and arr.shape[0] == 1 and arr.shape[2] not in (1, 3, 4):
            arr = arr[0]
    elif suffix == ".mha":
        from fetaledge.runtime.mha import read_mha

        stack = read_mha(path)
        if stack.shape[0] != 1:
            raise FetaledgeError(f"{path} holds {stack.shape[0]} frames, not one",
                                 hint="run a whole case with `fetaledge infer --bundle B CASE.mha`")
        arr = np.asarray(stack[0])
    else:
        raise FetaledgeError(f"{path}: unknown frame file type {suffix!r}", hint=f"use {', '.join(FRAME_SUFFIXES)}")
    if arr.dtype != np.uint8:
        raise FetaledgeError(f"{path} holds {arr.dtype} pixels; frames are 8-bit", hint="save the raw uint8 frame")
    return to_grey(arr)
