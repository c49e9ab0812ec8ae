"""Render docs/phantom_samples.png: phantom frames of each label with their mask outline (phantom pixels only).

Usage: python docs/make_phantom_samples.py PHANTOM_DIR docs/phantom_samples.png
"""

from __future__ import annotations

import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from fetaledge.data.acouslic import AcouslicDataset  # noqa: E402

NAMES = {0: "0 irrelevant", 1: "1 optimal", 2: "2 suboptimal"}


def pick(labels: np.ndarray) -> list[tuple[int, str]]:
    """Frames to show: optimal, suboptimal, hard negatives next to the positive run, plain negatives."""
    pos = np.flatnonzero(labels > 0)
    out: list[tuple[int, str]] = []
    for lab in (1, 2):
        idx = np.flatnonzero(labels == lab)
        out += [(int(i), NAMES[lab]) for i in idx[len(idx) // 2 : len(idx) // 2 + 1]]
    if pos.size:
        for off in (-10,):
            i = int(np.clip(pos[0] + off if off < 0 else pos[-1] + off, 0, len(labels) - 1))
            if labels[i] == 0:
                out.append((i, "0 (near the plane)"))
    return out


def main(src: str, dst: str) -> None:
    ds = AcouslicDataset(src)
    tiles = []
    for case in ds.cases():
        for k in case.record.annotated_sweeps:
            sw = case.read_sweep(k)
            for i, name in pick(sw.labels):
                tiles.append((sw.frames[i], name, f"{case.uuid[:8]} sweep {k + 1} frame {i}"))
        other = [k for k in range(6) if k not in case.record.annotated_sweeps]
        if other:
            sw = case.read_sweep(other[0])
            where = f"{case.uuid[:8]} sweep {other[0] + 1}"
            tiles.append((sw.frames[len(sw.labels) // 2], "0 (sweep without AC)", where))
        if len(tiles) >= 12:
            break
    tiles = tiles[:12]
    cols = 4
    rows = (len(tiles) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 4.2, rows * 3.4))
    for ax in np.ravel(axes):
        ax.axis("off")
    for ax, (img, name, where) in zip(np.ravel(axes), tiles, strict=False):
        ax.imshow(img, cmap="gray", vmin=0, vmax=255)
        ax.set_title(f"label {name}\n{where}", fontsize=9)
    fig.suptitle("fetaledge synthetic blind-sweep phantom (744x562, 0.28 mm; labels from the phantom masks)")
    fig.tight_layout()
    fig.savefig(dst, dpi=80)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
