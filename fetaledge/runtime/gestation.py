"""Gestational (menstrual) age from a circumference: Hadlock's single-parameter regressions (no torch, no numpy).

Hadlock FP, Deter RL, Harrist RB, Park SK. Estimating fetal age: computer-assisted analysis of multiple fetal
growth parameters. Radiology 1984; 152(2): 497-501. doi:10.1148/radiology.152.2.6739822. Derived from 361
fetuses between 14 and 42 menstrual weeks; with the circumference in **centimetres**:

* head:    ``MA = 8.96 + 0.540 HC + 0.0003 HC^3``
* abdomen: ``MA = 8.14 + 0.753 AC + 0.0036 AC^2``

A regression says nothing outside the population it was fitted on: an estimate below 14 or above 42 weeks
is refused (:class:`OutOfRange`), never extrapolated. Both are increasing in the circumference, so the valid
circumferences are one interval (:func:`valid_range_mm`: HC 89.4..357.7 mm, AC 75.1..380.5 mm).

Example:
    >>> ga = gestational_age("hc", 175.0)
    >>> round(ga.weeks, 2), ga.label
    (20.02, '20w0d')
    >>> gestational_age("ac", 60.0)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    fetaledge.runtime.gestation.OutOfRange: AC 60.0 mm gives 12.8 weeks by Hadlock 1984, outside ...
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from fetaledge.errors import FetaledgeError

__all__ = ["GestationalAge", "OutOfRange", "REFERENCE", "gestational_age", "valid_range_mm"]

REFERENCE = ("Hadlock FP, Deter RL, Harrist RB, Park SK. Estimating fetal age: computer-assisted analysis of "
             "multiple fetal growth parameters. Radiology 1984;152(2):497-501")
MIN_WEEKS, MAX_WEEKS = 14.0, 42.0
_COEF = {"hc": (8.96, 0.540, 0.0, 0.0003), "ac": (8.14, 0.753, 0.0036, 0.0)}  # c0 + c1 x + c2 x^2 + c3 x^3


class OutOfRange(FetaledgeError):
    """The circumference lies outside the range the regression was fitted on."""


@dataclass(frozen=True)
class GestationalAge:
    """An estimate: ``weeks`` (float), ``label`` (e.g. ``'20w3d'``), which circumference and the formula."""

    structure: str
    circumference_mm: float
    weeks: float
    formula: str

    @property
    def label(self) -> str:
        days = int(math.floor(self.weeks * 7.0 + 0.5))
        return f"{days // 7}w{days % 7}d"

    def to_dict(self) -> dict[str, object]:
        return {"structure": self.structure, "circumference_mm": self.circumference_mm, "weeks": self.weeks,
                "label": self.label, "formula": self.formula, "reference": REFERENCE}


def _weeks(structure: str, mm: float) -> float:
    c0, c1, c2, c3 = _COEF[structure]
    x = mm / 10.0
    return c0 + c1 * x + c2 * x * x + c3 * x * x * x


def _check(structure: str) -> str:
    s = structure.lower()
    if s not in _COEF:
        raise FetaledgeError(f"unknown structure {structure!r} for a gestational age", hint="use 'hc' or 'ac'")
    return s


def valid_range_mm(structure: str) -> tuple[float, float]:
    """The circumferences (mm) whose Hadlock estimate lies in 14..42 weeks (bisection on the increasing map).

    Example:
        >>> [round(v, 1) for v in valid_range_mm("hc")]
        [89.4, 357.7]
    """
    s = _check(structure)

    def solve(target: float) -> float:
        lo, hi = 0.0, 1000.0
        for _ in range(200):
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if _weeks(s, mid) < target else (lo, mid)
        return 0.5 * (lo + hi)

    return solve(MIN_WEEKS), solve(MAX_WEEKS)


def gestational_age(structure: str, circumference_mm: float) -> GestationalAge:
    """Hadlock 1984 menstrual age from an HC or AC in mm; :class:`OutOfRange` outside 14..42 weeks."""
    s = _check(structure)
    if not (isinstance(circumference_mm, int | float) and math.isfinite(circumference_mm) and circumference_mm > 0):
        raise FetaledgeError(f"circumference must be a positive number of mm, got {circumference_mm!r}")
    weeks = _weeks(s, float(circumference_mm))
    c0, c1, c2, c3 = _COEF[s]
    x = s.upper()
    formula = f"{c0} + {c1} {x} + {c2} {x}^2 (cm)" if s == "ac" else f"{c0} + {c1} {x} + {c3} {x}^3 (cm)"
    if not MIN_WEEKS <= weeks <= MAX_WEEKS:
        lo, hi = valid_range_mm(s)
        raise OutOfRange(f"{x} {circumference_mm:.1f} mm gives {weeks:.1f} weeks by Hadlock 1984, outside the "
                         f"14-42 weeks it was fitted on (valid {x} {lo:.1f}..{hi:.1f} mm)",
                         hint="no gestational age is shown for this measurement")
    return GestationalAge(s, float(circumference_mm), weeks, f"Hadlock 1984: MA = {formula}")
