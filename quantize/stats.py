"""Small statistics the gate reports: a binomial interval for agreement, and the logistic function."""

from __future__ import annotations

import math

import numpy as np


def wilson_interval(successes: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval (95 % by default) of a proportion; (0, 1) for ``n == 0``.

    Honest at the edges where the normal interval is not: 48 of 48 agreeing frames give a lower bound of 0.926,
    not 1.0.

    Example:
        >>> tuple(round(v, 3) for v in wilson_interval(48, 48))
        (0.926, 1.0)
    """
    if n <= 0:
        return (0.0, 1.0)
    p = successes / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function without overflow for any float input (``exp`` only ever sees non-positive values).

    Example:
        >>> [float(v) for v in sigmoid(np.array([-1000.0, 0.0, 1000.0]))]
        [0.0, 0.5, 1.0]
    """
    x = np.asarray(x, np.float64)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
