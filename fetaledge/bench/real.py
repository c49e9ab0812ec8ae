"""Real-data report for a build on a plane dataset (e.g. the African fetal planes): honest numbers with intervals.

For every artifact of a build's work folder (the teacher, the default student in PyTorch and as its fp32 ONNX
export, every INT8 artifact of ``quant/<target>/quantize.json`` whether it passed its gate or not, and any extra
students, e.g. the same student from other starting points) on the test split of a plane-dataset cache:

* F1, precision, recall (and AUROC) at the artifact's validation-calibrated threshold, each with a percentile
  bootstrap 95 % interval that resamples whole patient groups (:func:`fetaledge.metrics.bootstrap_ci`);
* F1 per centre (the African set: one country, one machine geometry each);
* how often each plane is called positive (which planes are mistaken for the positive one), as a table and a
  figure (``confusion.png``);
* INT8 vs fp32 agreement of decisions and the largest probability difference, on the same real pixels;
* the shipped bundle run by the torch-free runtime on the ORIGINAL images (every size, colour included): its
  ``input.other_sizes`` letterbox must give the same probabilities as the cached path.

Example:
    >>> results = real_data_report(Path("work"), Path("benchmarks/results/real_african"), bundle=Path("bundle"))
    ... # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import math
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fetaledge.bench.artifacts import BenchArtifact
from fetaledge.errors import FetaledgeError
from fetaledge.fsio import atomic_path, ensure_writable_dir, read_json, write_json
from fetaledge.metrics import auroc, binary_metrics, bootstrap_ci
from fetaledge.runtime.numeric import sigmoid, sigmoid_array
from quantize.stats import wilson_interval

REPORT_SCHEMA = 1
Log = Callable[[str], None]


@dataclass
class RealEntry:
    """One artifact to score: where it is, its threshold, the fp32 artifact it should agree with, a note."""

    artifact: BenchArtifact
    threshold: float
    parent: str | None = None
    note: str = ""


def collect_entries(work: Path, target: str = "arm64", extra_students: dict[str, Path] | None = None
                    ) -> list[RealEntry]:
    """The artifacts of a build's work folder (``fetaledge.build.Work`` layout) plus extra student model folders.

    Example:
        >>> [e.artifact.name for e in collect_entries(Path("work"))]  # doctest: +SKIP
        ['teacher-fp32-torch', 'student-fp32-torch', 'student-fp32-onnxruntime', 'student-int8-litert', ...]
    """
    from fetaledge.models.checkpoint import read_config
    from fetaledge.work import Work

    w = Work(Path(work))
    for p in (w.teacher_merged, w.student):
        if not (p / "config.json").is_file():
            raise FetaledgeError(f"{p} is missing: {work} is not a finished build",
                                 hint="run `fetaledge build --data <plane dataset> --work WORK` first")
    t_cfg, s_cfg = read_config(w.teacher_merged), read_config(w.student)
    ts, ss = float(t_cfg["threshold"]), float(s_cfg["threshold"])
    s_name = f"student-{s_cfg['arch']}-{s_cfg.get('init', '?')}"
    entries = [
        RealEntry(BenchArtifact("teacher-fp32-torch", "teacher", "torch", "fp32", str(w.teacher_merged)), ts,
                  note=f"{t_cfg.get('name') or t_cfg.get('arch')} ({t_cfg.get('kind')})"),
        RealEntry(BenchArtifact(f"{s_name}-fp32-torch", "student", "torch", "fp32", str(w.student)), ss,
                  "teacher-fp32-torch", note="the build's default student, PyTorch"),
    ]
    onnx = w.export / "student.onnx"
    if onnx.is_file():
        entries.append(RealEntry(BenchArtifact("student-fp32-onnxruntime", "student", "onnxruntime", "fp32",
                                               str(onnx)), ss, f"{s_name}-fp32-torch", note="fp32 ONNX export"))
    qfile = w.quant(target) / "quantize.json"
    if qfile.is_file():
        quant = read_json(qfile, "quantize summary")
        for backend, e in quant["backends"].items():
            path = e.get("artifact") or e.get("candidate")
            if not path or not Path(path).is_file():
                continue
            runtime = "litert" if backend == "litert" else "onnxruntime"
            parent = "student-fp32-onnxruntime" if onnx.is_file() else f"{s_name}-fp32-torch"
            gate = "passed" if e.get("passed") else "FAILED"
            entries.append(RealEntry(BenchArtifact(f"student-int8-{backend}", "student", runtime, "int8", path), ss,
                                     parent, note=f"INT8 via {backend}; validation gate {gate}"))
    for label, folder in (extra_students or {}).items():
        cfg = read_config(Path(folder))
        entries.append(RealEntry(BenchArtifact(f"student-{cfg['arch']}-{label}-fp32-torch", "student", "torch", "fp32",
                                               str(folder)), float(cfg["threshold"]), "teacher-fp32-torch",
                                 note=f"starting point: {label} (init {cfg.get('init')})"))
    return entries


def score_test_split(entries: list[RealEntry], cache, split: str = "test", log: Log = print) -> dict[str, Any]:
    """Logits of every entry on every image of ``split`` (raw frames read back from the source: grey,
    letterboxed to the cache's raw size), with labels, patient groups, centres and planes."""
    from fetaledge.bench.quality import scorer
    from fetaledge.data.raw import iter_raw_sweeps

    raw_hw = (int(cache.manifest["raw_height"]), int(cache.manifest["raw_width"]))
    sweeps = list(iter_raw_sweeps(cache, split))
    frames = np.concatenate([sw.frames for sw in sweeps])
    labels = np.concatenate([sw.labels for sw in sweeps]).astype(int)
    info = [cache.entries[sw.case] for sw in sweeps]
    logits = {}
    for e in entries:
        t = time.perf_counter()
        logits[e.artifact.name] = np.asarray(scorer(e.artifact, raw_hw)(frames), np.float64).reshape(-1)
        log(f"[real] scored {e.artifact.name} on {len(frames)} {split} images ({time.perf_counter() - t:.1f} s)")
    return {"logits": logits, "labels": labels, "cases": [sw.case for sw in sweeps],
            "groups": [i["subject_id"] for i in info], "centres": [i.get("centre", "") for i in info],
            "planes": [i.get("plane", "") for i in info], "raw_hw": list(raw_hw)}


def _finite(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def artifact_metrics(p: np.ndarray, y: np.ndarray, groups: list[str], threshold: float, n_boot: int = 2000,
                     seed: int = 0) -> dict[str, Any]:
    """F1 / precision / recall / AUROC with group-bootstrap 95 % intervals, and the confusion counts."""
    m = binary_metrics(p, y, threshold)
    out: dict[str, Any] = {"threshold": threshold, "n": int(len(y)), "positives": int(y.sum()),
                           "tp": int(m.tp), "fp": int(m.fp), "fn": int(m.fn), "tn": int(m.tn)}
    fns = {
        "f1": lambda s, t: binary_metrics(s, t, threshold).f1,
        "precision": lambda s, t: binary_metrics(s, t, threshold).precision,
        "recall": lambda s, t: binary_metrics(s, t, threshold).recall,
        "auroc": lambda s, t: auroc(s, t),
    }
    for k, fn in fns.items():
        ci = bootstrap_ci(fn, p, y, groups, n=n_boot, seed=seed)
        out[k] = {"value": _finite(ci.estimate), "low": _finite(ci.low), "high": _finite(ci.high),
                  "n_valid": int(ci.n_valid)}
    return out


def summarize(scores: dict[str, Any], entries: list[RealEntry], n_boot: int = 2000, seed: int = 0
              ) -> dict[str, Any]:
    """Per artifact: metrics with intervals, F1 per centre, positive rate per plane, agreement with its parent."""
    y = scores["labels"]
    groups, centres, planes = scores["groups"], np.array(scores["centres"]), np.array(scores["planes"])
    by_name = {e.artifact.name: e for e in entries}
    out: dict[str, Any] = {}
    for e in entries:
        name = e.artifact.name
        p = sigmoid_array(scores["logits"][name])
        r = {"runtime": e.artifact.runtime, "precision": e.artifact.precision, "path": e.artifact.path,
             "note": e.note, **artifact_metrics(p, y, groups, e.threshold, n_boot, seed)}
        r["per_centre"] = {}
        for c in sorted(set(centres)):
            sel = centres == c
            mc = binary_metrics(p[sel], y[sel], e.threshold)
            r["per_centre"][c] = {"n": int(sel.sum()), "positives": int(y[sel].sum()), "f1": _finite(mc.f1),
                                  "precision": _finite(mc.precision), "recall": _finite(mc.recall)}
        called = p >= e.threshold
        r["called_positive_by_plane"] = {pl: {"n": int((planes == pl).sum()),
                                              "called_positive": int(called[planes == pl].sum()),
                                              "rate": float(called[planes == pl].mean())}
                                         for pl in sorted(set(planes))}
        if e.parent and e.parent in scores["logits"]:
            q = sigmoid_array(scores["logits"][e.parent])
            pt = by_name[e.parent].threshold
            agree = int(np.sum(called == (q >= pt)))
            r["vs_parent"] = {"parent": e.parent, "decision_agreement": float(np.mean(called == (q >= pt))),
                              "agreement_ci": list(wilson_interval(agree, len(called))),
                              "flips": int(np.sum(called != (q >= pt))),
                              "max_abs_prob_diff": float(np.max(np.abs(p - q))),
                              "mean_abs_prob_diff": float(np.mean(np.abs(p - q)))}
        out[name] = r
    return out


def _host() -> dict[str, Any]:
    flags: set[str] = set()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    isa = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8", "asimddp")
    return {"machine": platform.machine(), "python": platform.python_version(),
            "isa": sorted(f for f in isa if f in flags)}


def _int8_gate(qfile: Path) -> dict[str, Any]:
    """Per backend: what its gate decided, on how many frames, with which kernels and recipe."""
    if not qfile.is_file():
        return {}
    quant = read_json(qfile, "quantize summary")
    keys = ("passed", "n_gate", "agreement", "agreement_ci", "n_flips", "f1_fp32", "f1_int8", "f1_drop",
            "mean_abs_p_diff", "max_abs_p_diff", "kernels", "n_float_ops", "float_ops")
    out = {b: {k: e.get(k) for k in keys} | {"keep_float": (e.get("recipe") or {}).get("keep_float"),
                                              "attempts": len(e.get("attempts", []))}
           for b, e in quant["backends"].items()}
    return {"gate_frames": quant.get("gate_frames"), "n_val": quant.get("n_val"), "backends": out}


def runtime_check(bundle: Path, cache, split: str = "test") -> dict[str, Any]:
    """The bundle's primary model through the torch-free runtime on the ORIGINAL images (own size, grey from
    colour by the runtime's reader, letterboxed by the runtime), against the cached/raw-frame path."""
    from fetaledge.data.raw import iter_raw_images
    from fetaledge.runtime.classifier import FrameClassifier
    from fetaledge.runtime.geometry import letterbox

    clf = FrameClassifier(bundle)
    inp = clf.spec.input
    sizes: dict[str, int] = {}
    diffs, flips, n = [], 0, 0
    for im in iter_raw_images(cache, split):
        p_runtime = clf.probability(im.image)  # own size: the runtime applies input.other_sizes
        p_cached = sigmoid(clf.engine(letterbox(im.image, inp.height, inp.width)))
        diffs.append(abs(p_runtime - p_cached))
        flips += (p_runtime >= clf.spec.decision.threshold) != (p_cached >= clf.spec.decision.threshold)
        key = f"{im.image.shape[1]}x{im.image.shape[0]}"
        sizes[key] = sizes.get(key, 0) + 1
        n += 1
    return {"bundle": str(bundle), "model": clf.model.name, "input": f"{inp.height}x{inp.width}",
            "other_sizes": inp.other_sizes, "images": n, "image_sizes_wxh": sizes,
            "max_abs_prob_diff_vs_cached_path": float(max(diffs) if diffs else 0.0), "decision_flips": int(flips)}


def _starting_points(artifacts: dict[str, Any], starts: dict[str, list[str]]) -> dict[str, Any]:
    out = {}
    for init, names in starts.items():
        found = [n for n in names if n in artifacts]
        if not found:
            continue
        f1 = [artifacts[n]["f1"]["value"] or 0.0 for n in found]
        out[init] = {"artifacts": found,
                     "f1_over_seeds": {"mean": float(np.mean(f1)), "sd": float(np.std(f1, ddof=1)) if len(f1) > 1
                                       else 0.0, "n": len(f1)} if len(f1) > 1 else None}
    return out


# --------------------------------------------------------------------------------------------- reports
def _ci(m: dict[str, Any]) -> str:
    if m["value"] is None:
        return "-"
    if m["low"] is None:
        return f"{m['value']:.3f}"
    return f"{m['value']:.3f} [{m['low']:.3f}, {m['high']:.3f}]"


def report_markdown(results: dict[str, Any]) -> str:
    """The committed Markdown report."""
    a = results["artifacts"]
    d = results["data"]
    lines = [
        f"# Real-data report: {d['name']}", "",
        f"{d['description']}", "",
        f"Test split: {d['test_images']} images ({d['test_positives']} positive: {', '.join(d['positive_planes'])}), "
        f"{d['test_groups']} patient groups, {len(d['centres'])} centres. 95 % intervals: percentile bootstrap over "
        f"patient groups ({results['bootstrap']['n']} resamples, seed {results['bootstrap']['seed']}). With so few "
        "images the intervals are wide: differences inside them are not evidence.", "",
        "## Every artifact (test split, threshold calibrated on validation)", "",
        "| artifact | F1 [95 % CI] | precision [95 % CI] | recall [95 % CI] | AUROC [95 % CI] | threshold | note |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in a.items():
        lines.append(f"| {name} | {_ci(r['f1'])} | {_ci(r['precision'])} | {_ci(r['recall'])} | {_ci(r['auroc'])} | "
                     f"{r['threshold']:.3f} | {r['note']} |")
    b = results.get("baseline")
    if b:
        lines.append(f"| (baseline: call every image positive) | {_ci(b['f1'])} | {_ci(b['precision'])} | "
                     f"{_ci(b['recall'])} | - | - | what F1 rewards with no skill at this prevalence |")
    starts = results.get("starting_points")
    if starts:
        lines += ["", "## Starting points of the student (same teacher, data, recipe, seeds; only the init differs)",
                  "", "| init | artifact(s) | test F1 [95 % CI] | AUROC [95 % CI] | F1 over seeds (mean, sd, n) |",
                  "|---|---|---|---|---|"]
        for label, st in starts.items():
            first = a[st["artifacts"][0]]
            seeds = st.get("f1_over_seeds")
            over = f"{seeds['mean']:.3f}, {seeds['sd']:.3f}, {seeds['n']}" if seeds else "-"
            lines.append(f"| {label} | {', '.join(st['artifacts'])} | {_ci(first['f1'])} | {_ci(first['auroc'])} | "
                         f"{over} |")
    centres = sorted({c for r in a.values() for c in r["per_centre"]})
    lines += ["", "## F1 per centre (point estimates; n images / positives per centre in the header)", "",
              "| artifact | " + " | ".join(f"{c} ({a[next(iter(a))]['per_centre'][c]['n']}/"
                                            f"{a[next(iter(a))]['per_centre'][c]['positives']})" for c in centres)
              + " |", "|---|" + "---|" * len(centres)]
    for name, r in a.items():
        vals = [r["per_centre"][c]["f1"] for c in centres]
        lines.append(f"| {name} | " + " | ".join("-" if v is None else f"{v:.3f}" for v in vals) + " |")
    planes = sorted({pl for r in a.values() for pl in r["called_positive_by_plane"]})
    lines += ["", "## Which planes are called positive (fraction of each plane's test images; figure: confusion.png)",
              "", "| artifact | " + " | ".join(planes) + " |", "|---|" + "---|" * len(planes)]
    for name, r in a.items():
        cp = r["called_positive_by_plane"]
        lines.append(f"| {name} | " + " | ".join(f"{cp[pl]['rate']:.2f} ({cp[pl]['called_positive']}/{cp[pl]['n']})"
                                                 for pl in planes) + " |")
    lines += ["", "## Agreement with the parent artifact on the same real pixels", "",
              "| artifact | parent | decision agreement [95 % CI] | flips | max abs p diff | mean abs p diff |",
              "|---|---|---|---|---|---|"]
    for name, r in a.items():
        v = r.get("vs_parent")
        if v:
            ci = v.get("agreement_ci")
            agree = f"{v['decision_agreement']:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")
            lines.append(f"| {name} | {v['parent']} | {agree} | {v['flips']} | "
                         f"{v['max_abs_prob_diff']:.4f} | {v['mean_abs_prob_diff']:.4f} |")
    lines += _int8_gate_markdown(results)
    rt = results.get("runtime_check")
    if rt:
        sizes = ", ".join(f"{k} ({v})" for k, v in sorted(rt["image_sizes_wxh"].items()))
        lines += ["", "## The shipped bundle on the original images (torch-free runtime)", "",
                  f"`{rt['model']}` of the bundle (input {rt['input']}, other sizes: {rt['other_sizes']}) scored the "
                  f"{rt['images']} test images at their own size (WxH: {sizes}): the runtime's grey + letterbox gave "
                  f"a max |p difference| of {rt['max_abs_prob_diff_vs_cached_path']:.2e} against the cached path and "
                  f"{rt['decision_flips']} decision flip(s)."]
    if results.get("shipped"):
        lines += ["", f"Shipped by the build (target {results['target']}): {', '.join(results['shipped'])}."]
    lines += ["", "## Notes", ""] + [f"- {n}" for n in results.get("notes", [])]
    lines += ["", f"Regenerate: `{results['command']}`", ""]
    return "\n".join(lines)


def _int8_gate_markdown(results: dict[str, Any]) -> list[str]:
    g = results.get("int8_gate") or {}
    if not g.get("backends"):
        return []
    host = results.get("host", {})
    gf = g.get("gate_frames") or {}
    lines = ["", "## INT8 gate per backend (build-time: F1 on the validation split, agreement on every gate frame)", "",
             f"Gate frames: {g.get('n_val')} validation images + {gf.get('used', 0)} unlabelled ("
             f"{gf.get('train_not_calibration', 0)} train images calibration did not use, "
             f"{gf.get('augmented_copies', 0)} augmented copies of the calibration images: flip, shift, gain). "
             f"Host ISA: {', '.join(host.get('isa', [])) or '?'} (INT8 scored "
             "with the kernels named per row; exact = ONNX Runtime's int32-exact x86 kernels, what ARM computes).", "",
             "| backend | gate | frames | agreement [95 % CI] | flips | F1 fp32 -> int8 (val) | "
             "mean / max abs p diff | kernels | float ops | keep_float | attempts |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for b, e in g["backends"].items():
        if e.get("agreement") is None:
            lines.append(f"| {b} | not run | - | - | - | - | - | - | - | - | - |")
            continue
        lo, hi = e.get("agreement_ci") or (0.0, 1.0)
        lines.append(f"| {b} | {'passed' if e['passed'] else 'FAILED'} | {e['n_gate']} | {e['agreement']:.3f} "
                     f"[{lo:.3f}, {hi:.3f}] | {e['n_flips']} | {e['f1_fp32']:.3f} -> {e['f1_int8']:.3f} | "
                     f"{e['mean_abs_p_diff']:.4f} / {e['max_abs_p_diff']:.4f} | {e['kernels']} | "
                     f"{e.get('n_float_ops')} ({', '.join(e.get('float_ops') or [])}) | "
                     f"{', '.join(e.get('keep_float') or [])} | {e['attempts']} |")
    return lines


def confusion_figure(results: dict[str, Any], out_png: Path) -> Path:
    """Per plane (true label), the fraction of test images each artifact calls positive: which planes are
    mistaken for the positive plane; plus each artifact's F1 with its interval."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    a = results["artifacts"]
    names = list(a)
    planes = sorted({pl for r in a.values() for pl in r["called_positive_by_plane"]})
    pos = set(results["data"]["positive_planes"])
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(15, 0.55 * len(names) + 2.8),
                                   gridspec_kw={"width_ratios": [2.2, 1]})
    mat = np.array([[a[n]["called_positive_by_plane"][pl]["rate"] for pl in planes] for n in names])
    ax0.imshow(mat, cmap="Reds", vmin=0, vmax=1, aspect="auto")
    for i in range(len(names)):
        for j, pl in enumerate(planes):
            c = a[names[i]]["called_positive_by_plane"][pl]
            ax0.text(j, i, f"{c['rate']:.2f}\n{c['called_positive']}/{c['n']}", ha="center", va="center", fontsize=8,
                     color="white" if mat[i, j] > 0.6 else "black")
    ax0.set_xticks(range(len(planes)), [f"{pl}\n({'positive' if pl in pos else 'negative'})" for pl in planes])
    ax0.set_yticks(range(len(names)), names, fontsize=8)
    ax0.set_title("fraction of each plane's test images called positive\n(off the positive column: mistaken for it)")
    f1 = [a[n]["f1"] for n in names]
    ys = np.arange(len(names))
    vals = np.array([m["value"] or 0.0 for m in f1])
    lo = np.array([m["low"] if m["low"] is not None else v for m, v in zip(f1, vals, strict=True)])
    hi = np.array([m["high"] if m["high"] is not None else v for m, v in zip(f1, vals, strict=True)])
    ax1.errorbar(vals, ys, xerr=[vals - lo, hi - vals], fmt="o", capsize=3)
    ax1.set_yticks(ys, [""] * len(names))
    ax1.set_ylim(len(names) - 0.5, -0.5)
    ax1.set_xlim(0, 1)
    base = results.get("baseline", {}).get("f1", {}).get("value")
    if base is not None:
        ax1.axvline(base, color="0.5", ls="--", lw=1, label=f"call all positive ({base:.2f})")
        ax1.legend(loc="lower left", fontsize=8)
    ax1.set_xlabel("test F1 with 95 % CI (bootstrap over patient groups)")
    ax1.grid(axis="x", alpha=0.3)
    fig.suptitle(f"{results['data']['name']}: test split, {results['data']['test_images']} images")
    fig.tight_layout()
    with atomic_path(Path(out_png), suffix=".png") as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)
    return Path(out_png)


def real_data_report(work: Path, out_dir: Path, *, target: str = "arm64", bundle: Path | None = None,
                     extra_students: dict[str, Path] | None = None, n_boot: int = 2000, seed: int = 0,
                     starting_points: dict[str, list[str]] | None = None,
                     name: str = "African fetal planes (Sendra-Balcells et al. 2023, CC BY 4.0)",
                     description: str = "", command: str = "", notes: list[str] | None = None,
                     log: Log = print) -> dict[str, Any]:
    """Score a plane-dataset build's artifacts on its test split and write ``report.json``, ``report.md`` and
    ``confusion.png`` into ``out_dir``.

    ``extra_students`` (label -> student model folder) are scored too, as ``student-<arch>-<label>-fp32-torch``;
    ``starting_points`` (init name -> labels or artifact names, the first one headline, all of them seeds)
    makes the starting-point comparison table.

    Example:
        >>> real_data_report(Path("work"), Path("out"), bundle=Path("bundle"))  # doctest: +SKIP
    """
    from fetaledge.data.cache import FrameCache
    from fetaledge.work import Work

    w = Work(Path(work))
    cache = FrameCache(w.cache)
    if cache.manifest.get("source_kind") != "planes":
        raise FetaledgeError(f"{w.cache} is not a plane-dataset cache", hint="build with --data <plane dataset>")
    entries = collect_entries(w.root, target, extra_students)
    scores = score_test_split(entries, cache, log=log)
    artifacts = summarize(scores, entries, n_boot, seed)
    planes_info = cache.manifest["planes"]
    y = scores["labels"]
    everything = artifact_metrics(np.ones(len(y)), y, scores["groups"], 0.5, n_boot, seed)
    results: dict[str, Any] = {
        "schema": REPORT_SCHEMA,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "host": _host(),
        "target": target,
        "int8_gate": _int8_gate(w.quant(target) / "quantize.json"),
        "data": {"name": name, "description": description, "source": cache.manifest["source"],
                 "layout": planes_info["layout"], "positive_planes": planes_info["positive_planes"],
                 "split": planes_info["split"], "left_out": planes_info["left_out"],
                 "raw_frame": scores["raw_hw"], "test_images": int(len(y)), "test_positives": int(y.sum()),
                 "test_groups": len(set(scores["groups"])), "centres": sorted(set(scores["centres"])),
                 "split_sizes": {k: len(v) for k, v in cache.split.cases.items()}},
        "bootstrap": {"n": n_boot, "seed": seed, "unit": "patient group", "interval": "percentile 95 %"},
        "artifacts": artifacts,
        "baseline": {"rule": "every image positive", **{k: everything[k] for k in ("f1", "precision", "recall")}},
        "starting_points": _starting_points(artifacts, starting_points or {}),
        "command": command,
        "notes": list(notes or []),
    }
    if bundle is not None:
        spec = read_json(Path(bundle) / "iqa_spec.json", "bundle spec")
        results["shipped"] = [m["name"] for m in spec["models"]]
        results["runtime_check"] = runtime_check(Path(bundle), cache)
        log(f"[real] runtime on original images: max |p diff| "
            f"{results['runtime_check']['max_abs_prob_diff_vs_cached_path']:.2e}")
    out_dir = ensure_writable_dir(Path(out_dir))
    write_json(out_dir / "report.json", results)
    with atomic_path(out_dir / "report.md") as tmp:
        tmp.write_text(report_markdown(results))
    try:
        confusion_figure(results, out_dir / "confusion.png")
    except ImportError:
        log("[real] matplotlib is not installed: no confusion.png (pip install matplotlib)")
    return results
