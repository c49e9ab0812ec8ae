"""`fetaledge bench` on a tiny build: report schema, every artifact timed and scored, Markdown + PNG written,
the arm64 report labelled EMULATED, the torch-free --device-only mode, and clear errors for bad inputs.

Benchmarks are measurements: nothing here asserts a speed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

pytest.importorskip("torch")
pytest.importorskip("SimpleITK")
pytest.importorskip("matplotlib")

from fetaledge.cli import main  # noqa: E402
from fetaledge.emulate import SETUP_COMMAND, arm64_available  # noqa: E402

# One thread, few frames, no full-size FetalCLIP, a 60-frame case, an untrained reference: a schema check only.
QUICK = ["--threads", "1", "--warmup", "1", "--iters", "3", "--repeats", "2", "--fetalclip-frames", "0",
         "--case-frames", "10", "--reference", "untrained"]
EMULATE = arm64_available()


pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bench(tiny_build: dict, tmp_path_factory) -> dict:
    """`fetaledge bench` over the session's tiny build (conftest.py); reports into a folder of its own."""
    root = tmp_path_factory.mktemp("bench")
    work, bundle, out = tiny_build["work"], tiny_build["bundle"], root / "results"
    args = ["bench", "--work", str(work), "--bundle", str(bundle), "--target", "arm64", "--out", str(out),
            "--label", "tiny", *QUICK] + (["--emulate", "--emulate-case-frames", "0"] if EMULATE else [])
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FETALEDGE_CACHE", str(tiny_build["fetaledge_cache"]))
        r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output[-3000:]
    return {"root": root, "work": work, "bundle": bundle, "out": out, "output": r.output,
            "results": json.loads((out / "tiny.json").read_text())}


def test_report_schema(bench: dict) -> None:
    res = bench["results"]
    assert res["schema_version"] == 1 and res["kind"] == "fetaledge-bench"
    assert {"host", "config", "artifacts", "fastest", "comparison", "case_memory", "notes"} <= set(res)
    assert {"machine", "cpu", "cores", "isa", "emulated", "loadavg_start"} <= set(res["host"])
    assert res["host"]["emulated"] is False
    assert res["config"]["target"] == "arm64" and res["config"]["split"] == "test"
    roles = {a["role"] for a in res["artifacts"]}
    assert {"teacher", "teacher-lora", "student", "reference"} <= roles
    names = {a["name"] for a in res["artifacts"]}
    assert {"teacher-fp32-torch", "teacher-lora-fp32-torch"} <= names
    assert any(a["precision"] == "int8" for a in res["artifacts"]), "the INT8 artifact of quantize.json"
    assert any(a.get("shipped") for a in res["artifacts"]), "the bundle's models are marked"
    assert {a["runtime"] for a in res["artifacts"]} >= {"torch", "onnxruntime"}
    assert any("UNTRAINED" in a["name"] for a in res["artifacts"] if a["role"] == "reference")


def test_every_artifact_has_latency_at_one_thread_and_quality(bench: dict) -> None:
    for a in bench["results"]["artifacts"]:
        lat = a["latency"]["1"]
        assert lat["samples"] == 3 * 2, a["name"]
        assert lat["spread_ms"][0] <= lat["latency_ms"] <= lat["spread_ms"][1]
        assert {"p50", "p90", "p99"} <= set(lat["per_frame_ms"]) and lat["peak_rss_mb"] > 0
        assert lat["cpu_latency_ms"] > 0 and lat["load_s"] > 0
        q = a["quality"]
        assert {"f1", "precision", "recall", "threshold", "wfss"} <= set(q), a["name"]
        assert 0.0 <= q["f1"] <= 1.0 and 0.0 <= q["wfss"] <= 1.0
        if a["parent"]:
            assert 0.0 <= q["agreement_with_parent"] <= 1.0
        assert a["size_bytes"] > 0


def test_side_by_side_and_memory(bench: dict) -> None:
    c = bench["results"]["comparison"]
    assert c["teacher"]["name"] == "teacher-fp32-torch"
    assert c["reference"]["runtime"] == "onnxruntime" and c["reference"]["untrained"] is True
    assert c["shipped"]["name"] in {a["name"] for a in bench["results"]["artifacts"] if a.get("shipped")}
    assert c["ratios"]["teacher_over_shipped_latency_1thread"] > 0
    lim = c["arithmetic_limit"]
    assert lim["student_macs"] > 0 and lim["theoretical_peak_gmacs_1core"] > 0
    assert lim["cpu_peak"]["measured_gmacs"]["numpy_fp32"]["cpu"] > 0
    assert "derivation" in json.dumps(lim["cpu_peak"]["theoretical"])
    cm = bench["results"]["case_memory"]
    assert cm["runs"] and all(r["frames"] == 60 and r["peak_rss_mb"] > 0 for r in cm["runs"])
    assert cm["limit_mb"] == 150 and cm["within_limit"] == all(r["peak_rss_mb"] <= 150 for r in cm["runs"])
    assert "one frame at a time" in cm["note"]
    assert "every Conv/MatMul/Gemm MAC" in lim["macs_counted"] and lim["student_macs"] > lim["network_macs"]


