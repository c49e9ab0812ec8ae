"""When a measurement is trusted: the parameters of :func:`fetaledge.runtime.measure.measure_mask` (no numpy,
so that ``fetaledge.runtime.spec`` can hold them).

Example:
    >>> MeasureParams().max_cut_fraction
    0.15
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

from fetaledge.errors import FetaledgeError

__all__ = ["MeasureParams"]


@dataclass(frozen=True)
class MeasureParams:
    """When a measurement is trusted. Defaults suit a fetal head or abdomen in a whole frame.

    ``min_area_mm2``: smaller components are "rescan" (100 mm2 is a 36 mm circumference: below any HC or AC
    from 14 weeks on). ``max_residual``: RMS distance of the edge points to the ellipse relative to the mean
    semi-axis. ``max_cut_fraction``: share of the edge lying on the field-of-view or frame border.
    ``min_component_share``: the largest component's share of all foreground. ``min_points``: fewer seen
    edge points give no measurement at all.

    Example:
        >>> MeasureParams.from_dict(MeasureParams().to_dict()) == MeasureParams()
        True
    """

    threshold: float = 0.5
    min_area_mm2: float = 100.0
    max_residual: float = 0.03
    max_cut_fraction: float = 0.15
    min_component_share: float = 0.9
    min_points: int = 20

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold < 1.0:
            raise FetaledgeError(f"measurement threshold must be in (0, 1), got {self.threshold}")
        for name in ("min_area_mm2", "max_residual", "max_cut_fraction", "min_component_share"):
            v = getattr(self, name)
            if not (isinstance(v, int | float) and math.isfinite(v) and v >= 0):
                raise FetaledgeError(f"measurement {name} must be a finite number >= 0, got {v!r}")
        if not isinstance(self.min_points, int) or self.min_points < 6:
            raise FetaledgeError(f"measurement min_points must be an integer >= 6, got {self.min_points!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MeasureParams:
        names = [f.name for f in fields(cls)]
        unknown = sorted(set(d) - set(names))
        missing = sorted(set(names) - set(d))
        if unknown or missing:
            raise FetaledgeError(f"measurement parameters: unknown {unknown}, missing {missing}",
                                 hint=f"use exactly {', '.join(names)}")
        return cls(**d)
