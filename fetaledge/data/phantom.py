"""Synthetic blind-sweep phantom written in the ACOUSLIC-AI layout, so every stage runs unchanged on it.

What a sweep shows: a transverse sweep slides the image plane along the fetal body (pelvis -> abdomen ->
thorax -> head). Near the abdominal-circumference (AC) level the cross-section shows the stomach bubble, the
intrahepatic umbilical vein and the spine; below it kidneys and bladder, above it the heart; the head is a
bright skull ring. Frames whose plane lies within a narrow band of the AC level are labelled 1 (optimal),
the neighbours 2 (suboptimal), everything else 0: an ellipse alone does not make a positive, so a classifier
must read the inner structures. Sweeps without an AC value miss the fetus, cut it lengthwise or obliquely.

Difficulty knobs (:class:`PhantomConfig`): ``noise`` (speckle and electronic noise), ``contrast`` (of fetal
structures against the background), ``tilt`` (out-of-plane probe tilt: elongated, smeared sections; a tilted
optimal plane is downgraded), ``partial`` (probability that the abdomen sits at the fan edge: cut off and
downgraded). Deterministic per seed: case ``i`` draws from ``SeedSequence([seed, i])``.

Example:
    >>> write_phantom(Path("phantom"), PhantomConfig(cases=4, seed=1))  # doctest: +SKIP
"""

from __future__ import annotations

import csv
import math
import multiprocessing as mp
import os
import uuid as uuidlib
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from itertools import repeat
from pathlib import Path

import numpy as np

from fetaledge.data import layout as L
from fetaledge.data.phantom_render import (
    APEX_X,
    APEX_Y,
    Ellipse,
    Fan,
    Speckle,
    blob,
    ring,
    shadow_from,
    smooth_field,
    to_uint8,
)
from fetaledge.errors import FetaledgeError
from fetaledge.fsio import atomic_path, ensure_writable_dir, write_json

# Body coordinate s along the fetus: 0 pelvis, S_AC abdominal-circumference level, 1 neck; head beyond.
S_AC = 0.45
OPTIMAL_BAND, SUBOPTIMAL_BAND = 0.02, 0.06
# Real annotated-sweep counts per sweep index (research/paper_code_dataset.md 3.1) as sampling weights.
SWEEP_WEIGHTS = np.array([237, 135, 90, 31, 47, 13], float)
N_ANNOTATED_P = np.array([127, 108, 50, 15], float)  # cases with 1, 2, 3, 4 annotated sweeps


@dataclass(frozen=True)
class PhantomConfig:
    """What to generate. Defaults give a realistic difficulty (a small CNN stays well below F1 1.0)."""

    cases: int = 8
    seed: int = 0
    frames_per_sweep: int = L.FRAMES_PER_SWEEP
    noise: float = 1.0
    contrast: float = 1.0
    tilt: float = 1.0
    partial: float = 0.25

    def __post_init__(self) -> None:
        if self.cases < 1:
            raise FetaledgeError(f"--cases must be >= 1, got {self.cases}")
        if self.frames_per_sweep < 10:
            raise FetaledgeError(f"--frames-per-sweep must be >= 10, got {self.frames_per_sweep}")
        for name in ("noise", "contrast", "tilt", "partial"):
            if getattr(self, name) < 0:
                raise FetaledgeError(f"--{name} must be >= 0")


@dataclass
class SweepPlan:
    """Kinematics and content of one sweep."""

    kind: str  # "cross" (annotated), "miss", "longitudinal", "oblique"
    s: np.ndarray  # body coordinate per frame
    centre: tuple[float, float]
    radius: tuple[float, float]  # abdomen semi-axes at the AC level (px)
    phi: float  # in-plane rotation of the section
    spine_angle: float  # where the spine sits on the rim (ellipse frame)
    tilt: np.ndarray  # out-of-plane tilt per frame (radians)
    drift: np.ndarray  # (n, 2) in-plane drift of the section centre per frame (px)


def _ramanujan(a: float, b: float) -> float:
    return math.pi * (3 * (a + b) - math.sqrt((3 * a + b) * (a + 3 * b)))


