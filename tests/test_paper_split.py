"""The real-data CSV reader (BOM, missing-value spellings) and the paper's uuid split."""

from __future__ import annotations

import math
import uuid as uuidlib
from pathlib import Path

import numpy as np
import pytest

from fetaledge.data import layout as L
from fetaledge.data.acouslic import parse_ac_value, read_circumferences
from fetaledge.data.splits import SPLITS, make_split, paper_split
from fetaledge.errors import FetaledgeError

HEADER = ",".join(L.CSV_COLUMNS)


def _write_csv(root: Path, text: str, *, encoding: str = "utf-8") -> Path:
    path = root / L.CSV_PATH
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))
    return root


def _uuids(n: int) -> list[str]:
    return [str(uuidlib.uuid5(uuidlib.NAMESPACE_URL, f"fetaledge-test-case-{i}")) for i in range(n)]


def test_paper_split_reproduces_the_paper_code_permutation(tmp_path: Path) -> None:
    # 300 scans as in ACOUSLIC-AI, with a subject scanned twice (rows 3 and 250), read through the CSV reader.
    uuids = _uuids(300)
    subjects = [f"s{i}" for i in range(300)]
    subjects[250] = subjects[3]
    rows = [f"{u},{s},{200 + i % 50}.5,,,,," for i, (u, s) in enumerate(zip(uuids, subjects, strict=True))]
    root = _write_csv(tmp_path, HEADER + "\n" + "\n".join(rows) + "\n")
    records = read_circumferences(root)
    assert [r.uuid for r in records] == uuids

    split = paper_split([r.uuid for r in records], {r.uuid: r.subject_id for r in records})

    # The paper code's own call on the CSV's uuid column, then its cut at int(0.7 n) and int((1 - 0.2) n).
    expected = list(np.random.default_rng(9872398152123123767126).permutation(np.array(uuids)))
    assert split.cases["train"] == expected[:210]
    assert split.cases["val"] == expected[210:240]
    assert split.cases["test"] == expected[240:]
    assert split.rule == "paper" and split.seed == 9872398152123123767126
    assert sorted(sum(split.cases.values(), [])) == sorted(uuids)
    where = {u: k for k in SPLITS for u in split.cases[k]}
    if where[uuids[3]] != where[uuids[250]]:
        assert split.shared_subjects() == ["s3"]
    # Round trip through JSON keeps the rule; the subject rule never shares a subject.
    assert type(split).from_json(split.to_json()) == split
    subject = make_split({r.uuid: r.subject_id for r in records}, seed=0)
    assert subject.shared_subjects() == [] and "rule" not in subject.to_json()


def test_paper_split_small_and_bad_inputs() -> None:
    s = paper_split(_uuids(8))
    assert [len(s.cases[k]) for k in SPLITS] == [5, 1, 2]
    with pytest.raises(FetaledgeError, match="empty"):
        paper_split(_uuids(3))
    with pytest.raises(FetaledgeError, match="twice"):
        paper_split(["a", "b", "a", "c", "d"])


def test_bom_csv_reads_correctly(tmp_path: Path) -> None:
    u1, u2 = _uuids(2)
    text = f"{HEADER}\r\n{u1},subj1,231.5,,,,,\r\n{u2},subj2,,180.25,,,,199\r\n"
    root = _write_csv(tmp_path, text, encoding="utf-8-sig")
    assert (root / L.CSV_PATH).read_bytes()[:3] == b"\xef\xbb\xbf"
    recs = read_circumferences(root)
    assert [r.uuid for r in recs] == [u1, u2]
    assert recs[0].subject_id == "subj1" and recs[0].sweep_ac_mm[0] == 231.5
    assert recs[1].annotated_sweeps == [1, 5] and recs[1].sweep_ac_mm[5] == 199.0


def test_na_csv_reads_correctly(tmp_path: Path) -> None:
    u1, u2, u3 = _uuids(3)
    text = f"{HEADER}\n{u1},a,NA,nan,null,,210.0,NaN\n{u2},b, na ,NULL,,,,\n{u3},c,150,NA,NA,NA,NA,NA\n"
    recs = read_circumferences(_write_csv(tmp_path, text))
    assert recs[0].annotated_sweeps == [4] and recs[0].sweep_ac_mm[4] == 210.0
    assert all(math.isnan(v) for v in recs[1].sweep_ac_mm)
    assert recs[2].annotated_sweeps == [0]


def test_bad_csv_values_name_the_cell(tmp_path: Path) -> None:
    (u1,) = _uuids(1)
    root = _write_csv(tmp_path, f"{HEADER}\n{u1},a,12O.5,,,,,\n")
    with pytest.raises(FetaledgeError, match=r"line 2: sweep_1_ac_mm='12O.5'"):
        read_circumferences(root)
    root = _write_csv(tmp_path / "neg", f"{HEADER}\n{u1},a,-3,,,,,\n")
    with pytest.raises(FetaledgeError, match="not a circumference"):
        read_circumferences(root)
    root = _write_csv(tmp_path / "latin", f"{HEADER}\n{u1},Mamadou Barrí,200,,,,,\n", encoding="latin-1")
    with pytest.raises(FetaledgeError, match="not UTF-8"):
        read_circumferences(root)
    assert math.isnan(parse_ac_value(None, "x"))


def test_build_config_takes_the_paper_recipe() -> None:
    from fetaledge.config import parse_config

    cfg = parse_config({"finetune": {"recipe": "paper", "trials": 5}})
    ft = cfg.finetune.finetune_config(None, "cpu")
    assert (ft.recipe, ft.trials) == ("paper", 5)
    assert parse_config({}).finetune.finetune_config(None, "cpu").recipe == "default"
    with pytest.raises(FetaledgeError, match="recipe"):
        parse_config({"finetune": {"recipe": "papr"}})
