"""Torch-free runtime: what runs next to the probe (and what ``android_demo/iqa-core`` mirrors in Kotlin).

Kept light on purpose: importing ``fetaledge.runtime`` imports nothing (no onnxruntime, no numpy, never
torch). Import the piece you need:

* ``fetaledge.runtime.decision``: streaming per-sweep decision logic and case-level frame choice
* ``fetaledge.runtime.spec``: the ``iqa_spec.json`` schema (typed, strictly validated)
* ``fetaledge.runtime.bundle``: bundle checks (sha256 of every listed file)
* ``fetaledge.runtime.goldens``: the golden format: encode, decode, re-run and compare (cases: golden_cases)

Example:
    >>> from fetaledge.runtime.decision import DecisionParams, run_sweep
    >>> run_sweep(DecisionParams.from_threshold(0.5, min_run=1, smoothing_alpha=1.0), [0.2, 0.9])[1].frame
    1
"""
