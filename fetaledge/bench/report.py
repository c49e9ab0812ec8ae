"""Benchmark reports: Markdown table and PNG plots from the results JSON (schema: benchmarks/README.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fetaledge.fsio import atomic_path


def _fmt(v: Any, spec: str = ".3f") -> str:
    return "-" if v is None else format(v, spec)


def markdown(results: dict[str, Any]) -> str:
    """The report as Markdown: host, one row per artifact x threads, the side-by-side comparison."""
    host = results["host"]
    lines = [
        f"# fetaledge benchmark ({results['config'].get('label', 'phantom')})",
        "",
        f"Host: {host['cpu']} ({host['cores']} cores), {host['machine']}"
        + (" **EMULATED under qemu: timings are not device timings**" if host.get("emulated") else ""),
        f"Split: {results['config']['split']} ({results['config'].get('frames', '?')} frames in annotated sweeps, "
        f"{results['config'].get('cases', '?')} cases). Latency: median of {results['config']['repeats']} repeats "
        f"x {results['config']['iters']} frames after {results['config']['warmup']} warm-up; spread = "
        "min..max of the repeat medians. e2e = raw uint8 frame -> probability -> decision update.",
        "",
        "| artifact | runtime | precision | MB | threads | load s | p50 ms | p90 ms | p99 ms | spread ms | "
        "e2e p50 ms | fps | peak RSS MB | F1 | P | R | thr | agree | WFSS |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for a in results["artifacts"]:
        q = a.get("quality", {})
        for t, lat in sorted(a.get("latency", {}).items(), key=lambda kv: int(kv[0])):
            pf = lat["per_frame_ms"]
            lines.append(
                f"| {a['name']} | {a['runtime']} | {a['precision']} | {a['size_bytes'] / 1e6:.2f} | {t} | "
                f"{lat['load_s']:.2f} | {pf['p50']:.2f} | {pf['p90']:.2f} | {pf['p99']:.2f} | "
                f"{lat['spread_ms'][0]:.2f}..{lat['spread_ms'][1]:.2f} | {lat['e2e_ms']['p50']:.2f} | "
                f"{lat['fps']:.1f} | {lat['peak_rss_mb']:.0f} | {_fmt(q.get('f1'))} | {_fmt(q.get('precision'))} | "
                f"{_fmt(q.get('recall'))} | {_fmt(q.get('threshold'))} | {_fmt(q.get('agreement_with_parent'))} | "
                f"{_fmt(q.get('wfss'))} |"
            )
    cmp_ = results.get("comparison")
    if cmp_:
        lines += ["", "## Side by side (same frames, 1 thread)", ""]
        for k, v in cmp_.items():
            lines.append(f"- **{k}**: {v}" if not isinstance(v, dict) else f"- **{k}**: " + ", ".join(
                f"{kk} {vv:.4g}" if isinstance(vv, float) else f"{kk} {vv}" for kk, vv in v.items()))
    for extra in ("arm64", "case_memory", "notes"):
        if results.get(extra):
            lines += ["", f"## {extra}", "", "```", _pretty(results[extra]), "```"]
    return "\n".join(lines) + "\n"


def _pretty(obj: Any) -> str:
    import json

    return json.dumps(obj, indent=2, default=str)


def plots(results: dict[str, Any], out_dir: Path, stem: str) -> list[Path]:
    """latency vs F1 with the Pareto front (1 thread), and the per-frame latency distribution per artifact."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    arts = [a for a in results["artifacts"] if "1" in a.get("latency", {}) and a.get("quality")]
    written = []
    fig, ax = plt.subplots(figsize=(8, 5))
    pts = []
    for a in arts:
        x, y = a["latency"]["1"]["latency_ms"], a["quality"]["f1"]
        pts.append((x, y, a["name"]))
        ax.scatter(x, y, s=40)
        ax.annotate(a["name"], (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
    front, best = [], -1.0
    for x, y, _ in sorted(pts):
        if y > best:
            front.append((x, y))
            best = y
    if front:
        ax.plot(*zip(*front, strict=True), "r--", lw=1, label="Pareto front")
    ax.set_xscale("log")
    ax.set_xlabel("latency per frame at 1 thread, ms (log)" + (" [EMULATED]" if results["host"].get("emulated")
                                                                else ""))
    ax.set_ylabel(f"F1 ({results['config']['split']} split)")
    ax.set_title(f"latency vs F1 on {results['host']['machine']}")
    ax.legend()
    fig.tight_layout()
    with atomic_path(out_dir / f"{stem}_pareto.png", suffix=".png") as tmp:
        fig.savefig(tmp, dpi=90)
    written.append(out_dir / f"{stem}_pareto.png")
    plt.close(fig)
    dist = [(a["name"], a["latency"]["1"]["distribution_ms"])
            for a in results["artifacts"] if "1" in a.get("latency", {})]
    if dist:
        fig, ax = plt.subplots(figsize=(8, 0.5 * len(dist) + 1.5))
        ax.boxplot([np.asarray(d) for _, d in dist], vert=False, labels=[n for n, _ in dist], showfliers=True)
        ax.set_xscale("log")
        ax.set_xlabel("per-frame latency at 1 thread, ms (log)")
        ax.set_title("latency distribution" + (" [EMULATED]" if results["host"].get("emulated") else ""))
        fig.tight_layout()
        with atomic_path(out_dir / f"{stem}_latency.png", suffix=".png") as tmp:
            fig.savefig(tmp, dpi=90)
        written.append(out_dir / f"{stem}_latency.png")
        plt.close(fig)
    return written