def _body_profile(s: np.ndarray) -> np.ndarray:
    """Cross-section radius relative to the abdomen along the body (0 outside the trunk)."""
    prof = np.interp(s, [-0.02, 0.05, 0.25, S_AC, 0.7, 0.95, 1.02], [0.0, 0.55, 0.85, 1.0, 0.95, 0.6, 0.0])
    return np.where((s > -0.02) & (s < 1.02), prof, 0.0)


def plan_sweep(rng: np.random.Generator, kind: str, n: int, cfg: PhantomConfig) -> SweepPlan:
    """Sample the probe path through the body for one sweep of ``n`` frames."""
    speed = 0.01 * L.FRAMES_PER_SWEEP / n * rng.uniform(0.8, 1.25)
    f_ac = rng.uniform(0.3, 0.7) * n
    jitter = np.cumsum(rng.normal(0, 0.15 * speed, n))
    s = S_AC + (np.arange(n) - f_ac) * speed + jitter - jitter[int(f_ac)]
    a = rng.uniform(95, 165)
    b = a * rng.uniform(0.8, 0.98)
    if rng.random() < cfg.partial:
        side = rng.choice([-1.0, 1.0])
        cy = rng.uniform(250, 380)
        half = (cy - APEX_Y) * math.tan(math.radians(29.8))
        cx = APEX_X + side * (half - rng.uniform(0.0, 0.5) * a)
    else:
        cx, cy = rng.uniform(320, 430), rng.uniform(220, 380)
    base_tilt = abs(rng.normal(0, 0.12 * cfg.tilt))
    tilt = base_tilt + np.abs(np.cumsum(rng.normal(0, 0.01 * cfg.tilt, n)))
    if kind == "oblique":
        tilt = tilt + rng.uniform(0.6, 0.9)
    drift = np.cumsum(rng.normal(0, 1.2, (n, 2)), axis=0)
    if kind == "miss":
        s = s + rng.choice([-1.0, 1.0]) * rng.uniform(2.5, 4.0)
    return SweepPlan(kind, s, (cx, cy), (a, b), rng.uniform(-0.6, 0.6), rng.uniform(0, 2 * np.pi), tilt, drift)


def frame_label(plan: SweepPlan, i: int, visible_fraction: float) -> int:
    """Ground-truth label of frame ``i``: optimal / suboptimal band around the AC level, downgraded by tilt
    and by how much of the section lies outside the fan."""
    if plan.kind != "cross":
        return L.LABEL_IRRELEVANT
    d = abs(plan.s[i] - S_AC)
    label = L.LABEL_OPTIMAL if d < OPTIMAL_BAND else L.LABEL_SUBOPTIMAL if d < SUBOPTIMAL_BAND else 0
    if label == L.LABEL_OPTIMAL and (plan.tilt[i] > 0.25 or visible_fraction < 0.8):
        label = L.LABEL_SUBOPTIMAL
    if label and (plan.tilt[i] > 0.45 or visible_fraction < 0.5):
        label = L.LABEL_IRRELEVANT
    return label


