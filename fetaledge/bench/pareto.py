"""The Pareto student sweep's table, front, rule and plot (the measuring is ``benchmarks/pareto_real.py``).

A grid point is one student (architecture x starting point x input resolution) distilled with one recipe; its
row holds validation F1 (what the rule may read), test F1 with a group-bootstrap 95 % interval (what the report
shows), 1-thread CPU ms per raw frame of its fp32 and INT8 ONNX artifacts, MACs of the whole graph (the folded
resample included) and file sizes.

Rule (:func:`choose_default`): among the points whose INT8 artifacts passed their validation gates and whose fp32
validation F1 is within ``tolerance`` of the best point's, the fastest by INT8 1-thread CPU ms per raw frame,
where every point within ``ms_tolerance`` of the fastest counts as equally fast (two exports of the same
architecture at the same resolution, one graph, were timed 1.40 and 1.50 ms in one run: the rest is noise);
among those, the higher validation F1, then fewer MACs, then lower ms, then the name. The test split is never
read by the rule.

Example:
    >>> rows = [{"name": "a", "val_f1": 0.96, "int8_gate_passed": True, "int8_cpu_ms": 2.0, "macs": 9},
    ...         {"name": "b", "val_f1": 0.93, "int8_gate_passed": True, "int8_cpu_ms": 1.0, "macs": 5},
    ...         {"name": "c", "val_f1": 0.80, "int8_gate_passed": True, "int8_cpu_ms": 0.5, "macs": 2}]
    >>> choose_default(rows, tolerance=0.05)["name"]
    'b'
    >>> pareto_front(rows, x="int8_cpu_ms", y="val_f1")
    ['c', 'b', 'a']
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fetaledge.errors import FetaledgeError
from fetaledge.fsio import atomic_path

#: One of the 27 validation images of the African-planes split moves F1 by about this much.
DEFAULT_TOLERANCE = 0.05
#: Timing spread of one graph exported twice, measured in one run (1.40 vs 1.50 ms): closer than this is a tie.
MS_TOLERANCE = 0.10
RULE = ("lowest INT8 1-thread CPU ms per raw frame (this host's INT8 recipe; points within {ms_tol:.0%} of the "
        "fastest tie, a tie going to the higher validation F1, then fewer MACs, then lower ms, then name) among the "
        "points whose INT8 artifacts passed their validation gates and whose fp32 validation F1 is within "
        "{tol:.2f} of the best point's; test never read")


def choose_default(rows: list[dict[str, Any]], tolerance: float = DEFAULT_TOLERANCE,
                   ms_tolerance: float = MS_TOLERANCE) -> dict[str, Any]:
    """The row picked by :data:`RULE` (validation F1 and speed only)."""
    scored = [r for r in rows if r.get("val_f1") is not None]
    if not scored:
        raise FetaledgeError("no grid point has a validation F1: nothing to choose from")
    best = max(r["val_f1"] for r in scored)
    eligible = [r for r in scored if r["val_f1"] >= best - tolerance - 1e-12 and r.get("int8_gate_passed")
                and r.get("host_int8_gate_passed", True) and r.get("int8_cpu_ms") is not None]
    if not eligible:
        raise FetaledgeError("no grid point within the validation tolerance has a gated, timed INT8 artifact",
                             hint="widen --tolerance or check the INT8 gate reports")
    fastest = min(r["int8_cpu_ms"] for r in eligible)
    tied = [r for r in eligible if r["int8_cpu_ms"] <= fastest * (1 + ms_tolerance) + 1e-12]
    return min(tied, key=lambda r: (-r["val_f1"], r.get("macs") or 0, r["int8_cpu_ms"], r["name"]))


def pareto_front(rows: list[dict[str, Any]], x: str, y: str) -> list[str]:
    """Names of the rows not dominated in (lower ``x``, higher ``y``), by increasing ``x``."""
    pts = sorted((r for r in rows if r.get(x) is not None and r.get(y) is not None), key=lambda r: (r[x], -r[y]))
    front, best = [], float("-inf")
    for r in pts:
        if r[y] > best:
            front.append(r["name"])
            best = r[y]
    return front


def _ci(m: dict[str, Any] | None) -> str:
    if not m or m.get("value") is None:
        return "-"
    lo, hi = m.get("low"), m.get("high")
    return f"{m['value']:.3f} [{lo:.3f}, {hi:.3f}]" if lo is not None and hi is not None else f"{m['value']:.3f}"


def _gate(passed: bool | None) -> str:
    return "-" if passed is None else ("passed" if passed else "FAILED")


def _f(v: Any, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def pareto_markdown(rep: dict[str, Any]) -> str:
    """The whole report: host, recipe, table (chosen marked), front, rule, ratios and the F1 condition."""
    host, lines = rep["host"], []
    lines += [f"# Pareto student sweep on real pixels: {rep['data']['name']}", "",
              f"Host: {host['cpu']} ({host.get('vendor', '?')}; {host['cores']} cores; ISA "
              f"{', '.join(host.get('isa', []))}), load average {host.get('loadavg_start')} -> "
              f"{host.get('loadavg_end')}. Command: `{rep['command']}`; {rep['seconds']:.0f} s.",
              f"Data: {rep['data']['description']}", "",
              f"Recipe (every point): {rep['recipe']}.", "",
              "F1 at each artifact's validation-calibrated threshold; test F1 with a patient-group bootstrap 95 % "
              f"interval ({rep['n_boot']} resamples) on {rep['data']['n_test']} test images. ms = process CPU time per "
              "raw frame at 1 thread (idle-core latency; median of repeat medians, fresh process per artifact). "
              "MACs: the whole ONNX graph, the folded resample included.", "",
              "INT8 is ONNX Runtime with the arm64 target's recipe (what a tablet runs: its gate and test F1) and, "
              "where this host is another target, with this host's recipe (its ms: the speed the rule reads; its "
              "test F1 in the host column).", "",
              "| point | arch | start | px | val F1 fp32 | test F1 fp32 [95% CI] | test F1 INT8 arm64 [95% CI] | "
              "INT8 gate arm64 / host | test F1 INT8 host | fp32 ms | INT8 ms arm64 recipe | INT8 ms host recipe | "
              "MMACs | fp32 MB | INT8 MB | train s |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    chosen = rep["choice"]["name"]
    for r in rep["rows"]:
        name = f"**{r['name']}** (chosen)" if r["name"] == chosen else r["name"]
        if r["name"] == rep.get("today_default"):
            name += " (today's default)"
        lines.append(f"| {name} | {r['arch']} | {r['start']} | {r['resolution']} | {_f(r.get('val_f1'), '.3f')} | "
                     f"{_ci(r.get('test_fp32'))} | {_ci(r.get('test_int8'))} | "
                     f"{_gate(r.get('int8_gate_passed'))} / {_gate(r.get('host_int8_gate_passed'))} | "
                     f"{_ci(r.get('test_int8_host'))} | {_f(r.get('fp32_cpu_ms'), '.2f')} | "
                     f"{_f((r.get('int8_arm64_recipe') or {}).get('cpu_ms'), '.2f')} | "
                     f"{_f(r.get('int8_cpu_ms'), '.2f')} | {_f((r.get('macs') or 0) / 1e6, '.0f')} | "
                     f"{_f((r.get('fp32_bytes') or 0) / 1e6, '.2f')} | {_f((r.get('int8_bytes') or 0) / 1e6, '.2f')} | "
                     f"{_f(r.get('train_seconds'), '.0f')} |")
    lines += ["", f"Pareto front (INT8 ms vs test F1, shown, not used to choose): {', '.join(rep['front_test'])}.",
              f"Pareto front (INT8 ms vs validation F1): {', '.join(rep['front_val'])}.", "",
              f"**Rule**: {rep['rule']}. **Chosen: {chosen}** ({rep['choice']['why']}).", ""]
    lines += ["## Speed ratios and the F1 condition (same run, same host, 1 thread, raw frame in)", "",
              "| model | how | ms per raw frame |", "|---|---|---|"]
    for k, v in rep["references"].items():
        lines.append(f"| {k} | {v['how']} | {_f(v.get('cpu_ms'), '.2f')} |")
    lines.append("")
    for c in rep["conditions"]:
        lines.append(f"- {c['what']}: **{_f(c['value'], c.get('fmt', '.3g'))}** (goal {c['goal']}): "
                     f"**{'met' if c['met'] else 'NOT met'}**")
    if rep.get("notes"):
        lines += ["", "## Notes", ""] + [f"- {n}" for n in rep["notes"]]
    return "\n".join(lines) + "\n"


def pareto_plot(rep: dict[str, Any], out_png: Path) -> Path:
    """Test F1 (with CI bars) against INT8 and fp32 ms per raw frame, front drawn, chosen point ringed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 6), layout="constrained")
    markers = {"int8": ("s", "tab:red"), "fp32": ("o", "tab:blue")}
    for prec, (mk, colour) in markers.items():
        for r in rep["rows"]:
            m, ms = r.get(f"test_{prec}"), r.get(f"{prec}_cpu_ms")
            if not m or m.get("value") is None or ms is None:
                continue
            lo, hi = m.get("low") or m["value"], m.get("high") or m["value"]
            ax.errorbar(ms, m["value"], yerr=[[m["value"] - lo], [hi - m["value"]]], fmt=mk, color=colour,
                        alpha=0.8, capsize=2, ms=6, mec="k" if r["name"] == rep["choice"]["name"] else colour)
            if prec == "int8":
                ax.annotate(r["name"], (ms, m["value"]), fontsize=7, xytext=(4, 3), textcoords="offset points")
    by = {r["name"]: r for r in rep["rows"]}
    fx = [by[n]["int8_cpu_ms"] for n in rep["front_test"]]
    fy = [by[n]["test_int8"]["value"] for n in rep["front_test"]]
    if fx:
        ax.step(fx, fy, "r--", where="post", lw=1, label="Pareto front (INT8)")
    c = by[rep["choice"]["name"]]
    ax.scatter([c["int8_cpu_ms"]], [c["test_int8"]["value"]], s=260, facecolors="none", edgecolors="k",
               label=f"chosen by the validation rule: {c['name']}")
    ax.scatter([], [], marker="s", c="tab:red", label="INT8 (ORT): test F1 of the arm64 recipe at this host's "
                                                      "recipe's ms")
    ax.scatter([], [], marker="o", c="tab:blue", label="fp32 (ORT)")
    ax.set_xscale("log")
    ax.set_xlabel("CPU ms per raw frame, 1 thread (log)")
    ax.set_ylabel(f"test F1 ({rep['data']['n_test']} images; 95 % group-bootstrap CI)")
    ax.set_title(f"students x resolution x width on {rep['data']['name']}; host {rep['host']['cpu']} "
                 f"({', '.join(rep['host'].get('isa', []))})", fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    with atomic_path(Path(out_png), suffix=".png") as tmp:
        fig.savefig(tmp, dpi=90)
    plt.close(fig)
    return Path(out_png)
