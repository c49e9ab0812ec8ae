"""Benchmark reports: Markdown tables and PNG plots from the results JSON (schema: benchmarks/README.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fetaledge.fsio import atomic_path


def _fmt(v: Any, spec: str = ".3f") -> str:
    return "-" if v is None else format(v, spec)


def _emulated(results: dict[str, Any]) -> str:
    return " **EMULATED under qemu: timings are not device timings**" if results["host"].get("emulated") else ""


def markdown(results: dict[str, Any]) -> str:
    """The report as Markdown: host, one row per artifact x threads, fastest, side by side, memory, arm64."""
    host, cfg = results["host"], results["config"]
    load = host.get("loadavg_start")
    lines = [
        f"# fetaledge benchmark: {cfg.get('label', 'bench')}",
        "",
        f"Host: {host['cpu']} ({host['vendor'] or '?'}; {host['cores']} cores; ISA {', '.join(host.get('isa', []))}),"
        f" {host['machine']}, Python {host['python']}{_emulated(results)}. Load average at start "
        f"{load}, at end {host.get('loadavg_end')} (a shared machine: compare the CPU-time column).",
        f"Split: {cfg['split']} ({cfg.get('frames', '?')} frames in annotated sweeps, {cfg.get('cases', '?')} cases). "
        f"Latency: median of {cfg['repeats']} repeats x {cfg['iters']} frames (cycling over {cfg.get('bench_frames')} "
        f"raw frames) after {cfg['warmup']} warm-up, a fresh process per artifact and thread count; spread = "
        "min..max of the repeat medians. cpu ms = process CPU time per frame (at 1 thread: the cost on an idle core). "
        "e2e = raw uint8 frame -> probability -> decision update. WFSS over whole cases (all six sweeps).",
        "",
        "| artifact | runtime | precision | MB | threads | load s | p50 ms | p90 ms | p99 ms | median ms (spread) | "
        "cpu ms | e2e p50 ms | fps | peak RSS MB | F1 | P | R | thr | agree w/ parent | WFSS | shipped |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for a in results["artifacts"]:
        q = a.get("quality") or {}
        lat_rows = sorted(a.get("latency", {}).items(), key=lambda kv: int(kv[0])) or [("-", None)]
        for t, lat in lat_rows:
            if lat is None:
                timing = "| - " * 10
            else:
                pf = lat["per_frame_ms"]
                timing = (f"| {lat['load_s']:.2f} | {pf['p50']:.2f} | {pf['p90']:.2f} | {pf['p99']:.2f} | "
                          f"{lat['latency_ms']:.2f} ({lat['spread_ms'][0]:.2f}..{lat['spread_ms'][1]:.2f}) | "
                          f"{_fmt(lat.get('cpu_latency_ms'), '.2f')} | {lat['e2e_ms']['p50']:.2f} | {lat['fps']:.1f} | "
                          f"{lat['peak_rss_mb']:.0f} ")
            lines.append(
                f"| {a['name']} | {a['runtime']} | {a['precision']} | {a['size_bytes'] / 1e6:.2f} | {t} {timing}| "
                f"{_fmt(q.get('f1'))} | {_fmt(q.get('precision'))} | {_fmt(q.get('recall'))} | "
                f"{_fmt(q.get('threshold'))} | {_fmt(q.get('agreement_with_parent'))} | {_fmt(q.get('wfss'))} | "
                f"{'yes' if a.get('shipped') else ''} |"
            )
    fast = {t: f for t, f in (results.get("fastest") or {}).items() if f}
    if fast:
        lines += ["", "## Fastest student artifact on this host", ""]
        lines += [f"- {t} thread(s): **{f['name']}** ({f['runtime']}, {f['precision']}) median {f['latency_ms']:.2f} "
                  f"ms, CPU time {_fmt(f.get('cpu_latency_ms'), '.2f')} ms, F1 {_fmt(f.get('f1'))} (ranked by "
                  f"{f.get('ranked_by', 'median')})" for t, f in sorted(fast.items(), key=lambda kv: int(kv[0]))]
    if results.get("comparison"):
        lines += side_by_side_markdown(results["comparison"])
    if results.get("fetalclip_full"):
        f = results["fetalclip_full"]
        lines += ["", "## Full-size FetalCLIP ViT-L/14 (architecture only)", "",
                  f"{f['label']}: {f['latency_ms']:.0f} ms per raw frame at 1 thread (median of {f['frames']}, spread "
                  f"{f['spread_ms'][0]:.0f}..{f['spread_ms'][1]:.0f}; CPU time {_fmt(f.get('cpu_latency_ms'), '.0f')} "
                  f"ms), {f['gmacs']:.1f} GMACs, {f['params_m']:.0f} M parameters, peak RSS {f['peak_rss_mb']:.0f} MB."]
    if results.get("case_memory"):
        lines += case_memory_markdown(results["case_memory"])
    if results.get("arm_count"):
        from fetaledge.bench.arm_count import arm_count_markdown

        lines += arm_count_markdown(results["arm_count"])
        lines.append(f"\nReport: `{results['arm_count']['report']}`.")
    if results.get("arm64"):
        a = results["arm64"]
        lines += ["", "## ARM64 (EMULATED under qemu-user; see the separate report)", "",
                  f"Report: `{a['report']}`. All decisions agree: **{a['all_decisions_agree']}**; decision "
                  f"agreement on the goldens: {_fmt(a.get('golden_decision_agreement'), '.2%')}; verdicts match on the "
                  f"goldens (frames exact, scores within the golden tolerance): {a.get('golden_verdicts_identical')}; "
                  f"max |p diff| x86 vs arm64: "
                  f"{_fmt(a['max_abs_prob_diff'], '.2e')}. {a['label']}."]
    if results.get("notes"):
        lines += ["", "## Notes", ""] + [f"- {n}" for n in results["notes"]]
    return "\n".join(lines) + "\n"


def side_by_side_markdown(c: dict[str, Any]) -> list[str]:
    """The side-by-side section: teacher vs fastvit_mci0 vs shipped, ratios, the arithmetic limit."""
    if "error" in c:
        return ["", "## Side by side", "", f"not available: {c['error']}"]
    lines = ["", "## Side by side (same frames, 1 thread)", "", c["frames"] + ".", "",
             "| model | artifact | runtime | precision | GMACs | median ms (spread) | cpu ms | F1 | WFSS | MB |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for key, label in (("teacher", "teacher (FetalCLIP architecture, the build's)"),
                       ("reference", "fastvit_mci0 (MobileFetalCLIP student architecture)"),
                       ("shipped", "our shipped student")):
        r = c.get(key)
        if not r:
            lines.append(f"| {label} | not measured | | | | | | | | |")
            continue
        tag = " (UNTRAINED)" if r.get("untrained") else ""
        lines.append(f"| {label}{tag} | {r['name']} | {r['runtime']} | {r['precision']} | "
                     f"{_fmt(r.get('gmacs'), '.3f')} | {r['latency_ms_1thread']:.2f} "
                     f"({r['spread_ms_1thread'][0]:.2f}..{r['spread_ms_1thread'][1]:.2f})"
                     f" | {_fmt(r.get('cpu_ms_1thread'), '.2f')} | {_fmt(r.get('f1'))} | {_fmt(r.get('wfss'))} | "
                     f"{r['size_mb']:.2f} |")
    f = c.get("fetalclip_full")
    if f:
        lines.append(f"| FetalCLIP ViT-L/14 full size, RANDOM weights | architecture only | torch | fp32 | "
                     f"{f['gmacs']:.1f} | {f['latency_ms']:.0f} ({f['spread_ms'][0]:.0f}..{f['spread_ms'][1]:.0f}) | "
                     f"{_fmt(f.get('cpu_latency_ms'), '.0f')} | - | - | - |")
    lines += ["", f"Shipped student: {c['shipped_chosen_by']}.", "", "Ratios:", ""]
    lines += [f"- {k.replace('_', ' ')}: **{_fmt(v, '.3g')}**" for k, v in c["ratios"].items() if v is not None]
    lim = c["arithmetic_limit"]
    th, peak = lim["cpu_peak"]["theoretical"], lim["cpu_peak"]
    kind = "int8" if lim["precision"] == "int8" else "fp32"
    lines += [
        "", "### Distance from this CPU's arithmetic limit (one core)", "",
        f"- {lim['shipped']}: {lim['student_gmacs']:.3f} GMACs per frame ({lim['macs_counted']}).",
        f"- Achieved: {_fmt(lim.get('achieved_gmacs_cpu'), '.1f')} GMAC/s by CPU time "
        f"({_fmt(lim['achieved_gmacs_wall'], '.1f')} GMAC/s by the wall clock).",
        f"- Theoretical {lim['precision']} peak of one core: "
        f"{_fmt(lim['theoretical_peak_gmacs_1core'], '.1f')} GMAC/s = {th[kind + '_derivation']} x "
        f"{_fmt(th['clock_ghz'], '.2f')} GHz ({th['clock_source']}; {th['assumption']}).",
        f"- Measured peak ({peak['measured_how']}): "
        + ", ".join(f"{k} {v['cpu']:.1f} GMAC/s by CPU time ({v['wall']:.1f} wall)"
                    for k, v in peak["measured_gmacs"].items()) + ".",
        f"- The shipped student runs at {_fmt(lim['fraction_of_theoretical'], '.1%')} of the theoretical and "
        f"{_fmt(lim['fraction_of_measured'], '.1%')} of the measured {lim['precision']} peak "
        f"(best: {lim.get('measured_peak_library')}); its MACs alone would take "
        f"{_fmt(lim['floor_ms_theoretical'], '.3f')} ms at the theoretical and "
        f"{_fmt(lim['floor_ms_measured'], '.3f')} ms at the measured peak.",
    ]
    return lines


def case_memory_markdown(cm: dict[str, Any]) -> list[str]:
    lines = ["", f"## Peak memory of the runtime over a full case ({cm['case']})", "", cm["note"] + ".", "",
             "| model | runtime | precision | threads | frames | seconds | fps | peak RSS MB |",
             "|---|---|---|---|---|---|---|---|"]
    for r in cm["runs"]:
        lines.append(f"| {r['model']} | {r['runtime']} | {r['precision']} | {r['threads']} | {r['frames']} | "
                     f"{r['seconds']:.1f} | {r['fps']:.1f} | {r['peak_rss_mb']:.0f} |")
    if cm.get("limit_mb") is not None:
        peak = max((r["peak_rss_mb"] for r in cm["runs"]), default=None)
        lines += ["", f"Bound: peak RSS <= {cm['limit_mb']:.0f} MB over the case for every model: "
                  f"**{'met' if cm.get('within_limit') else 'NOT met'}** (highest {_fmt(peak, '.0f')} MB; "
                  f"the stack file is {cm['case_file_mb']:.0f} MB)."]
    return lines


def arm64_markdown(r: dict[str, Any]) -> str:
    """The arm64 EMULATED parity report: agreement and max diff per model and input, emulated timings."""
    lines = [
        f"# fetaledge arm64 parity and EMULATED timings: {r['config']['label']}", "",
        f"**{r['EMULATED']}.**", "",
        f"Bundle `{r['config']['bundle']}`; arm64 CPython {r['arm64_python']} on {r['arm64_machine']} under qemu-user "
        f"on {r['host']['cpu']}; x86 CPython {r['python']}. Cases: {', '.join(r['config']['cases']) or 'none'}.", "",
        f"- Goldens verified on arm64 (sha256 + golden frames): **{r['goldens_verified_on_arm64']}**"
        + (f" (error: {r['arm64_verify_error']})" if r.get("arm64_verify_error") else ""),
        f"- Decision agreement on the golden sweep: **{_fmt(r['golden_decision_agreement'], '.2%')}**, verdicts "
        f"match (frames and events exact, scores within the golden tolerance): {r['golden_verdicts_identical']}",
        f"- All decisions agree (goldens and cases): **{r['all_decisions_agree']}**; lowest frame agreement "
        f"{_fmt(r['min_frame_decision_agreement'], '.2%')}; max |p diff| {_fmt(r['max_abs_prob_diff'], '.2e')}", "",
        "| model / input | frames | decision agreement | max abs p diff | verdict x86 | verdict arm64 | "
        "x86 median ms | arm64 EMULATED median ms |", "|---|---|---|---|---|---|---|---|",
    ]
    for k, v in r["comparisons"].items():
        lines.append(f"| {k} | {v['frames']} | {v['frame_decision_agreement']:.2%} | {v['max_abs_prob_diff']:.2e} | "
                     f"{_verdict(v['verdict_x86'])} | {_verdict(v['verdict_arm64'])} | {v['x86_median_ms']:.2f} | "
                     f"{v['arm64_emulated_median_ms']:.1f} (EMULATED) |")
    lines += ["", f"Timings: {r['timings_note']}. The probe runs each model at 1 thread.", ""]
    return "\n".join(lines)


def _verdict(v: dict[str, Any]) -> str:
    return f"{v.get('verdict', '?')} frame {v.get('frame', '?')}"


def _save(fig: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt

    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=90)
    plt.close(fig)
    return path


def plots(results: dict[str, Any], out_dir: Path, stem: str) -> list[Path]:
    """latency vs F1 with the Pareto front (1 thread), and the per-frame latency distribution per artifact."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    emu = " [EMULATED]" if results["host"].get("emulated") else ""
    arts = [a for a in results["artifacts"] if "1" in a.get("latency", {}) and (a.get("quality") or {}).get("f1")
            is not None]
    written = []
    if arts:
        fig, ax = plt.subplots(figsize=(11, 6), layout="constrained")
        pts = []
        colours = {"torch": "tab:blue", "onnxruntime": "tab:orange", "litert": "tab:green"}
        for a in arts:
            lat = a["latency"]["1"]
            x, y = lat.get("cpu_latency_ms") or lat["latency_ms"], a["quality"]["f1"]
            pts.append((x, y))
            ax.scatter(x, y, s=45, c=colours.get(a["runtime"], "k"), marker="s" if a["precision"] == "int8" else "o",
                       edgecolors="k" if a.get("shipped") else "none")
            ax.annotate(a["name"], (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
        front, best = [], -1.0
        for x, y in sorted(pts):
            if y > best:
                front.append((x, y))
                best = y
        ax.step(*zip(*front, strict=True), "r--", where="post", lw=1, label="Pareto front")
        for rt, c in colours.items():
            ax.scatter([], [], c=c, label=rt)
        ax.scatter([], [], c="w", edgecolors="k", label="shipped (black edge); square = INT8")
        ax.set_xscale("log")
        ax.set_xlabel(f"CPU time per raw frame at 1 thread = idle-core latency, ms (log){emu}")
        ax.set_ylabel(f"F1 ({results['config']['split']} split)")
        ax.set_title(f"latency vs F1 on {results['host']['machine']} ({results['host']['cpu']})", fontsize=9)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        written.append(_save(fig, out_dir / f"{stem}_pareto.png"))
    dist = [(f"{a['name']} x{t}", lat["distribution_ms"]) for a in results["artifacts"]
            for t, lat in sorted(a.get("latency", {}).items(), key=lambda kv: int(kv[0])) if lat.get("distribution_ms")]
    if dist:
        fig, ax = plt.subplots(figsize=(10, 0.32 * len(dist) + 1.5), layout="constrained")
        names = [n for n, _ in dist]
        new_mpl = tuple(int(x) for x in matplotlib.__version__.split(".")[:2]) >= (3, 10)
        kw = {"orientation": "horizontal", "tick_labels": names} if new_mpl else {"vert": False, "labels": names}
        ax.boxplot([np.asarray(d) for _, d in dist], showfliers=True, **kw)
        ax.set_xscale("log")
        ax.tick_params(axis="y", labelsize=7)
        ax.set_xlabel("per-frame wall-clock latency, ms (log; x1 = 1 thread, xN = N threads)")
        ax.set_title("latency distribution" + emu)
        written.append(_save(fig, out_dir / f"{stem}_latency.png"))
    return written


def arm64_plot(report: dict[str, Any], out_dir: Path, stem: str) -> Path:
    """Two panels: x86 vs arm64-EMULATED median per-frame time, and max |p diff| per model and input."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    rows = report["comparisons"]
    keys = list(rows)
    y = np.arange(len(keys))
    fig, (a0, a1) = plt.subplots(1, 2, figsize=(13, 0.5 * len(keys) + 2.2), layout="constrained")
    a0.barh(y - 0.2, [rows[k]["x86_median_ms"] for k in keys], 0.4, label="x86_64 (native)")
    a0.barh(y + 0.2, [rows[k]["arm64_emulated_median_ms"] for k in keys], 0.4, label="arm64 EMULATED (qemu)")
    a0.set_yticks(y, keys, fontsize=7)
    a0.set_xscale("log")
    a0.set_xlabel("median ms per frame, 1 thread (log)")
    a0.set_title("EMULATED timings: not device timings", fontsize=9)
    a0.legend(fontsize=7)
    diffs = [max(rows[k]["max_abs_prob_diff"], 1e-9) for k in keys]
    a1.barh(y, diffs, color=["tab:green" if rows[k]["frame_decision_agreement"] == 1.0 else "tab:red" for k in keys])
    a1.set_yticks(y, [f"{rows[k]['frame_decision_agreement']:.0%} agree" for k in keys], fontsize=7)
    a1.set_xscale("log")
    a1.set_xlabel("max |p(x86) - p(arm64)| (log; green = 100 % decision agreement)")
    a1.set_title(f"parity: all decisions agree = {report['all_decisions_agree']}", fontsize=9)
    return _save(fig, out_dir / f"{stem}.png")
