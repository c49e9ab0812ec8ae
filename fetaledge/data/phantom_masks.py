"""Extra phantom frames with abdomen masks, for training a segmentation student when the build runs on the phantom.

The phantom is a generator: besides the cases a build writes (``fetaledge.data.phantom.write_phantom``), it can
render more "cross" sweeps (the sweeps that pass the AC level) from seeds no case uses. Per sweep the frames near the
AC level (where the masks are) and ``negatives`` frames away from it are rendered, frame by frame, exactly as in the
cases (same renderer, same fan, same labels and mask rule: the section inside the fan, labels 1/2 only).

Example:
    >>> frames, masks, labels = render_mask_sweeps(PhantomConfig(frames_per_sweep=48), 2, tag=1)  # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np

from fetaledge.data.phantom import S_AC, SUBOPTIMAL_BAND, PhantomConfig, SceneRenderer, plan_sweep
from fetaledge.data.phantom_render import Fan
from fetaledge.errors import FetaledgeError

__all__ = ["render_mask_sweeps"]

#: The first element of every extra sweep's seed: no phantom case draws from it (cases use [seed, index]).
EXTRA_SEED_TAG = 880_016


def render_mask_sweeps(cfg: PhantomConfig, n_sweeps: int, tag: int, negatives: int = 2,
                       fan: Fan | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n_sweeps`` cross sweeps of ``cfg``'s length: (frames (n, H, W) uint8, masks (n, H, W) bool, labels (n,)).

    ``tag`` separates independent sets (e.g. 0 train, 1 validation): sweep ``k`` draws from
    ``SeedSequence([EXTRA_SEED_TAG, cfg.seed, tag, k])``.
    """
    if n_sweeps < 1:
        raise FetaledgeError(f"n_sweeps must be >= 1, got {n_sweeps}")
    fan = fan or Fan()
    n = cfg.frames_per_sweep
    frames, masks, labels = [], [], []
    for k in range(n_sweeps):
        rng = np.random.default_rng(np.random.SeedSequence([EXTRA_SEED_TAG, cfg.seed, tag, k]))
        renderer = SceneRenderer(rng, cfg, fan)
        plan = plan_sweep(rng, "cross", n, cfg)
        near = [i for i in range(n) if abs(plan.s[i] - S_AC) < SUBOPTIMAL_BAND + 0.02]
        away = [int(i) for i in rng.choice(n, min(n, negatives + len(near)), replace=False) if i not in near]
        for i in near + away[:negatives]:
            img, inside, label = renderer.render(plan, i)
            frames.append(img)
            masks.append(inside if label else np.zeros_like(inside))
            labels.append(int(label))
    return np.stack(frames), np.stack(masks).astype(bool), np.asarray(labels, np.uint8)
