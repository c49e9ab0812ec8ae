"""The logistic function, once: probabilities from logits without overflow at any finite logit.

``math.exp(-x)`` overflows for ``x < -709`` (and ``np.exp`` warns and returns inf); both forms here never
compute ``exp`` of a large positive number. Every module that turns a logit into a probability uses these.

Example:
    >>> sigmoid(0.0), sigmoid(-1000.0), sigmoid(1000.0)
    (0.5, 0.0, 1.0)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def sigmoid(x: float) -> float:
    """The logistic function of one logit (stable on both sides)."""
    x = float(x)
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def sigmoid_array(x: Any) -> np.ndarray:
    """The logistic function, elementwise in float64: the same two branches as :func:`sigmoid` (``exp`` only of
    non-positive numbers), so no overflow and no warning."""
    x = np.asarray(x, np.float64)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
