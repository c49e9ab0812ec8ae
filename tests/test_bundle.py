"""Bundle writer, torch-free runtime (engines, classifier, verify, infer) on a tiny hand-made model."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

torch = pytest.importorskip("torch")

from conftest import reseal_goldens  # noqa: E402

from fetaledge.bundle import ShippedModel, write_bundle  # noqa: E402
from fetaledge.cli import main  # noqa: E402
from fetaledge.data.phantom import PhantomConfig, render_case, write_phantom  # noqa: E402
from fetaledge.errors import FetaledgeError  # noqa: E402
from fetaledge.export.onnx import export_onnx  # noqa: E402
from fetaledge.models.preprocess import RawFrameModel  # noqa: E402
from fetaledge.preprocess import FrameGeometry  # noqa: E402
from fetaledge.runtime.classifier import FrameClassifier  # noqa: E402
from fetaledge.runtime.decision import DecisionParams  # noqa: E402
from fetaledge.runtime.verify import verify_bundle  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


class Tiny(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv2d(3, 4, 3, stride=2)
        self.fc = torch.nn.Linear(4, 1)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).mean(dim=(2, 3))).reshape(-1)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("b")
    model = RawFrameModel(FrameGeometry(562, 744, (64,)), Tiny(), "clip").eval()
    frames, masks, _ = render_case(PhantomConfig(cases=1, seed=2, frames_per_sweep=10), 0)
    onnx_path = export_onnx(model, torch.from_numpy(frames[:1]), root / "tiny.onnx")
    shipped = [ShippedModel("tiny-fp32-onnx", onnx_path, "onnxruntime", "fp32")]
    try:
        from fetaledge.export.tflite import export_tflite

        shipped.append(ShippedModel("tiny-fp32-litert", export_tflite(model, torch.from_numpy(frames[:1]),
                                                                      root / "tiny.tflite"), "litert", "fp32"))
    except FetaledgeError:
        pass  # litert extra absent: the bundle ships ONNX only
    with torch.no_grad():
        logits = np.array([model(torch.from_numpy(f[None])).item() for f in frames[:12]])
    threshold = float(np.median(1 / (1 + np.exp(-logits))))
    out = root / "bundle"
    write_bundle(out, shipped=shipped, raw_hw=(562, 744), decision=DecisionParams.from_threshold(threshold, min_run=1),
                 threads=1, provenance={"target": "arm64", "test": True}, report={"metrics": {}},
                 report_md="# test bundle\n", golden_frames=frames[:6],
                 golden_sources=[f"phantom {i}" for i in range(6)], golden_sweep=frames[:12],
                 golden_sweep_source="phantom sweep 1")
    return out


def test_bundle_layout_and_zip(bundle: Path) -> None:
    for rel in ("iqa_spec.json", "report.md", "report.json", "goldens/frames.json", "goldens/sweep.json"):
        assert (bundle / rel).is_file(), rel
    assert any((bundle / "goldens" / "decision").glob("*.json"))
    assert bundle.with_suffix(".zip").is_file()
    spec = json.loads((bundle / "iqa_spec.json").read_text())
    assert spec["input"] == {"height": 562, "width": 744, "dtype": "uint8", "layout": "HW", "channels": 1,
                             "other_sizes": "refuse"}
    assert spec["models"][0]["input"]["dtype"] == "uint8"


def test_verify_passes_and_cli_exit_zero(bundle: Path) -> None:
    report = verify_bundle(bundle)
    assert report["frames_checked"] == 6 and report["sweep"]["decisions_match"]
    r = CliRunner().invoke(main, ["verify", str(bundle)])
    assert r.exit_code == 0, r.output
    assert "bundle OK" in r.output


def _copy(bundle: Path, tmp_path: Path) -> Path:
    import shutil

    dst = tmp_path / "copy"
    shutil.copytree(bundle, dst)
    return dst


def test_verify_fails_on_one_changed_byte(bundle: Path, tmp_path: Path) -> None:
    b = _copy(bundle, tmp_path)
    model = next((b / "models").iterdir())
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0x01
    model.write_bytes(bytes(data))
    r = CliRunner().invoke(main, ["verify", str(b)])
    assert r.exit_code != 0 and "sha256" in r.output and model.name in r.output
    assert "Traceback" not in r.output


def test_verify_fails_on_changed_golden_and_wrong_target(bundle: Path, tmp_path: Path) -> None:
    b = _copy(bundle, tmp_path)
    doc = json.loads((b / "goldens" / "frames.json").read_text())
    first = next(iter(doc["frames"][0]["expected"].values()))
    first["probability"] = min(1.0, first["probability"] + 0.05)
    (b / "goldens" / "frames.json").write_text(json.dumps(doc))
    with pytest.raises(FetaledgeError, match="golden frames.json: sha256 differs from manifest.json"):
        verify_bundle(b)  # the manifest lists every golden file, frames.json included
    reseal_goldens(b)
    with pytest.raises(FetaledgeError, match="on goldens/frames/frame_000.npy: probability"):
        verify_bundle(b)  # a consistently edited golden: the model's output no longer matches it
    with pytest.raises(FetaledgeError, match="built for target 'arm64', not 'x86_64'"):
        verify_bundle(bundle, target="x86_64")


def test_verify_tolerates_a_flip_only_on_a_borderline_golden(bundle: Path, tmp_path: Path) -> None:
    """Another ISA may move a probability by its tolerance: a golden that close to the threshold may flip."""
    b = _copy(bundle, tmp_path)
    path = b / "goldens" / "frames.json"
    doc = json.loads(path.read_text())
    threshold = json.loads((b / "iqa_spec.json").read_text())["decision"]["threshold"]
    name = next(iter(doc["frames"][0]["expected"]))
    entry = max(doc["frames"], key=lambda e: abs(e["expected"][name]["probability"] - threshold))
    exp = entry["expected"][name]
    gap = abs(exp["probability"] - threshold)
    assert gap > exp["tolerance"]
    exp["good"] = not exp["good"]  # the golden now says the other side of the threshold
    path.write_text(json.dumps(doc))
    reseal_goldens(b)
    with pytest.raises(FetaledgeError, match="decision differs from the golden"):
        verify_bundle(b)
    exp["tolerance"] = gap + 1e-6  # ... which is legitimate when the golden is within tolerance of it
    path.write_text(json.dumps(doc))
    reseal_goldens(b)
    assert verify_bundle(b)["models"][name]["borderline_flips"] == 1


def test_unknown_schema_version_is_refused(bundle: Path, tmp_path: Path) -> None:
    b = _copy(bundle, tmp_path)
    spec = json.loads((b / "iqa_spec.json").read_text())
    spec["schema_version"] = 99
    (b / "iqa_spec.json").write_text(json.dumps(spec))
    r = CliRunner().invoke(main, ["verify", str(b)])
    assert r.exit_code != 0 and "schema_version" in r.output


def test_classifier_rejects_bad_frames(bundle: Path) -> None:
    clf = FrameClassifier(bundle)
    ok = np.zeros((562, 744), np.uint8)
    assert 0.0 <= clf.probability(ok) <= 1.0
    with pytest.raises(FetaledgeError, match="built for 562x744"):
        clf.probability(np.zeros((540, 800), np.uint8))
    with pytest.raises(FetaledgeError, match="dtype is float32"):
        clf.probability(np.zeros((562, 744), np.float32))
    with pytest.raises(FetaledgeError, match="one grey channel"):
        clf.probability(np.zeros((562, 744, 3), np.uint8))


def test_engines_agree_across_runtimes(bundle: Path) -> None:
    spec = json.loads((bundle / "iqa_spec.json").read_text())
    if len(spec["models"]) < 2:
        pytest.skip("litert extra absent: one runtime only")
    frame = np.load(next((bundle / "goldens" / "frames").iterdir()))
    a = FrameClassifier(bundle, spec["models"][0]["name"]).probability(frame)
    b = FrameClassifier(bundle, spec["models"][1]["name"]).probability(frame)
    assert abs(a - b) < 1e-4


def test_infer_on_a_phantom_case(bundle: Path, tmp_path: Path) -> None:
    write_phantom(tmp_path / "ph", PhantomConfig(cases=1, seed=5, frames_per_sweep=10))
    case = next((tmp_path / "ph" / "images" / "stacked_fetal_ultrasound").iterdir())
    out = tmp_path / "r.json"
    r = CliRunner().invoke(main, ["infer", "--bundle", str(bundle), str(case), "--json", str(out)])
    assert r.exit_code == 0, r.output
    res = json.loads(out.read_text())
    assert len(res["sweeps"]) == 6 and all(len(s["probabilities"]) == 10 for s in res["sweeps"])
    assert -1 <= res["case"]["frame"] < 60
    assert out.with_suffix(".png").stat().st_size > 10_000


def test_infer_rejects_a_truncated_case(bundle: Path, tmp_path: Path) -> None:
    write_phantom(tmp_path / "ph", PhantomConfig(cases=1, seed=5, frames_per_sweep=10))
    case = next((tmp_path / "ph" / "images" / "stacked_fetal_ultrasound").iterdir())
    case.write_bytes(case.read_bytes()[:5000])
    r = CliRunner().invoke(main, ["infer", "--bundle", str(bundle), str(case)])
    assert r.exit_code != 0 and "truncated" in r.output


def test_runtime_never_imports_torch() -> None:
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "import fetaledge.runtime.classifier, fetaledge.runtime.verify, fetaledge.runtime.infer\n"
        "import fetaledge.runtime.engines, fetaledge.runtime.mha, fetaledge.runtime.introspect\n"
        "assert 'torch' not in [m for m in sys.modules if sys.modules[m] is not None]\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_arm64_emulated_run_matches_x86(bundle: Path, tmp_path: Path) -> None:
    from fetaledge.emulate import arm64_available

    if not arm64_available():
        pytest.skip("arm64 emulation not set up (bash benchmarks/arm64/setup_arm64.sh)")
    from fetaledge.bench.emulated import compare_arm64

    write_phantom(tmp_path / "ph", PhantomConfig(cases=1, seed=6, frames_per_sweep=10))
    case = next((tmp_path / "ph" / "images" / "stacked_fetal_ultrasound").iterdir())
    r = compare_arm64(bundle, [case])
    assert r["arm64_machine"] == "aarch64"
    assert r["goldens_verified_on_arm64"], r["arm64_verify_error"]
    assert r["all_decisions_agree"], r["comparisons"]
    for row in r["comparisons"].values():
        assert row["max_abs_prob_diff"] < 1e-4
