"""The ACOUSLIC-AI on-disk layout and its constants (facts: shared/research/paper_code_dataset.md 3.1)."""

from __future__ import annotations

IMAGES_DIR = "images/stacked_fetal_ultrasound"
MASKS_DIR = "masks/stacked_fetal_abdomen"
CSV_PATH = "circumferences/fetal_abdominal_circumferences_per_sweep.csv"
N_SWEEPS = 6
FRAMES_PER_SWEEP = 140
FRAME_HEIGHT = 562
FRAME_WIDTH = 744
SPACING_MM = 0.28
LABEL_IRRELEVANT, LABEL_OPTIMAL, LABEL_SUBOPTIMAL = 0, 1, 2
CSV_COLUMNS = ("uuid", "subject_id") + tuple(f"sweep_{k}_ac_mm" for k in range(1, N_SWEEPS + 1))
