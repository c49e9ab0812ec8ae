"""The typed build config: strict (unknown keys and wrong types are one-line errors), round-trips through JSON,
and means today what the old untyped dict meant."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fetaledge.config import BuildConfig, config_to_json, load_config, parse_config
from fetaledge.errors import FetaledgeError
from fetaledge.train.settings import KDConfig, PretrainSettings, TrainSettings

ROOT = Path(__file__).resolve().parents[1]

MISSPELT = [
    ({"phantom": {"case": 3}}, "'case'", "phantom", "cases"),
    ({"data": {"positive_plane": ["x"]}}, "'positive_plane'", "data", "positive_planes"),
    ({"finetune": {"epoch": 1}}, "'epoch'", "finetune", "epochs"),
    ({"finetune": {"pretrain": {"epoch": 1}}}, "'epoch'", "finetune.pretrain", "epochs"),
    ({"distill": {"batchsize": 4}}, "'batchsize'", "distill", "batch_size"),
    ({"distill": {"kd": {"alfa": 0.3}}}, "'alfa'", "distill.kd", "alpha"),
    ({"quantize": {"calibration_frame": 3}}, "'calibration_frame'", "quantize", "calibration_frames"),
    ({"bundle": {"other_size": "refuse"}}, "'other_size'", "bundle", "other_sizes"),
    ({"finetuen": {}}, "'finetuen'", "build config", "finetune"),
]


@pytest.mark.parametrize(("cfg", "key", "section", "valid"), MISSPELT, ids=[m[2] for m in MISSPELT])
def test_a_misspelt_key_in_any_section_is_one_line_naming_it(cfg: dict, key: str, section: str, valid: str) -> None:
    with pytest.raises(FetaledgeError) as exc:
        parse_config(cfg)
    msg = str(exc.value)
    assert "\n" not in msg
    assert key in msg and f"{section}:" in msg and "valid keys" in msg and valid in msg


@pytest.mark.parametrize(("cfg", "field", "want"), [
    ({"finetune": {"epochs": "5"}}, "epochs", "an integer"),
    ({"finetune": {"epochs": True}}, "epochs", "an integer"),
    ({"distill": {"kd": {"alpha": "high"}}}, "alpha", "a number"),
    ({"quantize": {"backends": "onnxruntime"}}, "backends", "a list of a string"),
    ({"bundle": {"other_sizes": "stretch"}}, "other_sizes", "'refuse' or 'letterbox'"),
    ({"phantom": []}, "phantom", "an object"),
])
def test_a_wrong_type_names_the_field(cfg: dict, field: str, want: str) -> None:
    with pytest.raises(FetaledgeError, match=field) as exc:
        parse_config(cfg)
    assert want in str(exc.value) and "\n" not in str(exc.value)


def test_bad_values_keep_the_library_message_and_say_where() -> None:
    with pytest.raises(FetaledgeError, match=r"build config\.distill\.kd: --alpha must lie in \[0, 1\]"):
        parse_config({"distill": {"kd": {"alpha": 2}}})
    with pytest.raises(FetaledgeError, match=r"build config\.finetune: --epochs must be >= 1"):
        parse_config({"finetune": {"epochs": 0}})
    with pytest.raises(FetaledgeError, match="unknown backend.*known: litert, nncf, onnxruntime"):
        parse_config({"quantize": {"backends": ["tensorrt"]}})


def test_distill_kd_reaches_the_distill_settings() -> None:
    cfg = parse_config({"distill": {"epochs": 2, "kd": {"alpha": 0.25, "temperature": 4}}})
    s = cfg.distill.settings()
    assert s.kd == KDConfig(alpha=0.25, temperature=4.0) and s.epochs == 2
    assert cfg.distill.kd.pos_weight == KDConfig().pos_weight  # absent keys keep the default


def test_empty_config_means_the_old_defaults() -> None:
    cfg = load_config(None)
    assert cfg == parse_config({}) == BuildConfig()
    assert (cfg.phantom.cases, cfg.phantom.seed, cfg.phantom.frames_per_sweep) == (12, 0, 48)
    ft = cfg.finetune.finetune_config(None, "cpu")
    assert ft.train == TrainSettings() and ft.pretrain == PretrainSettings() and ft.weights is None
    assert cfg.distill.options() == {} and cfg.distill.settings().kd == KDConfig()
    q = cfg.quantize
    assert (q.calibration_frames, q.max_drop, q.min_agreement, q.max_fallbacks, q.backends) == (300, 0.01, 0.99,
                                                                                              None, None)
    assert cfg.bundle.other_sizes == "refuse"


def test_the_real_data_config_means_what_it_meant() -> None:
    cfg = load_config(ROOT / "benchmarks" / "real_african.json")
    assert cfg.data.keep_published_split is True and cfg.data.positive_planes == ("Fetal abdomen",)
    ft = cfg.finetune.finetune_config(None, "cpu")
    assert ft.train == TrainSettings(epochs=20, batch_size=16)
    assert ft.pretrain == PretrainSettings(epochs=30, batch_size=16)
    assert cfg.distill.settings().epochs == 20 and cfg.distill.settings().batch_size == 16
    assert cfg.distill.options() == {"threads": 1}
    q = cfg.quantize
    assert (q.calibration_frames, q.max_drop, q.min_agreement, q.agreement_copies) == (110, 0.05, 0.99, 4)
    assert (q.min_gate_frames, q.qat) == (200, False)


def test_pretrain_false_skips_it() -> None:
    assert parse_config({"finetune": {"pretrain": False}}).finetune.finetune_config(None, "cpu").pretrain is None
    assert parse_config({"finetune": {"pretrain": True}}).finetune.finetune_config(None, "cpu").pretrain == \
        PretrainSettings()


def test_round_trip_through_json(tmp_path: Path) -> None:
    cfg = parse_config({"phantom": {"cases": 5}, "data": {"labels": ["a.csv"]},
                        "finetune": {"lora_targets": ["attn"], "pretrain": {"epochs": 1}},
                        "distill": {"students": ["mobilenetv2_100"], "kd": {"alpha": 0.1}},
                        "quantize": {"backends": ["onnxruntime"], "max_fallbacks": 0}})
    text = json.dumps(config_to_json(cfg))
    assert parse_config(json.loads(text)) == cfg
    assert cfg.data.labels == (Path("a.csv"),) and cfg.distill.students == ("mobilenetv2_100",)
    f = tmp_path / "c.json"
    f.write_text("{not json")
    with pytest.raises(FetaledgeError, match="not valid JSON"):
        load_config(f)