def test_markdown_and_pngs_written(bench: dict) -> None:
    out = bench["out"]
    md = (out / "tiny.md").read_text()
    assert "| artifact |" in md and "teacher-fp32-torch" in md and "Side by side" in md
    assert "Bound: peak RSS <= 150 MB" in md
    for png in ("tiny_pareto.png", "tiny_latency.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", png


@pytest.mark.skipif(not EMULATE, reason=f"arm64 emulation not set up (run `{SETUP_COMMAND}`)")
def test_arm64_report_is_labelled_emulated(bench: dict) -> None:
    out = bench["out"]
    rep = json.loads((out / "tiny_arm64_emulated.json").read_text())
    assert "EMULATED" in rep["EMULATED"] and rep["host"]["emulated"] is True
    assert rep["goldens_verified_on_arm64"] and rep["golden_decision_agreement"] == 1.0
    md = (out / "tiny_arm64_emulated.md").read_text()
    assert "EMULATED" in md and "arm64 EMULATED median ms" in md
    assert (out / "tiny_arm64_emulated.png").is_file()
    assert "EMULATED" in bench["results"]["arm64"]["label"]


def test_device_only_mode_runs_without_torch(bench: dict, tmp_path: Path) -> None:
    """What a device runs: torch (and timm, open_clip) made unimportable, as on a `pip install fetaledge` device."""
    args = ["bench", "--bundle", str(bench["bundle"]), "--device-only", "--out", str(tmp_path), "--label", "dev",
            "--threads", "1", "--warmup", "1", "--iters", "2", "--repeats", "1"]
    code = ("import sys\nfor m in ('torch', 'timm', 'open_clip'):\n    sys.modules[m] = None\n"
            "from fetaledge.cli import main\nmain(sys.argv[1:])")
    r = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, (r.stdout + r.stderr)[-2000:]
    res = json.loads((tmp_path / "dev.json").read_text())
    assert res["kind"] == "fetaledge-bench-device" and res["config"]["mode"] == "device-only"
    assert all("1" in a["latency"] for a in res["artifacts"]) and res["artifacts"]
    assert (tmp_path / "dev.md").is_file()


@pytest.mark.parametrize("args, message", [
    (["--work", "{root}/nope", "--target", "arm64"], "work folder not found"),
    (["--work", "{work}", "--target", "riscv"], "unknown target"),
    (["--work", "{work}", "--target", "x86_64", "--emulate", "--bundle", "{bundle}"], "not an arm target"),
    (["--work", "{root}", "--target", "arm64", "--reference", "skip"], "not a complete build"),
    (["--device-only"], "--device-only times a bundle"),
    (["--device-only", "--bundle", "{bundle}", "--arm-count"], "--arm-count are for the build host"),
    (["--target", "arm64"], "--work and --target are required"),
])
def test_bad_inputs_give_clear_errors(bench: dict, tmp_path: Path, args: list[str], message: str) -> None:
    fill = {k: str(bench[k]) for k in ("root", "work", "bundle")}
    r = CliRunner().invoke(main, ["bench", "--out", str(tmp_path), *[a.format(**fill) for a in args]])
    assert r.exit_code != 0
    assert message in r.output, r.output


@pytest.mark.parametrize("host, fp32, int8", [
    ({"isa": ["avx", "avx2", "fma"], "vendor": "AuthenticAMD", "family": 23}, 8, 11),  # Zen 1: 128-bit datapath
    ({"isa": ["avx", "avx2", "fma"], "vendor": "GenuineIntel", "family": 6}, 16, 21),
    ({"isa": ["avx2", "fma", "avx512f", "avx512_vnni"], "vendor": "GenuineIntel", "family": 6}, 32, 128),
    ({"isa": ["avx2", "fma", "avx512f", "avx512_vnni", "amx_int8"], "vendor": "GenuineIntel"}, 32, 1024),
    ({"isa": ["asimd", "asimddp"], "vendor": "", "machine": "aarch64"}, 8, 32),
])
def test_theoretical_peak_states_its_derivation(host: dict, fp32: int, int8: int) -> None:
    from fetaledge.bench.side_by_side import theoretical_peak

    p = theoretical_peak(host, clock_ghz=2.0)
    assert (p["fp32_macs_per_cycle"], p["int8_macs_per_cycle"]) == (fp32, int8)
    assert p["fp32_gmacs"] == fp32 * 2.0
    assert "MAC/cycle" in p["fp32_derivation"] and p["assumption"]
