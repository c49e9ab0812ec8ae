"""The golden CASES and the command that regenerates the shared golden files (development side).

Shared by pytest and the Kotlin ``iqa-core`` tests: ``tests/goldens/decision/*.json``,
``tests/goldens/spec/spec_cases.json`` and ``tests/goldens/geometry/letterbox_cases.json``; every bundle gets the
same files. The inputs are defined here, the expected outputs are computed by the runtime
(:mod:`fetaledge.runtime.decision`, ``spec``, ``geometry``) and reviewed by hand (``docs/decision_logic.md``). The
format itself (encode, decode, compare) is :mod:`fetaledge.runtime.goldens`.

    python -m fetaledge.golden_cases               # check: the files on disk reproduce (exit 1 if not)
    python -m fetaledge.golden_cases --regenerate  # rewrite them ON PURPOSE (the only way they change)

Tests never write them.

Example:
    >>> [c.name for c in golden_cases()][:2]
    ['empty_sweep', 'all_below_threshold']
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fetaledge.errors import FetaledgeError
from fetaledge.fsio import atomic_path
from fetaledge.runtime.decision import DecisionParams
from fetaledge.runtime.goldens import (
    DECISION_DIR,
    GEOMETRY_DIR,
    GOLDEN_FORMAT,
    SPEC_DIR,
    GoldenCase,
    encode_json,
    geometry_pattern,
    golden_document,
    letterbox_record,
    spec_error_field,
)
from fetaledge.runtime.goldens import GEOMETRY_PATTERN as GEOMETRY_PATTERN
from fetaledge.runtime.manifest import MANIFEST_NAME, check_golden_manifest, manifest_document
from fetaledge.runtime.spec import SPEC_FILE_NAME, example_measure_spec, example_spec, spec_to_dict

# The parameters most goldens use: no smoothing (alpha 1) keeps the arithmetic readable by hand.
PLAIN = DecisionParams(threshold=0.5, enter_threshold=0.6, exit_threshold=0.4, min_run=3, smoothing_alpha=1.0)
SMOOTH = DecisionParams(threshold=0.5, enter_threshold=0.6, exit_threshold=0.4, smoothing_alpha=0.5)
REALISTIC = DecisionParams.from_threshold(0.42, enter_margin=0.08, exit_margin=0.12, smoothing_alpha=0.4)


def _with(params: DecisionParams, **changes: Any) -> DecisionParams:
    return DecisionParams(**{**params.to_dict(), **changes})


# ------------------------------------------------------------------------------------------ realistic inputs
def _realistic_sweep(
    rng: random.Random,
    n: int,
    plane: tuple[int, int, float] | None,
    spikes: Sequence[int] = (),
    flicker: tuple[int, int] | None = None,
    dropout: int | None = None,
) -> list[float]:
    """A plausible probability trace: low noisy background, an optional bell-shaped plane (start, end, peak),
    one-frame spikes, a region flickering around the threshold and a one-frame dropout inside the plane."""
    out = []
    for i in range(n):
        p = min(0.25, abs(rng.gauss(0.06, 0.05)))
        if plane is not None and plane[0] <= i <= plane[1]:
            mid, half = (plane[0] + plane[1]) / 2.0, (plane[1] - plane[0]) / 2.0 + 1.0
            bell = plane[2] * (1.0 - ((i - mid) / half) ** 2)
            p = max(p, bell + rng.gauss(0.0, 0.04))
        if flicker is not None and flicker[0] <= i <= flicker[1]:
            p = 0.42 + (0.12 if (i - flicker[0]) % 2 == 0 else -0.12) + rng.gauss(0.0, 0.02)
        if i in spikes:
            p = 0.85 + rng.gauss(0.0, 0.03)
        if dropout is not None and i == dropout:
            p = 0.15
        out.append(round(min(1.0, max(0.0, p)), 4))
    return out


def golden_cases() -> list[GoldenCase]:
    """Every decision golden, in file order. Inputs only; expected outputs come from running them."""
    rng = random.Random(20240611)
    low = [0.05, 0.1, 0.2, 0.3, 0.35, 0.39, 0.25, 0.15, 0.1, 0.05]
    cases = [
        GoldenCase("empty_sweep", "No frame at all: RESCAN, frame -1, n_frames 0, no event.", PLAIN, [[]]),
        GoldenCase("all_below_threshold", "Nothing reaches enter_threshold: no event, RESCAN.", PLAIN, [low]),
        GoldenCase(
            "ties_first_occurrence_wins",
            "Equal best probabilities: the earliest eligible frame wins, inside a pending run (frame 1 and 2 "
            "tie before confirmation), inside the plane (0.9 again at frame 5) and across runs (0.9 again at "
            "frame 12 after the plane was lost and found again): NEW_BEST only on a strictly higher p.",
            PLAIN,
            [[0.3, 0.9, 0.9, 0.7, 0.8, 0.9, 0.2, 0.1, 0.1, 0.7, 0.8, 0.7, 0.9, 0.9, 0.1]],
        ),
        GoldenCase(
            "flicker_never_confirmed",
            "Raw p alternating across the threshold: runs of 1 never reach min_run 3: no event, RESCAN.",
            PLAIN,
            [[0.65, 0.35, 0.7, 0.3, 0.66, 0.34, 0.62, 0.38, 0.9, 0.1, 0.61, 0.39]],
        ),
        GoldenCase(
            "flicker_in_plane_suppressed",
            "Once in the plane, p oscillating between exit (0.4) and enter (0.6) never loses it "
            "(hysteresis); 0.45 frames are below the frame threshold and never become the best.",
            PLAIN,
            [[0.7, 0.7, 0.7, 0.45, 0.55, 0.45, 0.58, 0.41, 0.59, 0.45, 0.55, 0.4, 0.39]],
        ),
        GoldenCase(
            "flicker_smoothed",
            "Smoothing (alpha 0.5): a raw 0.95/0.15 flicker never gives 3 smoothed scores >= 0.6 in a row; "
            "after three 0.95 the plane is found and the same flicker no longer loses it (smoothed stays "
            ">= 0.4) until two 0.15 in a row. Exact binary64 arithmetic: s = a*p + (1-a)*s_prev.",
            SMOOTH,
            [
                [
                    0.95,
                    0.15,
                    0.95,
                    0.15,
                    0.95,
                    0.15,
                    0.95,
                    0.95,
                    0.95,
                    0.15,
                    0.95,
                    0.15,
                    0.95,
                    0.15,
                    0.95,
                    0.15,
                    0.15,
                    0.15,
                ]
            ],
        ),
        GoldenCase(
            "plane_at_first_frame",
            "min_run 1: the very first frame confirms the plane and is the best; the next frame loses it.",
            _with(PLAIN, min_run=1),
            [[0.9, 0.2, 0.1, 0.1]],
        ),
        GoldenCase(
            "plane_from_first_frame_min_run",
            "min_run 3 starting at frame 0: confirmed at frame 2, and NEW_BEST names frame 1 (0.95), earlier "
            "than the confirming frame.",
            PLAIN,
            [[0.8, 0.95, 0.7, 0.2, 0.1]],
        ),
        GoldenCase(
            "plane_at_last_frame",
            "The run completes exactly at the last frame: PLANE_FOUND at the last frame, USABLE.",
            PLAIN,
            [[0.1, 0.2, 0.1, 0.3, 0.7, 0.95, 0.8]],
        ),
        GoldenCase(
            "single_good_last_frame",
            "min_run 1: only the last frame is good.",
            _with(PLAIN, min_run=1),
            [[0.1, 0.2, 0.3, 0.2, 0.61]],
        ),
        GoldenCase(
            "min_run_not_reached",
            "Runs of 2 (< min_run 3) in the middle and at the very end: never confirmed, RESCAN.",
            PLAIN,
            [[0.1, 0.9, 0.9, 0.1, 0.2, 0.95, 0.1, 0.99, 0.99]],
        ),
        GoldenCase(
            "found_lost_found",
            "Plane found, lost, found again with a higher p: two PLANE_FOUND, one PLANE_LOST, the second "
            "run's best replaces the first.",
            PLAIN,
            [[0.1, 0.7, 0.8, 0.75, 0.3, 0.2, 0.65, 0.9, 0.97, 0.92, 0.5, 0.35]],
        ),
        GoldenCase(
            "found_lost_found_lower",
            "Plane found, lost, found again with lower p: the first run keeps the best (no NEW_BEST).",
            PLAIN,
            [[0.9, 0.95, 0.9, 0.2, 0.7, 0.8, 0.7, 0.2]],
        ),
        GoldenCase(
            "broken_run_discarded",
            "A run broken before min_run (frames 0-1) is discarded, including its 0.99: the best comes from "
            "the confirmed run.",
            PLAIN,
            [[0.99, 0.99, 0.3, 0.7, 0.8, 0.75, 0.1]],
        ),
        GoldenCase(
            "boundary_equalities",
            "Comparisons: s >= enter_threshold counts (0.6 three times confirms), s < exit_threshold loses "
            "(0.4 does NOT lose, 0.3999 does).",
            PLAIN,
            [[0.6, 0.6, 0.6, 0.4, 0.5, 0.4, 0.3999, 0.6]],
        ),
        GoldenCase(
            "boundary_threshold_equal",
            "enter_threshold == threshold == 0.5, min_run 1: p == threshold is eligible and becomes the "
            "best; an equal p later is not a new best; 0.4 == exit holds the plane.",
            _with(PLAIN, enter_threshold=0.5, min_run=1),
            [[0.4999, 0.5, 0.4, 0.5, 0.3, 0.5, 0.51]],
        ),
        GoldenCase(
            "smoothing_lag",
            "alpha 0.25: a sharp rise is confirmed late and a sharp fall is lost late; the best is still the "
            "frame with the highest RAW p among eligible frames.",
            _with(SMOOTH, smoothing_alpha=0.25),
            [[0.05, 0.95, 0.97, 0.96, 0.99, 0.98, 0.97, 0.1, 0.05, 0.05, 0.05, 0.05, 0.05]],
        ),
        GoldenCase(
            "nan_rejected",
            "A NaN probability is rejected at frame 3 with an error; events before it stand; no verdict.",
            PLAIN,
            [[0.7, 0.8, 0.9, "NaN", 0.9]],
        ),
        GoldenCase(
            "invalid_frame_leaves_state_unchanged",
            "In the plane, with a smoothed score and a best frame, a NaN (frame 4) and a negative value (frame 6) are "
            "rejected and leave the state exactly as it was: 'trajectory' shows the same smoothed score, in-plane flag "
            "and best frame before and after each, and its 'continued' block the decisions of the same tracker fed on.",
            SMOOTH,
            [[0.7, 0.8, 0.9, 0.85, "NaN", 0.3, -0.5, 0.95, 0.2, 0.1]],
        ),
        GoldenCase("infinity_rejected", "+Infinity is rejected at frame 1.", PLAIN, [[0.2, "Infinity"]]),
        GoldenCase("negative_infinity_rejected", "-Infinity is rejected at frame 0.", PLAIN, [["-Infinity"]]),
        GoldenCase(
            "above_one_rejected",
            "1.5 is not a probability: rejected at frame 2.",
            PLAIN,
            [[0.2, 0.3, 1.5, 0.4]],
        ),
        GoldenCase(
            "negative_rejected", "-0.01 is not a probability: rejected at frame 1.", PLAIN, [[0.0, -0.01]]
        ),
        GoldenCase(
            "long_realistic_sweep",
            "140 frames like a real sweep (seeded): noisy background, a one-frame spike at 20 "
            "(suppressed by min_run), flicker around the threshold at 45-55, a plane at 80-104 with a "
            "one-frame dropout at 92 that smoothing bridges. Calibrated-looking parameters (threshold "
            "0.42, alpha 0.4).",
            REALISTIC,
            [_realistic_sweep(rng, 140, (80, 104, 0.9), spikes=(20,), flicker=(45, 55), dropout=92)],
        ),
        GoldenCase(
            "case_six_sweeps_one_usable",
            "Six sweeps of 10 frames; only sweep 3 is usable: case frame = 3*10 + 5.",
            PLAIN,
            [low, low, low, [0.1, 0.2, 0.7, 0.8, 0.7, 0.95, 0.3, 0.1, 0.1, 0.1], low, low],
            kind="case",
        ),
        GoldenCase("case_none_usable", "Six sweeps, none usable: frame -1.", PLAIN, [low] * 6, kind="case"),
        GoldenCase(
            "case_tie_between_sweeps",
            "Sweeps 1 and 4 both have best p 0.9: the earlier sweep wins (case frame 10 + 3); sweep 2 has a "
            "lower best.",
            PLAIN,
            [low, [0.1, 0.7, 0.8, 0.9, 0.7, 0.1], [0.7, 0.8, 0.85, 0.1], low, [0.7, 0.9, 0.9, 0.9, 0.2], low],
            kind="case",
        ),
        GoldenCase(
            "case_uneven_and_empty_sweeps",
            "Sweep lengths 3, 0 (empty), 7, 4, 2, 5: offsets add the real lengths; the best is in sweep 5.",
            PLAIN,
            [
                [0.1, 0.2, 0.1],
                [],
                [0.1, 0.7, 0.7, 0.7, 0.1, 0.1, 0.1],
                [0.1] * 4,
                [0.2, 0.2],
                [0.9, 0.92, 0.91, 0.1, 0.1],
            ],
            kind="case",
        ),
        GoldenCase("case_no_sweeps", "Zero sweeps: frame -1, n_frames 0.", PLAIN, [], kind="case"),
        GoldenCase(
            "case_realistic_six_sweeps",
            "Six seeded sweeps of 140 frames (840 in the case) with the realistic parameters: no plane, a "
            "spike, a weak plane, a strong plane, a moderate plane, flicker only.",
            REALISTIC,
            [
                _realistic_sweep(rng, 140, None),
                _realistic_sweep(rng, 140, None, spikes=(33, 90)),
                _realistic_sweep(rng, 140, (60, 75, 0.62)),
                _realistic_sweep(rng, 140, (40, 70, 0.93), dropout=55),
                _realistic_sweep(rng, 140, (100, 118, 0.8)),
                _realistic_sweep(rng, 140, None, flicker=(10, 30)),
            ],
            kind="case",
        ),
    ]
    names = [c.name for c in cases]
    if len(set(names)) != len(names):  # pragma: no cover (a programming error)
        raise RuntimeError("duplicate golden names")
    return cases


# ------------------------------------------------------------------------------------------ spec goldens
def _spec_base() -> dict[str, Any]:
    return spec_to_dict(example_spec(sha256="3f" * 32))


def _spec_measure() -> dict[str, Any]:
    """Schema 3: classifier + a segmentation model that measures the chosen frame (task.measurement)."""
    return spec_to_dict(example_measure_spec(sha256="3f" * 32))


def _task_cases(b: dict[str, Any]) -> list[tuple[str, dict[str, Any], str | None]]:
    """The schema-3 ``task`` field: classification or classification + measurement (runtime/spec.py)."""
    m = _spec_measure()
    tm = "task.measurement"
    two = copy.deepcopy(m)
    seg_fp32 = copy.deepcopy(two["task"]["measurement"]["models"][0])
    seg_fp32.update(name="seg_fp32", file="seg_fp32.onnx", precision="fp32")
    two["task"]["measurement"]["models"].append(seg_fp32)
    v2 = _edited(_edited(b, "schema_version", 2), "task")
    return [
        ("valid_task_measurement", m, None),
        ("valid_task_measurement_two_models", two, None),
        ("valid_schema2_without_task", v2, None),
        ("task_missing", _edited(b, "task"), "task"),
        ("task_in_schema2", _edited(b, "schema_version", 2), "task"),
        ("task_kind_bad", _edited(b, "task.kind", "segmentation"), "task.kind"),
        ("task_unknown_field", _edited(b, "task.outputs", 2), "task.outputs"),
        ("task_measurement_null", _edited(m, "task.measurement", None), "task.measurement"),
        ("task_measurement_for_classification", _edited(m, "task.kind", "classification"), "task.measurement"),
        ("task_measurement_models_empty", _edited(m, f"{tm}.models", []), f"{tm}.models"),
        ("task_measurement_structure_bad", _edited(m, f"{tm}.structure", "fl"), f"{tm}.structure"),
        ("task_measurement_grid_zero", _edited(m, f"{tm}.grid_height", 0), f"{tm}.grid_height"),
        ("task_measurement_grid_mismatch", _edited(m, f"{tm}.grid_width", 160), f"{tm}.models[0].output.shape"),
        ("task_measurement_spacing_one", _edited(m, f"{tm}.spacing_mm", [0.28]), f"{tm}.spacing_mm"),
        ("task_measurement_spacing_zero", _edited(m, f"{tm}.spacing_mm", [0.28, 0]), f"{tm}.spacing_mm"),
        ("task_measurement_source_bad", _edited(m, f"{tm}.spacing_source", "dicom"), f"{tm}.spacing_source"),
        ("task_measurement_frame_choice_bad", _edited(m, f"{tm}.frame_choice", "largest_mask"),
         f"{tm}.frame_choice"),
        ("task_measurement_fov_bad", _edited(m, f"{tm}.field_of_view", "fan"), f"{tm}.field_of_view"),
        ("task_measurement_params_missing", _edited(m, f"{tm}.params.min_points"), f"{tm}.params.min_points"),
        ("task_measurement_params_float_points", _edited(m, f"{tm}.params.min_points", 20.0),
         f"{tm}.params.min_points"),
        ("task_measurement_model_sha256", _edited(m, f"{tm}.models.0.sha256", "abc"), f"{tm}.models[0].sha256"),
        ("task_measurement_model_probability", _edited(m, f"{tm}.models.0.output_kind", "probability"),
         f"{tm}.models[0].output_kind"),
        ("task_measurement_model_name_clash", _edited(m, f"{tm}.models.0.name", "student_int8"),
         f"{tm}.models[0].name"),
        ("task_measurement_model_input_size", _edited(m, f"{tm}.models.0.input.shape", [1, 540, 800]),
         f"{tm}.models[0].input.shape"),
    ]


def _spec_explicit() -> dict[str, Any]:
    """Two models (ONNX fp32 + LiteRT int8 with quantized tensors) and explicit preprocessing."""
    d = _spec_base()
    d["preprocessing"] = {
        "folded_into_graph": False,
        "description": "pad to square, resize 224 bicubic, gray->RGB, CLIP mean/std",
        "pad_to_square": True,
        "pad_value": 0,
        "resize_height": 224,
        "resize_width": 224,
        "interpolation": "bicubic",
        "gray_to_rgb": True,
        "scale": 1 / 255,
        "mean": [0.48145466, 0.4578275, 0.40821073],
        "std": [0.26862954, 0.26130258, 0.27577711],
        "output_layout": "NHWC",
        "output_dtype": "float32",
    }
    fp32 = d["models"][0]
    fp32.update(name="student_fp32", file="models/student_fp32.onnx", precision="fp32")
    fp32["input"] = {"name": "pixels", "dtype": "float32", "shape": [1, 3, 224, 224], "quantization": None}
    int8 = {
        "name": "student_int8",
        "file": "models/student_int8.tflite",
        "sha256": "ab" * 32,
        "runtime": "litert",
        "precision": "int8",
        "threads": 4,
        "input": {
            "name": "serving_default_pixels:0",
            "dtype": "int8",
            "shape": [1, 224, 224, 3],
            "quantization": {"scale": 0.0186584, "zero_point": -14},
        },
        "output": {
            "name": "StatefulPartitionedCall:0",
            "dtype": "uint8",
            "shape": [1, 1],
            "quantization": {"scale": 0.09765625, "zero_point": 128},
        },
        "output_kind": "logit",
    }
    d["models"] = [fp32, int8]
    d["provenance"] = {
        "teacher": "tiny-vit (random init, NOT FetalCLIP)",
        "metrics": {"f1": 0.71},
        "n": [1, 2],
    }
    return d


_MISSING = object()


def _edited(base: dict[str, Any], path: str, value: Any = _MISSING) -> dict[str, Any]:
    """A deep copy of ``base`` with the field at dotted ``path`` (``models.0.sha256``) set, or deleted."""
    d = copy.deepcopy(base)
    keys = path.split(".")
    node: Any = d
    for k in keys[:-1]:
        node = node[int(k)] if isinstance(node, list) else node[k]
    last: Any = int(keys[-1]) if isinstance(node, list) else keys[-1]
    if value is _MISSING:
        del node[last]
    else:
        node[last] = value
    return d


def spec_cases() -> list[tuple[str, dict[str, Any], str | None]]:
    """``(name, spec document, field the error must name or None when valid)`` for the shared spec goldens.

    Each invalid spec has exactly ONE defect; both implementations must reject it with an error that starts
    ``iqa_spec.json: <field>: ``.
    """
    b, x = _spec_base(), _spec_explicit()
    future = _edited(b, "schema_version", 4)
    future["a_field_from_the_future"] = {}
    dup = copy.deepcopy(x)
    dup["models"][1]["name"] = "student_fp32"
    folded_false = _edited(b, "preprocessing.folded_into_graph", False)
    m0 = "models.0"
    cases: list[tuple[str, dict[str, Any], str | None]] = [
        ("valid_folded_onnx", b, None),
        ("valid_explicit_two_models_quantized", x, None),
        (
            "valid_int_for_float",
            _edited(_edited(b, "decision.smoothing_alpha", 1), "decision.enter_threshold", 1),
            None,
        ),
        ("valid_dynamic_dim", _edited(b, f"{m0}.input.shape", [-1, 562, 744]), None),
        ("schema_version_missing", _edited(b, "schema_version"), "schema_version"),
        ("schema_version_string", _edited(b, "schema_version", "1"), "schema_version"),
        ("schema_version_float", _edited(b, "schema_version", 1.0), "schema_version"),
        ("schema_version_newer", future, "schema_version"),
        ("schema_version_zero", _edited(b, "schema_version", 0), "schema_version"),
        ("unknown_top_field", _edited(b, "extra", 1), "extra"),
        ("input_missing", _edited(b, "input"), "input"),
        ("input_not_object", _edited(b, "input", [562, 744]), "input"),
        ("input_unknown_field", _edited(b, "input.colour", "grey"), "input.colour"),
        ("input_height_string", _edited(b, "input.height", "562"), "input.height"),
        ("input_height_float", _edited(b, "input.height", 562.0), "input.height"),
        ("input_height_bool", _edited(b, "input.height", True), "input.height"),
        ("input_height_zero", _edited(b, "input.height", 0), "input.height"),
        ("input_layout_bad", _edited(b, "input.layout", "CHW"), "input.layout"),
        ("input_channels_hw_3", _edited(b, "input.channels", 3), "input.channels"),
        (
            "input_channels_2",
            _edited(_edited(b, "input.layout", "HWC"), "input.channels", 2),
            "input.channels",
        ),
        ("input_dtype_float", _edited(b, "input.dtype", "float32"), "input.dtype"),
        ("valid_other_sizes_letterbox", _edited(b, "input.other_sizes", "letterbox"), None),
        ("valid_schema1_without_other_sizes",
         _edited(_edited(_edited(b, "schema_version", 1), "input.other_sizes"), "task"), None),
        ("input_other_sizes_missing", _edited(b, "input.other_sizes"), "input.other_sizes"),
        ("input_other_sizes_stretch", _edited(b, "input.other_sizes", "stretch"), "input.other_sizes"),
        ("input_other_sizes_in_schema1", _edited(_edited(b, "schema_version", 1), "task"), "input.other_sizes"),
        (
            "folded_flag_string",
            _edited(b, "preprocessing.folded_into_graph", "yes"),
            "preprocessing.folded_into_graph",
        ),
        (
            "folded_flag_missing",
            _edited(b, "preprocessing.folded_into_graph"),
            "preprocessing.folded_into_graph",
        ),
        ("folded_false_without_parameters", folded_false, "preprocessing.pad_to_square"),
        ("folded_with_parameter", _edited(b, "preprocessing.pad_value", 0), "preprocessing.pad_value"),
        (
            "folded_empty_description",
            _edited(b, "preprocessing.description", " "),
            "preprocessing.description",
        ),
        (
            "explicit_mean_one_value",
            _edited(_edited(x, "preprocessing.mean", [0.5]), "preprocessing.std", [0.5]),
            "preprocessing.mean",
        ),
        ("explicit_std_zero", _edited(x, "preprocessing.std", [0.2, 0.0, 0.2]), "preprocessing.std"),
        ("explicit_std_length", _edited(x, "preprocessing.std", [0.2, 0.2]), "preprocessing.std"),
        (
            "explicit_interpolation",
            _edited(x, "preprocessing.interpolation", "lanczos"),
            "preprocessing.interpolation",
        ),
        ("explicit_pad_value", _edited(x, "preprocessing.pad_value", 300), "preprocessing.pad_value"),
        ("explicit_scale_zero", _edited(x, "preprocessing.scale", 0), "preprocessing.scale"),
        (
            "explicit_mean_item_string",
            _edited(x, "preprocessing.mean", [0.5, "0.5", 0.5]),
            "preprocessing.mean[1]",
        ),
        ("models_empty", _edited(b, "models", []), "models"),
        ("models_object", _edited(b, "models", {}), "models"),
        ("model_sha256_missing", _edited(b, f"{m0}.sha256"), "models[0].sha256"),
        ("model_sha256_upper", _edited(b, f"{m0}.sha256", "3F" * 32), "models[0].sha256"),
        ("model_sha256_short", _edited(b, f"{m0}.sha256", "abc"), "models[0].sha256"),
        ("model_file_parent", _edited(b, f"{m0}.file", "../student.onnx"), "models[0].file"),
        ("model_file_absolute", _edited(b, f"{m0}.file", "/data/student.onnx"), "models[0].file"),
        ("model_file_double_slash", _edited(b, f"{m0}.file", "models//student.onnx"), "models[0].file"),
        ("model_file_empty", _edited(b, f"{m0}.file", ""), "models[0].file"),
        ("model_runtime_bad", _edited(b, f"{m0}.runtime", "tensorrt"), "models[0].runtime"),
        ("model_precision_bad", _edited(b, f"{m0}.precision", "int4"), "models[0].precision"),
        ("model_threads_zero", _edited(b, f"{m0}.threads", 0), "models[0].threads"),
        ("model_name_empty", _edited(b, f"{m0}.name", ""), "models[0].name"),
        ("tensor_shape_empty", _edited(b, f"{m0}.input.shape", []), "models[0].input.shape"),
        ("tensor_shape_zero", _edited(b, f"{m0}.input.shape", [1, 0]), "models[0].input.shape"),
        ("tensor_shape_float", _edited(b, f"{m0}.input.shape", [1, 2.5]), "models[0].input.shape[1]"),
        ("tensor_unknown_field", _edited(b, f"{m0}.input.scale", 1.0), "models[0].input.scale"),
        (
            "tensor_quantization_missing",
            _edited(b, f"{m0}.output.quantization"),
            "models[0].output.quantization",
        ),
        (
            "tensor_float_quantized",
            _edited(b, f"{m0}.output.quantization", {"scale": 0.1, "zero_point": 0}),
            "models[0].output.quantization",
        ),
        (
            "int8_output_unquantized",
            _edited(b, f"{m0}.output.dtype", "int8"),
            "models[0].output.quantization",
        ),
        (
            "uint8_zero_point_range",
            _edited(x, "models.1.output.quantization.zero_point", 256),
            "models[1].output.quantization.zero_point",
        ),
        (
            "int8_zero_point_range",
            _edited(x, "models.1.input.quantization.zero_point", -129),
            "models[1].input.quantization.zero_point",
        ),
        (
            "quantization_scale_zero",
            _edited(x, "models.1.output.quantization.scale", 0.0),
            "models[1].output.quantization.scale",
        ),
        (
            "quantization_zero_point_float",
            _edited(x, "models.1.output.quantization.zero_point", 128.0),
            "models[1].output.quantization.zero_point",
        ),
        ("model_output_kind_bad", _edited(b, f"{m0}.output_kind", "softmax"), "models[0].output_kind"),
        ("model_duplicate_name", dup, "models[1].name"),
        ("decision_missing", _edited(b, "decision"), "decision"),
        ("decision_min_run_missing", _edited(b, "decision.min_run"), "decision.min_run"),
        ("decision_min_run_zero", _edited(b, "decision.min_run", 0), "decision.min_run"),
        ("decision_min_run_float", _edited(b, "decision.min_run", 3.0), "decision.min_run"),
        (
            "decision_exit_above_threshold",
            _edited(b, "decision.exit_threshold", 0.9),
            "decision.exit_threshold",
        ),
        (
            "decision_enter_below_threshold",
            _edited(b, "decision.enter_threshold", 0.1),
            "decision.enter_threshold",
        ),
        ("decision_threshold_above_one", _edited(b, "decision.threshold", 1.5), "decision.threshold"),
        ("decision_threshold_bool", _edited(b, "decision.threshold", False), "decision.threshold"),
        ("decision_alpha_string", _edited(b, "decision.smoothing_alpha", "0.5"), "decision.smoothing_alpha"),
        ("decision_alpha_zero", _edited(b, "decision.smoothing_alpha", 0.0), "decision.smoothing_alpha"),
        ("decision_unknown_field", _edited(b, "decision.hysteresis", True), "decision.hysteresis"),
        ("labels_positive_blank", _edited(b, "labels.positive", "  "), "labels.positive"),
        ("labels_negative_null", _edited(b, "labels.negative", None), "labels.negative"),
        ("provenance_array", _edited(b, "provenance", []), "provenance"),
        ("provenance_missing", _edited(b, "provenance"), "provenance"),
        *_task_cases(b),
    ]
    return cases


def _spec_error_message(doc: dict[str, Any]) -> str | None:
    """The whole first error message for ``doc`` without the source prefix (None: valid)."""
    from fetaledge.runtime.spec import spec_from_dict

    try:
        spec_from_dict(copy.deepcopy(doc), source=SPEC_FILE_NAME)
    except FetaledgeError as exc:
        return exc.message[len(f"{SPEC_FILE_NAME}: "):]
    return None


def spec_golden_document() -> dict[str, Any]:
    """The shared spec golden: every case with the field its error must name (null: the spec is valid)."""
    out = []
    for name, doc, intended in spec_cases():
        got = spec_error_field(doc)
        if got != intended:  # pragma: no cover (keeps the case list honest)
            raise RuntimeError(
                f"spec case {name}: expected error field {intended!r}, the parser names {got!r}"
            )
        out.append({"name": name, "error_field": got, "error": _spec_error_message(doc), "spec": doc})
    return {
        "format": GOLDEN_FORMAT,
        "description": "iqa_spec.json validation shared by fetaledge.runtime.spec and the Kotlin iqa-core: a "
        "valid case (error_field null) must parse; an invalid one must fail naming error_field first, with "
        "exactly the message 'error' after the source prefix 'iqa_spec.json: ' (the hint is not compared).",
        "source": SPEC_FILE_NAME,
        "cases": out,
    }



# ------------------------------------------------------------------------------------------ geometry golden
# (name, height, width, channels, out_height, out_width, store every pixel)
GEOMETRY_CASES: list[tuple[str, int, int, int, int, int, bool]] = [
    ("down_pad_width_to_square", 45, 40, 1, 16, 16, True),
    ("down_pad_height_to_square", 30, 44, 1, 12, 12, True),
    ("up_width_limits", 7, 9, 1, 20, 24, True),
    ("landscape_into_portrait", 30, 50, 1, 40, 30, True),
    ("identity", 12, 10, 1, 12, 10, True),
    ("single_row", 1, 3, 1, 4, 4, True),
    ("colour_to_grey_then_down", 40, 36, 3, 24, 24, True),
    ("algeria_500x430_into_acouslic", 430, 500, 1, 562, 744, False),
    ("egypt_rgb_400x450_into_224", 450, 400, 3, 224, 224, False),
    ("uganda_600x500_into_224", 500, 600, 1, 224, 224, False),
    ("acouslic_into_224", 562, 744, 1, 224, 224, False),
    # A probe streaming ARGB_8888 at 800x540 (Clarius Cast-like) into the ACOUSLIC raw size: the app's live path.
    ("probe_argb_800x540_into_acouslic", 540, 800, 3, 562, 744, False),
]




def geometry_golden_document() -> dict[str, Any]:
    """The letterbox golden: every case's input size, padded box, and output pixels (sha256 of the row-major
    uint8 bytes; every value where small; a few samples always)."""
    cases = [letterbox_record(*c) for c in GEOMETRY_CASES]
    return {
        "format": GOLDEN_FORMAT,
        "description": "input.other_sizes = letterbox (fetaledge/runtime/geometry.py, docs/frame_geometry.md): a "
        "synthetic frame (input_pattern) of height x width x channels, colour made grey by the integer BT.601 luma, "
        "then letterboxed to out_height x out_width. grey_sha256 / sha256: of the row-major uint8 bytes of the grey "
        "input / the output; box: the zero-padded box [P_h, P_w]; samples: [y, x, value]; pixels: every output "
        "value (null for the large cases). Both implementations must match bit for bit.",
        "input_pattern": GEOMETRY_PATTERN,
        "cases": cases,
    }


# ------------------------------------------------------------------------------------------ files
def default_golden_root() -> Path:
    """``tests/goldens`` of the checkout in the current directory (an installed package has no tests/ of its
    own; pass ``--root`` to work elsewhere)."""
    root = Path.cwd() / "tests" / "goldens"
    if not root.is_dir():
        raise FetaledgeError(f"no golden folder at {root}", hint="run from the repository root or pass --root DIR")
    return root


TRAJECTORY_NOTE = (
    "per update() call: the smoothed score, the in-plane flag and the best frame (-1: none) AFTER it (null "
    "smoothed: no frame accepted yet); 'rejected': the calls that raised (the state after them equals the state "
    "before); 'continued' (only when a call was rejected): events and verdict of the same tracker fed every "
    "input, rejected ones skipped")


def sweep_trajectory(params: DecisionParams, inputs: Sequence[float | str]) -> dict[str, Any]:
    """The per-frame state of a :class:`SweepTracker` fed ``inputs`` (see :data:`TRAJECTORY_NOTE`)."""
    from fetaledge.runtime.decision import SweepTracker
    from fetaledge.runtime.goldens import decode_probability

    tracker = SweepTracker(params)
    smoothed: list[float | None] = []
    in_plane: list[bool] = []
    best: list[int] = []
    rejected: list[int] = []
    events: list[dict[str, Any]] = []
    for i, raw in enumerate(inputs):
        try:
            events.extend({"at": i, **e.to_dict()} for e in tracker.update(decode_probability(raw)))
        except FetaledgeError:
            rejected.append(i)
        smoothed.append(tracker.smoothed)
        in_plane.append(tracker.in_plane)
        best.append(tracker.best[0] if tracker.best else -1)
    out: dict[str, Any] = {"smoothed": smoothed, "in_plane": in_plane, "best_frame": best, "rejected": rejected}
    if rejected:
        out["continued"] = {"events": events, "verdict": tracker.finish().to_dict()}
    return out


def _with_trajectory(case: GoldenCase) -> dict[str, Any]:
    doc = golden_document(case)
    if case.kind == "sweep":
        doc["trajectory"] = {"note": TRAJECTORY_NOTE, **sweep_trajectory(case.params, case.sweeps[0])}
    else:
        doc["trajectory"] = {"note": TRAJECTORY_NOTE,
                             "sweeps": [sweep_trajectory(case.params, sw) for sw in case.sweeps]}
    return doc


SELFCHECK_DIR = "selfcheck"
LIVE_DIR = "live"
#: Frame k of the live golden: the geometry pattern (colour) scaled by the integer weight w_k.
LIVE_PATTERN = "v_k(y, x, c) = (v(y, x, c) * w_k) // 255, v the geometry input_pattern (colour), w_k = weights[k]"


def _live_frames(height: int, width: int, weights: Sequence[int]) -> Any:
    import numpy as np

    base = geometry_pattern(height, width, 3).astype(np.int64)
    return (((base * w) // 255).astype(np.uint8) for w in weights)


def live_golden_document() -> dict[str, Any]:
    """A live sweep for the app's probe path: colour 540x800 frames (:data:`LIVE_PATTERN`), pushed by the Kotlin
    simulated probe as ARGB_8888, made grey (BT.601) and letterboxed to 562x744; Python's
    :func:`fetaledge.runtime.classifier.process_sweep` on the same frames, with a stand-in scorer (the mean of the
    fitted frame / 120, capped at 1), gives each fitted frame's sha256 and probability and the decisions. The Kotlin
    test scores a frame by looking its sha256 up here, so one byte of difference in conversion or letterbox fails."""
    import hashlib
    from types import SimpleNamespace

    from fetaledge.runtime.classifier import process_sweep
    from fetaledge.runtime.geometry import fit_frame, to_grey

    h, w, oh, ow = 540, 800, 562, 744
    n = 30
    weights = [int(round(40 + 215 * max(0.0, 1.0 - ((k - 16) / 7.0) ** 2))) for k in range(n)]
    records: list[dict[str, Any]] = []

    class _Scorer:  # the part of FrameClassifier that process_sweep uses, over the letterbox of fetaledge.runtime
        spec = SimpleNamespace(decision=REALISTIC)

        def probability(self, frame: Any) -> float:
            fitted = fit_frame(to_grey(frame), oh, ow, "letterbox")
            p = min(1.0, float(fitted.mean()) / 120.0)
            records.append({"sha256": hashlib.sha256(fitted.tobytes()).hexdigest(), "probability": p})
            return p

    result = process_sweep(_Scorer(), _live_frames(h, w, weights))  # type: ignore[arg-type]
    return {
        "format": GOLDEN_FORMAT,
        "description": "live probe path: " + " ".join((live_golden_document.__doc__ or "").split()),
        "frame_pattern": LIVE_PATTERN, "input_pattern": GEOMETRY_PATTERN,
        "height": h, "width": w, "out_height": oh, "out_width": ow, "weights": weights,
        "params": REALISTIC.to_dict(),
        "frames": records,
        "expected": {"events": [e.to_dict() for e in result.events], "verdict": result.verdict.to_dict()},
    }


def _shifted(probs: Sequence[float], delta: float, alternate: bool = False) -> list[float]:
    return [min(1.0, max(0.0, p + (delta if not alternate or i % 2 == 0 else -delta))) for i, p in enumerate(probs)]


def selfcheck_golden_document() -> tuple[dict[str, Any], dict[str, Any]]:
    """The device self-check rule (``fetaledge verify`` on a recorded sweep; the app's start-up check), pinned
    for both sides: a recorded sweep golden as a bundle's ``goldens/sweep.json`` holds it, and device runs of it
    with the tolerance that applies and whether the check passes. The rule: the device's probabilities replayed
    through the decision logic give the golden's events and verdict with every label and frame index exact and
    every score within the model's probability tolerance (fetaledge.runtime.goldens.same_decisions).

    Returns (the rule document, the recorded sweep golden)."""
    from fetaledge.runtime.goldens import expected_for, same_decisions

    rng = random.Random(18)
    probs = _realistic_sweep(rng, 60, (18, 38, 0.93))
    sweep = golden_document(GoldenCase("selfcheck_recorded_sweep", "a recorded sweep (seeded): background, a plane "
                                       "at 18-38", REALISTIC, [probs]))
    sweep["model"] = "device_model"  # the fields a bundle's goldens/sweep.json adds (fetaledge/bundle.py)
    sweep["frames_file"] = "goldens/sweep_frames.npy"
    chosen = sweep["expected"]["verdict"]["frame"]
    runs = [
        ("identical", 1e-2, list(probs)),
        ("int8_drift_5e-3", 1e-2, _shifted(probs, 5e-3)),
        ("int8_drift_5e-3_alternating", 1e-2, _shifted(probs, 5e-3, alternate=True)),
        ("int8_drift_5e-2", 1e-2, _shifted(probs, 5e-2)),
        ("fp32_tolerance_with_5e-3_drift", 1e-4, _shifted(probs, 5e-3)),
        ("chosen_frame_scores_zero", 1e-2, [0.0 if i == chosen else p for i, p in enumerate(probs)]),
        ("one_frame_short", 1e-2, list(probs[:-1])),
    ]
    cases = []
    for name, tol, device in runs:
        got = expected_for(GoldenCase(name, "", REALISTIC, [device]))
        cases.append({"name": name, "tolerance": tol, "probabilities": device,
                      "passes": same_decisions(got, sweep["expected"], tol)})
    rule = (selfcheck_golden_document.__doc__ or "").split("The rule: ", 1)[1].split("Returns", 1)[0]
    return {"format": GOLDEN_FORMAT, "description": "the self-check rule on a recorded sweep (selfcheck/sweep.json, "
            "in the form of a bundle's goldens/sweep.json): " + " ".join(rule.split()),
            "golden_file": f"{SELFCHECK_DIR}/sweep.json", "runs": cases}, sweep


def golden_documents() -> dict[str, dict[str, Any]]:
    """Every golden file this module owns, by path relative to the golden root."""
    docs = {f"{DECISION_DIR}/{c.name}.json": _with_trajectory(c) for c in golden_cases()}
    docs[f"{SPEC_DIR}/spec_cases.json"] = spec_golden_document()
    docs[f"{GEOMETRY_DIR}/letterbox_cases.json"] = geometry_golden_document()
    docs[f"{SELFCHECK_DIR}/sweep_rule.json"], docs[f"{SELFCHECK_DIR}/sweep.json"] = selfcheck_golden_document()
    docs[f"{LIVE_DIR}/probe_sweep.json"] = live_golden_document()
    return docs


def _owned_files(root: Path) -> list[Path]:
    owned = (DECISION_DIR, SPEC_DIR, GEOMETRY_DIR, SELFCHECK_DIR, LIVE_DIR)
    return sorted(p for d in owned for p in (root / d).glob("*.json"))


def write_goldens(root: Path) -> list[Path]:
    """Regenerate every golden under ``root`` (atomic per file); delete stale ``*.json`` in owned folders; then
    write ``manifest.json`` over EVERY file under ``root`` (recursively: goldens other modules write included)."""
    root = Path(root)
    written = []
    for rel, doc in golden_documents().items():
        path = root / rel
        text = encode_json(doc) + "\n"
        if json.loads(text) != json.loads(json.dumps(doc)):  # pragma: no cover
            raise RuntimeError(f"{rel}: the compact writer changed the document")
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            tmp.write_text(text)
        written.append(path)
    for stale in _owned_files(root):
        if stale not in written:
            stale.unlink()
    manifest = manifest_document(root)
    with atomic_path(root / MANIFEST_NAME) as tmp:
        tmp.write_text(encode_json(manifest) + "\n")
    return written


def check_goldens(root: Path) -> list[str]:
    """Compare the files under ``root`` with what the code computes now; returns the problems, if any."""
    root = Path(root)
    problems = []
    docs = golden_documents()
    for rel, doc in docs.items():
        path = root / rel
        if not path.is_file():
            problems.append(f"{rel}: missing")
        elif json.loads(path.read_text()) != doc:
            problems.append(f"{rel}: differs from what the code computes now")
    problems.extend(
        f"{p.relative_to(root)}: not a known golden"
        for p in _owned_files(root)
        if str(p.relative_to(root)) not in docs
    )
    problems.extend(check_golden_manifest(root, strict=True))
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m fetaledge.golden_cases``."""
    parser = argparse.ArgumentParser(
        prog="python -m fetaledge.golden_cases",
        description="Check (default) or regenerate the decision, spec and geometry goldens shared by pytest and "
        "the Kotlin iqa-core tests.",
    )
    parser.add_argument(
        "--regenerate",
        action="store_true",
        help="rewrite the golden files from the current implementation (on purpose only)",
    )
    parser.add_argument(
        "--root",
        type=Path,
        default=None,
        help="golden root holding decision/, spec/ and geometry/ (default: ./tests/goldens)",
    )
    args = parser.parse_args(argv)
    try:
        root = args.root or default_golden_root()
    except FetaledgeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.regenerate:
        paths = write_goldens(root)
        print(f"wrote {len(paths)} golden files under {root}")
        return 0
    problems = check_goldens(root)
    for p in problems:
        print(f"golden mismatch: {p}", file=sys.stderr)
    if problems:
        print(
            "if the change is intended: python -m fetaledge.golden_cases --regenerate, then review the "
            "diff",
            file=sys.stderr,
        )
        return 1
    print(f"{len(golden_documents())} golden files under {root} reproduce")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
