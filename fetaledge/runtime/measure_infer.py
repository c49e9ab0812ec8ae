"""Measure single frames with a segmentation bundle (a folder with ``measurement.json`` and its model): what
``fetaledge infer`` does when the bundle measures, and the PNG with the fitted ellipse drawn on the frame.

The model is an ONNX file with the raw frame in the graph (uint8 (1, H, W) -> mask logits on the grid); a frame
of another size is letterboxed to the model's input first (the same rule as the classifier bundles) and its
measurement mapped back through both inverse letterboxes, so the millimetres are those of the frame as given.

Example:
    >>> r = measure_files("bundle_seg", ["010_HC.png"], spacing_mm=(0.0799, 0.0799))   # doctest: +SKIP
    >>> r["frames"][0]["circumference_mm"], r["frames"][0]["status"]                    # doctest: +SKIP
    (71.9, 'ok')
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from fetaledge.errors import FetaledgeError
from fetaledge.runtime.biometry import Biometry, measure_logits
from fetaledge.runtime.geometry import letterbox
from fetaledge.runtime.images import read_frame_file
from fetaledge.runtime.infer import expand_frame_paths
from fetaledge.runtime.measure_spec import MEASUREMENT_FILE, MeasurementSpec, load_measurement_spec

__all__ = ["SegMeasurer", "draw_measurement", "is_measurement_bundle", "measure_files"]


def is_measurement_bundle(bundle_dir: Path | str) -> bool:
    return (Path(bundle_dir) / MEASUREMENT_FILE).is_file()


class SegMeasurer:
    """A loaded segmentation bundle: ``measure(frame, spacing)`` -> :class:`Biometry`."""

    def __init__(self, bundle_dir: Path | str, threads: int = 1) -> None:
        import onnxruntime as ort

        self.bundle = Path(bundle_dir)
        self.spec: MeasurementSpec = load_measurement_spec(self.bundle)
        path = self.bundle / self.spec.model
        if not path.is_file():
            raise FetaledgeError(f"{MEASUREMENT_FILE} names model {self.spec.model!r}, not found in {self.bundle}",
                                 hint="rebuild the segmentation bundle")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        self.input_hw = (int(inp.shape[-2]), int(inp.shape[-1]))

    def measure(self, frame: np.ndarray, spacing_mm: tuple[float, float] | None = None,
                fov: np.ndarray | None = None) -> Biometry:
        frame_hw = (int(frame.shape[0]), int(frame.shape[1]))
        fitted = frame if frame_hw == self.input_hw else letterbox(frame, *self.input_hw)
        logits = self.session.run(None, {self.input_name: fitted[None]})[0]
        return measure_logits(self.spec, logits, self.input_hw, frame_hw, spacing_mm, fov)


def measure_files(bundle_dir: Path | str, paths: list[Path | str], spacing_mm: tuple[float, float] | None = None,
                  threads: int = 1, png_dir: Path | None = None) -> dict[str, Any]:
    """Measure frame files (images, .npy, .mha; folders of them); optionally one PNG per frame in ``png_dir``."""
    m = SegMeasurer(bundle_dir, threads)
    rows = []
    for path in expand_frame_paths(list(paths)):
        frame = read_frame_file(path)
        b = m.measure(frame, spacing_mm)
        row = {"file": str(path), "height": int(frame.shape[0]), "width": int(frame.shape[1]),
               "status": b.measurement.status, "reasons": list(b.measurement.reasons),
               "circumference_mm": b.measurement.circumference_mm,
               "gestational_age": None if b.gestational_age is None else b.gestational_age.label,
               "note": b.note, "measurement": b.to_dict()}
        if png_dir is not None:
            row["png"] = str(draw_measurement(frame, b, Path(png_dir) / f"{Path(path).stem}.measure.png"))
        rows.append(row)
    return {"bundle": str(bundle_dir), "structure": m.spec.structure, "model": m.spec.model,
            "input": {"height": m.input_hw[0], "width": m.input_hw[1]}, "frames": rows}


def draw_measurement(frame: np.ndarray, b: Biometry, out_png: Path) -> Path:
    """The frame with the fitted ellipse (green: ok, orange: rescan) and the number, or "no measurement"."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Ellipse as Patch

    from fetaledge.fsio import atomic_path

    m = b.measurement
    fig, ax = plt.subplots(figsize=(frame.shape[1] / 100, frame.shape[0] / 100 + 0.4))
    ax.imshow(frame, cmap="gray", vmin=0, vmax=255)
    ax.axis("off")
    if m.ellipse_px is not None:
        e = m.ellipse_px
        colour = "lime" if m.ok else "orange"
        ax.add_patch(Patch((e.cx - 0.5, e.cy - 0.5), 2 * e.a, 2 * e.b, angle=float(np.degrees(e.angle)),
                           fill=False, color=colour, lw=1.5))
        ga = f", GA {b.gestational_age.label} (Hadlock)" if b.gestational_age else ""
        flag = "" if m.ok else f"  RESCAN: {', '.join(m.reasons)}"
        ax.set_title(f"{b.structure.upper()} {m.circumference_mm:.1f} mm{ga}{flag}", fontsize=9)
    else:
        ax.set_title(f"no measurement ({', '.join(m.reasons)}): rescan", fontsize=9)
    fig.tight_layout()
    with atomic_path(Path(out_png), suffix=".png") as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)
    return Path(out_png)
