"""The build config's ``segment`` section: strict, with errors that say how to fix them."""

from __future__ import annotations

import pytest

from fetaledge.config import config_to_json, parse_config
from fetaledge.errors import FetaledgeError


def test_segment_defaults_round_trip_and_can_be_disabled() -> None:
    cfg = parse_config({"segment": {"enabled": False, "epochs": 3}})
    assert cfg.segment.enabled is False and cfg.segment.epochs == 3 and cfg.segment.grid_width == 128
    assert parse_config(config_to_json(cfg)) == cfg


@pytest.mark.parametrize(("section", "words"), [
    ({"grid_height": 100}, "multiples of 32"),
    ({"epochs": 0}, "segment.epochs must be >= 1"),
    ({"phantom_sweeps": -1}, "segment.phantom_sweeps must be >= 0"),
    ({"min_dice": 1.5}, "segment.min_dice must lie in [0, 1]"),
    ({"epoch": 3}, "epoch"),
])
def test_bad_segment_values_are_one_clear_error(section: dict, words: str) -> None:
    with pytest.raises(FetaledgeError) as info:
        parse_config({"segment": section})
    assert words in str(info.value)
