"""Train/val/test splits of ACOUSLIC cases.

Two rules:

* ``subject`` (the default, :func:`make_split`): by subject, seeded; a subject never appears in two splits.
  ACOUSLIC-AI has 300 scans of 281 subjects: 19 subjects were scanned twice, and two scans of one belly are
  not independent samples.
* ``paper`` (:func:`paper_split`): FetalCLIP-IQA's ``preprocess.py`` (donglihe-hub/FetalCLIP-IQA @ fbcbdd2): the
  CSV's uuid column permuted by ``numpy.random.default_rng(9872398152123123767126)``, then cut 70/10/20 at
  ``int(0.7 n)`` and ``int((1 - 0.2) n)``. It can put the two scans of a subject in train and test; use it to
  reproduce the paper's numbers, not to estimate accuracy on new mothers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fetaledge.errors import FetaledgeError
from fetaledge.fsio import read_json, write_json

SPLITS = ("train", "val", "test")
RULES = ("subject", "paper")
#: The seed of FetalCLIP-IQA's preprocess.py (an integer beyond 64 bits; numpy's SeedSequence takes it whole).
PAPER_SEED = 9872398152123123767126
PAPER_RATIOS = (0.7, 0.1, 0.2)


@dataclass(frozen=True)
class Split:
    """Subjects and cases per split, with the seed and ratios that made it."""

    seed: int
    ratios: tuple[float, float, float]
    subjects: dict[str, list[str]] = field(default_factory=dict)
    cases: dict[str, list[str]] = field(default_factory=dict)
    rule: str = "subject"  # "subject" or "paper" (see the module docstring)

    def split_of(self, case: str) -> str:
        for name in SPLITS:
            if case in self.cases[name]:
                return name
        raise KeyError(case)

    def to_json(self) -> dict:
        d = {"seed": self.seed, "ratios": list(self.ratios), "subjects": self.subjects, "cases": self.cases}
        if self.rule != "subject":  # subject-rule split files stay byte-identical to those written before rules
            d["rule"] = self.rule
        return d

    @classmethod
    def from_json(cls, d: dict) -> Split:
        return cls(int(d["seed"]), tuple(d["ratios"]), d["subjects"], d["cases"], str(d.get("rule", "subject")))

    def shared_subjects(self) -> list[str]:
        """Subjects whose scans sit in more than one split (always empty for the subject rule)."""
        where: dict[str, set[str]] = {}
        for name in SPLITS:
            for s in self.subjects.get(name, []):
                where.setdefault(s, set()).add(name)
        return sorted(s for s, names in where.items() if len(names) > 1)


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


def paper_split(uuids: list[str], case_subjects: dict[str, str] | None = None) -> Split:
    """The paper's split by scan uuid: ``uuids`` in CSV order, permuted with the paper's seed, cut 70/10/20.

    ``case_subjects`` (uuid -> subject) only fills :attr:`Split.subjects` (so a report can count shared subjects).
    Each split keeps the permuted order (the paper's order of its npz files).

    Example:
        >>> s = paper_split([f"case{i}" for i in range(10)])
        >>> [len(s.cases[k]) for k in SPLITS]
        [7, 1, 2]
    """
    uuids = list(uuids)
    if len(set(uuids)) != len(uuids):
        raise FetaledgeError("the uuid column lists a scan twice; the paper split needs unique uuids")
    n = len(uuids)
    order = [str(u) for u in np.random.default_rng(PAPER_SEED).permutation(np.asarray(uuids, dtype=object))]
    train_end, val_end = int(PAPER_RATIOS[0] * n), int((1 - PAPER_RATIOS[2]) * n)
    groups = {"train": order[:train_end], "val": order[train_end:val_end], "test": order[val_end:]}
    empty = [k for k, v in groups.items() if not v]
    if empty:
        raise FetaledgeError(f"{n} case(s) leave the {', '.join(empty)} split(s) of the paper's 70/10/20 cut empty",
                             hint="use at least 5 cases (e.g. `fetaledge data phantom --cases 8`)")
    subjects = case_subjects or {}
    by_split = {k: sorted({subjects.get(u, u) for u in v}) for k, v in groups.items()}
    return Split(PAPER_SEED, PAPER_RATIOS, by_split, groups, rule="paper")


def save_split(split: Split, path: Path) -> None:
    write_json(path, split.to_json())


def load_split(path: Path) -> Split:
    return Split.from_json(read_json(path, "split file"))
