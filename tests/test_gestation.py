"""Hadlock 1984 gestational age from HC and AC: the published numbers, and refusal outside 14-42 weeks."""

from __future__ import annotations

import pytest

from fetaledge.errors import FetaledgeError
from fetaledge.runtime.gestation import OutOfRange, gestational_age, valid_range_mm


@pytest.mark.parametrize("structure,mm,weeks", [
    # MA = 8.96 + 0.540 HC + 0.0003 HC^3 and MA = 8.14 + 0.753 AC + 0.0036 AC^2 (cm), by hand:
    ("hc", 200.0, 8.96 + 0.540 * 20 + 0.0003 * 8000),
    ("hc", 330.0, 8.96 + 0.540 * 33 + 0.0003 * 35937),
    ("ac", 150.0, 8.14 + 0.753 * 15 + 0.0036 * 225),
    ("ac", 300.0, 8.14 + 0.753 * 30 + 0.0036 * 900),
])
def test_hadlock_values(structure, mm, weeks):
    assert gestational_age(structure, mm).weeks == pytest.approx(weeks, abs=1e-12)


def test_labels_round_to_the_nearest_day():
    assert gestational_age("ac", 300.0).label == "34w0d"  # 33.98 weeks
    assert gestational_age("HC", 175.0).label == "20w0d"


def test_refuses_outside_the_fitted_range_and_bad_input():
    lo, hi = valid_range_mm("hc")
    assert gestational_age("hc", lo + 0.01).weeks >= 14.0
    for mm in (lo - 0.5, hi + 0.5, 44.3):  # 44.3 mm: the smallest HC18 head (first trimester)
        with pytest.raises(OutOfRange, match="outside the 14-42 weeks"):
            gestational_age("hc", mm)
    with pytest.raises(FetaledgeError, match="'hc' or 'ac'"):
        gestational_age("bpd", 50.0)
    with pytest.raises(FetaledgeError, match="positive"):
        gestational_age("ac", float("nan"))
