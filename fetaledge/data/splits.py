"""Subject-level train/val/test splits: a subject never appears in two splits (scans of one subject leak)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fetaledge.errors import FetaledgeError
from fetaledge.fsio import read_json, write_json

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Split:
    """Subjects and cases per split, with the seed and ratios that made it."""

    seed: int
    ratios: tuple[float, float, float]
    subjects: dict[str, list[str]] = field(default_factory=dict)
    cases: dict[str, list[str]] = field(default_factory=dict)

    def split_of(self, case: str) -> str:
        for name in SPLITS:
            if case in self.cases[name]:
                return name
        raise KeyError(case)

    def to_json(self) -> dict:
        return {"seed": self.seed, "ratios": list(self.ratios), "subjects": self.subjects, "cases": self.cases}

    @classmethod
    def from_json(cls, d: dict) -> Split:
        return cls(int(d["seed"]), tuple(d["ratios"]), d["subjects"], d["cases"])


def make_split(case_subjects: dict[str, str], seed: int = 0,
               ratios: tuple[float, float, float] = (0.7, 0.1, 0.2)) -> Split:
    """Split cases by subject, seeded; every split gets at least one subject.

    Example:
        >>> s = make_split({"a": "s1", "b": "s1", "c": "s2", "d": "s3"}, seed=0)
        >>> sorted(sum(s.cases.values(), []))
        ['a', 'b', 'c', 'd']
    """
    if abs(sum(ratios) - 1.0) > 1e-6 or min(ratios) <= 0:
        raise FetaledgeError(f"split ratios {ratios} must be positive and sum to 1")
    subjects = sorted(set(case_subjects.values()))
    if len(subjects) < 3:
        raise FetaledgeError(
            f"{len(subjects)} subject(s) cannot fill train, val and test without sharing a subject",
            hint="use at least 3 subjects (e.g. `fetaledge data phantom --cases 4`)",
        )
    order = list(np.random.default_rng(seed).permutation(subjects))
    n = len(order)
    n_test = max(1, round(ratios[2] * n))
    n_val = max(1, round(ratios[1] * n))
    n_train = n - n_test - n_val
    if n_train < 1:
        n_test -= 1
        n_train = 1
    groups = {"train": order[:n_train], "val": order[n_train : n_train + n_val], "test": order[n_train + n_val :]}
    cases = {k: sorted(c for c, s in case_subjects.items() if s in set(v)) for k, v in groups.items()}
    return Split(seed, tuple(ratios), {k: sorted(v) for k, v in groups.items()}, cases)


def save_split(split: Split, path: Path) -> None:
    write_json(path, split.to_json())


def load_split(path: Path) -> Split:
    return Split.from_json(read_json(path, "split file"))
