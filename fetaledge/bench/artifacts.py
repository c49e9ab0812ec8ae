"""What a benchmark measures: one model file (or model folder for PyTorch) in one runtime."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class BenchArtifact:
    """One benchmarked artifact.

    ``runtime`` is "torch" (a model folder, run as RawFrameModel in PyTorch), "onnxruntime" or "litert"
    (a file). ``parent`` names the fp32 artifact this one should agree with (INT8 -> its fp32 export).
    """

    name: str
    role: str  # "teacher" | "teacher-lora" | "student" | "reference"
    runtime: str
    precision: str
    path: str
    parent: str | None = None
    backend: str | None = None  # quantize backend for INT8 artifacts

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def size_bytes(self) -> int:
        p = Path(self.path)
        if p.is_dir():
            return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
        return p.stat().st_size
