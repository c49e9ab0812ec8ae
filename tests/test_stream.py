"""The streaming case reader (fetaledge.runtime.mha.MhaStack) and `fetaledge infer` over it: frames equal to
SimpleITK's, compressed and not; clear errors; resident memory that does not grow with the case; a stack that
is not six sweeps scored as one sweep, saying so."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from fetaledge.errors import FetaledgeError
from fetaledge.runtime.infer import sweep_bounds
from fetaledge.runtime.mha import MhaStack, read_mha

ROOT = Path(__file__).resolve().parents[1]


def write_raw_stack(path: Path, frames: int, height: int, width: int, seed: int = 0) -> Path:
    """An uncompressed 8-bit .mha written with numpy alone (the ACOUSLIC header fields), frame by frame."""
    header = ("ObjectType = Image\nNDims = 3\nBinaryData = True\nBinaryDataByteOrderMSB = False\n"
              "CompressedData = False\nElementSpacing = 0.28 0.28 1\n"
              f"DimSize = {width} {height} {frames}\nElementType = MET_UCHAR\nElementDataFile = LOCAL\n")
    rng = np.random.default_rng(seed)
    with open(path, "wb") as f:
        f.write(header.encode())
        for _ in range(frames):
            f.write(rng.integers(0, 256, (height, width), dtype=np.uint8).tobytes())
    return path


@pytest.mark.parametrize("compressed", [False, True])
def test_frames_equal_simpleitk(tmp_path: Path, compressed: bool) -> None:
    sitk = pytest.importorskip("SimpleITK")
    rng = np.random.default_rng(1)
    # smooth-ish content so zlib has something to compress, plus noise so frames differ
    stack = (np.linspace(0, 200, 13 * 37 * 53).reshape(13, 37, 53) + rng.integers(0, 40, (13, 37, 53))).astype(np.uint8)
    path = tmp_path / "s.mha"
    sitk.WriteImage(sitk.GetImageFromArray(stack), str(path), useCompression=compressed)
    ref = sitk.GetArrayFromImage(sitk.ReadImage(str(path)))
    with MhaStack(path) as s:
        assert s.layout.compressed is compressed and s.shape == (13, 37, 53) and len(s) == 13
        got = np.stack(list(s))
        np.testing.assert_array_equal(got, ref)
        # random access, forwards then backwards (a compressed stream restarts), and negative indices
        for i in (9, 2, 12, -1, 0):
            np.testing.assert_array_equal(s.frame(i), ref[i])
        np.testing.assert_array_equal(np.stack(list(s.frames(4, 7))), ref[4:7])
        f = s.frame(3)
        f[:] = 0  # a frame is the caller's own array
        np.testing.assert_array_equal(s.frame(3), ref[3])
    np.testing.assert_array_equal(np.asarray(read_mha(path)), ref)


def test_bad_stacks_give_clear_errors(tmp_path: Path) -> None:
    path = write_raw_stack(tmp_path / "s.mha", 4, 8, 9)
    with MhaStack(path) as s, pytest.raises(FetaledgeError, match="frame 4 asked for, the stack holds 4"):
        s.frame(4)
    with pytest.raises(FetaledgeError, match="closed"):
        s.frame(0)
    cut = tmp_path / "cut.mha"
    cut.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(FetaledgeError, match="truncated"):
        MhaStack(cut)
    with pytest.raises(FetaledgeError, match="file not found"):
        MhaStack(tmp_path / "none.mha")
    junk = tmp_path / "junk.mha"
    junk.write_bytes(b"\x00\x01 not a header\n")
    with pytest.raises(FetaledgeError, match="not a MetaImage"):
        MhaStack(junk)


def test_compressed_stream_cut_short_says_truncated(tmp_path: Path) -> None:
    sitk = pytest.importorskip("SimpleITK")
    rng = np.random.default_rng(2)
    path = tmp_path / "z.mha"
    sitk.WriteImage(sitk.GetImageFromArray(rng.integers(0, 256, (6, 64, 64), dtype=np.uint8)), str(path),
                    useCompression=True)
    cut = tmp_path / "zcut.mha"
    data = path.read_bytes()
    cut.write_bytes(data[: len(data) * 2 // 3])
    with MhaStack(cut) as s:
        s.frame(0)
        with pytest.raises(FetaledgeError, match="truncated|corrupt"):
            s.frame(5)


_RSS = r"""
import sys
from pathlib import Path
import numpy as np

