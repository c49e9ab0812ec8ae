"""Run the benchmark worker per (artifact, threads) and summarise the timings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from fetaledge.bench.artifacts import BenchArtifact
from fetaledge.errors import FetaledgeError


def summarise(ms: list[float]) -> dict[str, float]:
    a = np.asarray(ms, np.float64)
    return {"p50": float(np.percentile(a, 50)), "p90": float(np.percentile(a, 90)),
            "p99": float(np.percentile(a, 99)), "mean": float(a.mean()), "min": float(a.min()),
            "max": float(a.max())}


def run_worker(spec: dict[str, Any], timeout: float = 1800.0) -> dict[str, Any]:
    """Run ``fetaledge.bench.worker`` in a fresh Python process; returns its JSON result."""
    with tempfile.TemporaryDirectory() as d:
        sp, out = Path(d) / "spec.json", Path(d) / "out.json"
        sp.write_text(json.dumps(spec))
        env = {**os.environ, "OMP_NUM_THREADS": str(spec.get("threads", 1))}
        proc = subprocess.run([sys.executable, "-m", "fetaledge.bench.worker", str(sp), str(out)],
                              capture_output=True, text=True, timeout=timeout, env=env)
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            raise FetaledgeError(f"benchmark of {spec.get('path')} failed: {' | '.join(tail)}")
        return json.loads(out.read_text())


def measure_latency(artifact: BenchArtifact, frames_npy: Path, threads: int, decision: dict[str, Any], *,
                    raw_hw: tuple[int, int], warmup: int = 5, iters: int = 20, repeats: int = 3) -> dict[str, Any]:
    """Latency of one artifact at ``threads``: p50/p90/p99 over all timed frames, the median of each repeat
    (the headline is the median of those medians; their range is the spread), e2e, load time, peak RSS, and the
    process CPU time per frame (``cpu_latency_ms``: at 1 thread, what the frame costs on an idle core).

    Example:
        >>> measure_latency(art, Path("frames.npy"), 1, params.to_dict(), raw_hw=(562, 744))  # doctest: +SKIP
    """
    raw = run_worker({
        "runtime": artifact.runtime, "precision": artifact.precision, "path": artifact.path,
        "raw_hw": list(raw_hw), "frames": str(frames_npy), "threads": threads, "warmup": warmup,
        "iters": iters, "repeats": repeats, "decision": decision,
    })
    med = raw["repeat_medians_ms"]
    return {
        "threads": threads,
        "load_s": raw["load_s"],
        "latency_ms": float(np.median(med)),
        "spread_ms": [float(min(med)), float(max(med))],
        "per_frame_ms": summarise(raw["per_frame_ms"]),
        "e2e_ms": summarise(raw["e2e_ms"]),
        "fps": 1000.0 / float(np.median(med)),
        "cpu_latency_ms": float(np.median(raw["repeat_cpu_medians_ms"])),
        "cpu_spread_ms": [float(min(raw["repeat_cpu_medians_ms"])), float(max(raw["repeat_cpu_medians_ms"]))],
        "cpu_ms": summarise(raw["cpu_ms"]),
        "peak_rss_mb": raw["peak_rss_mb"],
        "samples": len(raw["per_frame_ms"]),
        "distribution_ms": raw["per_frame_ms"],
    }


def rank_ms(latency: dict[str, Any], threads: str) -> float:
    """The figure artifacts are ranked by: at 1 thread the CPU time per frame (the idle-core latency, steady on a
    shared machine), at more threads the wall-clock median (CPU time sums the threads there)."""
    lat = latency[threads]
    return lat["cpu_latency_ms"] if threads == "1" and lat.get("cpu_latency_ms") else lat["latency_ms"]