class SceneRenderer:
    """Draws one case: background fields shared by its sweeps, anatomy per frame."""

    def __init__(self, rng: np.random.Generator, cfg: PhantomConfig, fan: Fan) -> None:
        self.rng, self.cfg, self.fan = rng, cfg, fan
        self.speckle = Speckle(rng)
        self.atten = rng.uniform(0.9, 1.7)
        self.gain = rng.uniform(5.0, 9.0)
        self.tissue = smooth_field(rng, (L.FRAME_HEIGHT, L.FRAME_WIDTH), 40.0)
        self.fine = smooth_field(rng, (L.FRAME_HEIGHT, L.FRAME_WIDTH), 6.0)
        self.liver = smooth_field(rng, (L.FRAME_HEIGHT, L.FRAME_WIDTH), 3.0)

    def background(self, plan: SweepPlan, i: int) -> np.ndarray:
        fan, n = self.fan, len(plan.s)
        shift = int(40 * i / n)
        tissue = np.roll(self.tissue, shift, axis=1)
        echo = 0.32 + 0.12 * tissue + 0.05 * self.fine
        wall_depth = 213 + 35 + 8 * np.sin(fan.theta * 3 + i / n)
        echo += 0.55 * np.clip(1 - np.abs(fan.r - wall_depth) / 14, 0, 1)  # maternal wall / uterine interface
        fluid = np.clip((tissue - 0.6) * 1.5, 0, 1)  # amniotic fluid pockets
        return np.clip(echo * (1 - 0.85 * fluid), 0.02, None)

    def draw_section(self, echo: np.ndarray, plan: SweepPlan, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Add the fetal cross-section of frame ``i``; returns (echo, section rho or inf)."""
        s, c = plan.s[i], self.cfg.contrast
        prof = float(_body_profile(np.array([s]))[0])
        ex = 1.0 / max(math.cos(min(plan.tilt[i], 1.2)), 0.35)
        cx, cy = plan.centre[0] + plan.drift[i, 0], plan.centre[1] + plan.drift[i, 1]
        rho = np.full(echo.shape, np.inf, np.float32)
        if plan.kind == "longitudinal":
            body = Ellipse(cx, cy, 260.0, 0.75 * plan.radius[1], plan.phi)
            rho = body.rho(self.fan)
            echo = echo * np.where(rho < 1.25, 1 - 0.8 * np.clip((1.25 - rho) * 4, 0, 1) * (rho > 1.0), 1)
            echo = np.where(rho < 1.0, 0.42 + 0.1 * self.liver, echo) + c * 0.7 * ring(rho, 0.03)
            sx, sy = body.point(np.pi / 2, 0.8)
            spine = Ellipse(sx, sy, 230.0, 6.0, plan.phi).rho(self.fan)
            echo = echo + c * 0.9 * np.clip(1 - spine, 0, 1) * 2  # spine seen lengthwise
            return echo, np.full(echo.shape, np.inf, np.float32)
        if prof > 0:
            sec = Ellipse(cx, cy, plan.radius[0] * prof * ex, plan.radius[1] * prof, plan.phi)
            rho = sec.rho(self.fan)
            halo = np.clip((1.3 - rho) * 5, 0, 1) * (rho > 1.0)
            echo = echo * (1 - 0.85 * halo)  # amniotic fluid around the fetus
            inside = rho < 1.0
            echo = np.where(inside, 0.40 + 0.07 * c + 0.1 * self.liver, echo)
            echo = echo + c * 0.75 * ring(rho, 0.035 * ex)  # abdominal wall
            self._organs(echo, sec, plan, s, ex)
        head_s = s - 1.12
        if abs(head_s) < 0.12:
            hp = math.sqrt(max(1 - (head_s / 0.12) ** 2, 0.0))
            skull = Ellipse(cx, cy, 1.05 * plan.radius[0] * hp * ex + 1, 0.9 * plan.radius[0] * hp + 1, plan.phi)
            hr = skull.rho(self.fan)
            echo = np.where(hr < 1.0, 0.25 + 0.05 * self.liver, echo) + c * 1.1 * ring(hr, 0.05)
            blob(echo, self.fan, cx, cy, skull.a * 0.8, 3.0, plan.phi + 1.57, add=0.6 * c)  # midline
        return echo, rho

    def _organs(self, echo: np.ndarray, sec: Ellipse, plan: SweepPlan, s: float, ex: float) -> None:
        """Inner structures at their body levels (in place)."""
        fan, c, sa = self.fan, self.cfg.contrast, plan.spine_angle
        k = sec.b / 75.0  # organ sizes follow the section size
        sx, sy = sec.point(sa, 0.8)
        shadow_from(echo, fan, sx, sy, 16.0 * k, 0.75 * min(c, 1.2))
        blob(echo, fan, sx, sy, 13 * k * ex, 12 * k, add=c * 1.4)
        for side in (0.28, -0.28):
            blob(echo, fan, *sec.point(sa + side, 0.64), 8 * k, 8 * k, add=c * 1.2)

        def bump(lo: float, hi: float) -> float:
            mid, half = (lo + hi) / 2, (hi - lo) / 2
            return max(0.0, 1 - ((s - mid) / half) ** 2)

        st = bump(S_AC - 0.06, S_AC + 0.14)  # stomach bubble, left of the spine
        if st > 0:
            blob(echo, fan, *sec.point(sa + 2.0, 0.42), (34 * st * ex + 2) * k, (24 * st + 2) * k,
                 plan.phi + 0.4, mul=0.92 * min(c, 1.05))
        uv = bump(S_AC - 0.035, S_AC + 0.035)  # intrahepatic umbilical vein, anterior third
        if uv > 0:
            ux, uy = sec.point(sa + np.pi, 0.3)
            blob(echo, fan, ux, uy, 38 * k * ex, (7 * uv + 1) * k, plan.phi + sa + 1.3, mul=0.9 * min(c, 1.05))
            blob(echo, fan, ux, uy, 44 * k * ex, (11 * uv + 2) * k, plan.phi + sa + 1.3, add=0.25 * c)
        kd = bump(S_AC - 0.16, S_AC - 0.04)  # kidneys either side of the spine
        if kd > 0:
            for side in (-0.8, 0.8):
                blob(echo, fan, *sec.point(sa + side, 0.5), (20 * kd + 1) * k, (14 * kd + 1) * k, mul=0.55 * c)
        bl = bump(0.03, 0.22)  # bladder: a dark bubble like the stomach, low in the trunk
        if bl > 0:
            blob(echo, fan, *sec.point(sa + np.pi, 0.35), (30 * bl + 1) * k, (27 * bl + 1) * k,
                 mul=0.92 * min(c, 1.05))
        ht = bump(S_AC + 0.2, S_AC + 0.42)  # heart: four dark chambers in a brighter muscle
        if ht > 0:
            hx, hy = sec.point(sa + np.pi - 0.3, 0.3)
            blob(echo, fan, hx, hy, (40 * ht + 1) * k, (36 * ht + 1) * k, add=0.3 * c)
            for ox, oy in ((-11, -11), (11, -11), (-11, 11), (11, 11)):
                blob(echo, fan, hx + ox * ht * k, hy + oy * ht * k, (10 * ht + 1) * k, (9 * ht + 1) * k,
                     mul=0.75 * c)
        if s > S_AC + 0.1:  # ribs with their shadows
            for r in (-1.2, -0.6, 0.6, 1.2):
                rx, ry = sec.point(sa + np.pi / 2 * np.sign(r) + r * 0.3, 0.97)
                shadow_from(echo, fan, rx, ry, 7.0, 0.5)
                blob(echo, fan, rx, ry, 10, 5, add=c * 0.9)

    def render(self, plan: SweepPlan, i: int) -> tuple[np.ndarray, np.ndarray, int]:
        """(frame uint8, section-inside boolean, label) for frame ``i``."""
        echo = self.background(plan, i)
        echo, rho = self.draw_section(echo, plan, i)
        inside = rho < 1.0
        total = inside.sum()
        visible = float((inside & self.fan.mask).sum() / total) if total else 0.0
        label = frame_label(plan, i, visible) if total else 0
        img = to_uint8(echo, self.speckle.next(), self.fan, self.atten, self.gain, self.cfg.noise, self.rng)
        return img, inside & self.fan.mask, label


@dataclass(frozen=True)
class PhantomCase:
    uuid: str
    subject_id: str
    sweep_ac_mm: tuple[float, ...]


def _case_plan(rng: np.random.Generator, cfg: PhantomConfig) -> list[str]:
    n_ann = 1 + int(rng.choice(4, p=N_ANNOTATED_P / N_ANNOTATED_P.sum()))
    annotated = rng.choice(6, size=n_ann, replace=False, p=SWEEP_WEIGHTS / SWEEP_WEIGHTS.sum())
    kinds = []
    for k in range(L.N_SWEEPS):
        kinds.append("cross" if k in annotated else str(rng.choice(["miss", "longitudinal", "oblique"],
                                                                   p=[0.4, 0.3, 0.3])))
    return kinds


def render_case(cfg: PhantomConfig, index: int, fan: Fan | None = None,
                progress: Callable[[int], None] | None = None) -> tuple[np.ndarray, np.ndarray, list[float]]:
    """Render case ``index``: (frames (6n, H, W) uint8, masks (6n, H, W) uint8, per-sweep AC in mm or NaN)."""
    rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, index]))
    fan = fan or Fan()
    n = cfg.frames_per_sweep
    frames = np.zeros((6 * n, L.FRAME_HEIGHT, L.FRAME_WIDTH), np.uint8)
    masks = np.zeros_like(frames)
    renderer = SceneRenderer(rng, cfg, fan)
    acs = []
    for k, kind in enumerate(_case_plan(rng, cfg)):
        plan = plan_sweep(rng, kind, n, cfg)
        labels = []
        for i in range(n):
            img, inside, label = renderer.render(plan, i)
            frames[k * n + i] = img
            if label:
                masks[k * n + i][inside] = label
            labels.append(label)
            if progress:
                progress(1)
        # A sweep carries an AC value when annotators found a usable plane in it (as in the real CSV).
        acs.append(_ramanujan(*plan.radius) * L.SPACING_MM if any(labels) else math.nan)
    return frames, masks, acs


def _subjects(rng: np.random.Generator, n_cases: int) -> list[str]:
    """Subject id per case; about 6.5 % of subjects have two scans (19 of 281 in the real set)."""
    n_twice = max(1, round(n_cases * 0.065)) if n_cases >= 4 else 0
    ids = [f"phantom-{j:04d}" for j in range(n_cases - n_twice)]
    ids += list(rng.choice(ids, size=n_twice, replace=False)) if n_twice else []
    rng.shuffle(ids)
    return ids


def write_stack(array: np.ndarray, path: Path) -> None:
    """Write a (frames, H, W) uint8 stack as uncompressed .mha with the real spacing, atomically."""
    import SimpleITK as sitk

    img = sitk.GetImageFromArray(array)
    img.SetSpacing((L.SPACING_MM, L.SPACING_MM, 1.0))
    with atomic_path(path, suffix=".mha") as tmp:
        sitk.WriteImage(img, str(tmp), useCompression=False)


def _render_and_write(cfg: PhantomConfig, index: int, uid: str, out: Path) -> list[float]:
    """Render case ``index`` and write its image and mask stacks; returns the per-sweep AC values."""
    frames, masks, acs = render_case(cfg, index, Fan())
    write_stack(frames, out / L.IMAGES_DIR / f"{uid}.mha")
    write_stack(masks, out / L.MASKS_DIR / f"{uid}.mha")
    return acs


def write_phantom(out: Path, cfg: PhantomConfig, progress: Callable[[int], None] | None = None,
                  workers: int | None = None) -> list[PhantomCase]:
    """Write ``cfg.cases`` cases in the ACOUSLIC-AI layout under ``out`` (images, masks, circumference CSV).

    Cases render in ``workers`` processes (default: the CPU count, at most 4: each holds about 250 MB); the
    output does not depend on it, since case ``i`` draws only from ``SeedSequence([seed, i])``. ``progress``
    is called with the number of frames of each case as it is collected, in case order. The CSV is written
    last, so an interrupted run leaves no CSV pointing at missing stacks.
    """
    out = ensure_writable_dir(Path(out))
    for sub in (L.IMAGES_DIR, L.MASKS_DIR, "circumferences"):
        ensure_writable_dir(out / sub)
    rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, 10**6]))
    subjects = _subjects(rng, cfg.cases)
    uids = [str(uuidlib.UUID(int=int(rng.integers(0, 2**63)) << 64 | int(rng.integers(0, 2**63)), version=4))
            for _ in range(cfg.cases)]
    workers = max(1, min(workers or min(os.cpu_count() or 1, 4), cfg.cases))
    n_frames = L.N_SWEEPS * cfg.frames_per_sweep
    jobs = (repeat(cfg), range(cfg.cases), uids, repeat(out))
    # fork where there is one: the workers only run numpy + SimpleITK, and spawn would re-import the caller's
    # __main__ (breaking scripts without a main guard).
    method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
    pool = ProcessPoolExecutor(workers, mp_context=mp.get_context(method)) if workers > 1 else None
    with pool or nullcontext():
        acs_all = []
        for acs in (pool.map if pool else map)(_render_and_write, *jobs):  # in case order
            acs_all.append(acs)
            if progress:
                progress(n_frames)
    cases = [PhantomCase(uid, subjects[i], tuple(acs_all[i])) for i, uid in enumerate(uids)]
    with atomic_path(out / L.CSV_PATH) as tmp, open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(L.CSV_COLUMNS)
        for c in cases:
            w.writerow([c.uuid, c.subject_id] + ["" if math.isnan(a) else f"{a:.1f}" for a in c.sweep_ac_mm])
    write_json(out / "phantom.json", {"generator": "fetaledge.data.phantom", "config": asdict(cfg)})
    return cases