def hwm():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0

mode, path = sys.argv[1], sys.argv[2]
from fetaledge.runtime.mha import MhaStack, read_mha
before = hwm()
total = 0
if mode == "stream":
    with MhaStack(path) as s:
        for f in s:
            total += int(f[0, 0])
else:
    a = read_mha(path)
    for i in range(a.shape[0]):
        total += int(np.asarray(a[i]).sum() > 0)
print(hwm() - before)
"""


def test_streaming_holds_one_frame_not_the_stack(tmp_path: Path) -> None:
    """Reading a 150 MB stack through MhaStack raises peak RSS by less than 10 MB; the old memory map of the
    whole payload, touched frame by frame, raises it by about the stack's size (so the bound can fail)."""
    path = write_raw_stack(tmp_path / "long.mha", 360, 562, 744)
    grow = {}
    for mode in ("stream", "map"):
        r = subprocess.run([sys.executable, "-c", _RSS, mode, str(path)], capture_output=True, text=True,
                           timeout=120, cwd=ROOT)
        assert r.returncode == 0, r.stderr[-2000:]
        grow[mode] = float(r.stdout.strip())
    assert grow["stream"] < 10, grow
    assert grow["map"] > 100, grow


def test_sweep_bounds() -> None:
    assert sweep_bounds(840) == ([(k * 140, (k + 1) * 140) for k in range(6)], None)
    bounds, note = sweep_bounds(128)
    assert bounds == [(0, 128)] and "128 frames is not a multiple of 6" in note and "ONE sweep" in note
    with pytest.raises(FetaledgeError, match="no frame"):
        sweep_bounds(0)


def test_infer_scores_a_128_frame_stack_as_one_sweep(tiny_build: dict, tmp_path: Path) -> None:
    """The challenge's sample input holds 128 frames: one sweep, said on the console and in the JSON."""
    from fetaledge.cli import main
    from fetaledge.runtime.bundle import load_bundle

    bundle = tiny_build["bundle"]
    inp = load_bundle(bundle).input
    case = write_raw_stack(tmp_path / "sample128.mha", 128, inp.height, inp.width)
    out = tmp_path / "r.json"
    r = CliRunner().invoke(main, ["infer", "--bundle", str(bundle), str(case), "--json", str(out)])
    assert r.exit_code == 0, r.output
    assert "128 frames is not a multiple of 6" in r.output and "ONE sweep" in r.output
    res = json.loads(out.read_text())
    assert res["sweep_layout"] == "one sweep" and len(res["sweeps"]) == 1
    assert len(res["sweeps"][0]["probabilities"]) == 128 and res["frames_per_sweep"] == 128
    assert -1 <= res["case"]["frame"] < 128
    six = write_raw_stack(tmp_path / "six.mha", 12, inp.height, inp.width)
    r6 = CliRunner().invoke(main, ["infer", "--bundle", str(bundle), str(six), "--json", str(tmp_path / "6.json")])
    assert r6.exit_code == 0 and "not a multiple" not in r6.output
    assert json.loads((tmp_path / "6.json").read_text())["sweep_layout"] == "6 sweeps"


def test_infer_case_memory_does_not_grow_with_the_case(tiny_build: dict, tmp_path: Path) -> None:
    """The bench worker's case mode (the `fetaledge infer` path in a fresh process): a 300-frame case (125 MB)
    peaks within 15 MB of a 30-frame one (a map of the payload would add about 110 MB)."""
    from fetaledge.bench.latency import run_worker
    from fetaledge.runtime.bundle import load_bundle

    bundle = tiny_build["bundle"]
    spec = load_bundle(bundle)
    peaks = {}
    for n in (30, 300):
        case = write_raw_stack(tmp_path / f"c{n}.mha", n, spec.input.height, spec.input.width, seed=n)
        r = run_worker({"mode": "case", "bundle": str(bundle), "case": str(case), "model": spec.models[0].name,
                        "threads": 1})
        assert r["frames"] == n
        peaks[n] = r["peak_rss_mb"]
    assert peaks[300] - peaks[30] < 15, peaks
