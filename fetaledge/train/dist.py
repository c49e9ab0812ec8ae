"""Single-process or DistributedDataParallel training context (``torchrun`` sets the environment).

``torchrun --nproc-per-node N -m fetaledge finetune ...`` starts N processes with RANK / WORLD_SIZE /
LOCAL_RANK / MASTER_ADDR set; :func:`init_distributed` joins them with NCCL on CUDA and gloo on CPU. Only rank 0
prints progress and writes artifacts; every rank computes the same decisions from all-gathered numbers, so
they stay in lock-step (same best epoch, same threshold).

Example:
    >>> ctx = init_distributed("cpu")   # single process when WORLD_SIZE is unset
    >>> ctx.world_size, ctx.is_main
    (1, True)
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch

from fetaledge.errors import FetaledgeError


@dataclass(frozen=True)
class DistContext:
    """Where this process sits: rank, world size and its torch device."""

    rank: int
    world_size: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def barrier(self) -> None:
        if self.distributed:
            import torch.distributed as dist

            dist.barrier()

    def shard(self, n: int) -> np.ndarray:
        """This rank's indices of ``n`` items (round robin, no padding: gathered results are exact)."""
        return np.arange(self.rank, n, self.world_size)

    def gather_sum(self, values: list[float]) -> list[float]:
        """Element-wise sum over ranks (float64)."""
        if not self.distributed:
            return list(values)
        import torch.distributed as dist

        t = torch.tensor(values, dtype=torch.float64, device=self._comm_device)
        dist.all_reduce(t)
        return t.cpu().tolist()

    def gather_objects(self, obj: object) -> list[object]:
        """Every rank's ``obj``, in rank order, on every rank."""
        if not self.distributed:
            return [obj]
        import torch.distributed as dist

        out: list[object] = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out

    def broadcast_object(self, obj: object) -> object:
        """Rank 0's ``obj`` on every rank."""
        if not self.distributed:
            return obj
        import torch.distributed as dist

        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    @property
    def _comm_device(self) -> torch.device:
        return self.device if self.device.type == "cuda" else torch.device("cpu")


def resolve_device(device: str) -> torch.device:
    """'cpu' or 'cuda' (clear error when CUDA is asked for and absent)."""
    if device not in ("cpu", "cuda"):
        raise FetaledgeError(f"unknown device {device!r}", hint="use --device cpu or --device cuda")
    if device == "cuda" and not torch.cuda.is_available():
        raise FetaledgeError("--device cuda asked for, but torch sees no CUDA device", hint="use --device cpu")
    return torch.device(device)


def init_distributed(device: str = "cpu") -> DistContext:
    """Join the torchrun process group if WORLD_SIZE > 1 (gloo on CPU, NCCL on CUDA); else one process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    dev = resolve_device(device)
    if world <= 1:
        return DistContext(0, 1, dev)
    import torch.distributed as dist

    rank = int(os.environ["RANK"])
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if dev.type == "cuda":
        if local >= torch.cuda.device_count():
            raise FetaledgeError(
                f"LOCAL_RANK {local} but only {torch.cuda.device_count()} CUDA device(s)",
                hint="use --nproc-per-node <= the number of GPUs",
            )
        torch.cuda.set_device(local)
        dev = torch.device("cuda", local)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo")
    return DistContext(rank, world, dev)


def shutdown(ctx: DistContext) -> None:
    """Leave the process group (no-op for one process)."""
    if ctx.distributed:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()
