"""Running under ``torchrun``: rank and world size, the process group and the device of each rank."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistEnv:
    """This process's place among the training processes (a single process: rank 0 of 1)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def active(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def distributed_env() -> DistEnv:
    """Rank, world size and local rank from torchrun's environment variables."""
    world = int(os.environ.get("WORLD_SIZE", "1") or 1)
    if world <= 1:
        return DistEnv()
    return DistEnv(int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0")))


def init_process_group(env: DistEnv, device: str) -> bool:
    """Join the process group (NCCL on GPUs, Gloo on CPUs); True when this call created it."""
    if not env.active or dist.is_initialized():
        return False
    backend = "nccl" if torch.cuda.is_available() and device in ("auto", "cuda") else "gloo"
    dist.init_process_group(backend=backend)
    return True


def rank_device(name: str, env: DistEnv) -> torch.device:
    """The device of this rank: its own GPU under torchrun, else :func:`~dfviewer.core.inference.select_device`."""
    from dfviewer.core.inference import select_device

    if env.active and torch.cuda.is_available() and str(name) in ("auto", "cuda"):
        torch.cuda.set_device(env.local_rank)
        return torch.device("cuda", env.local_rank)
    return select_device(name)


def barrier(env: DistEnv) -> None:
    if env.active:
        dist.barrier()


def any_rank(flag: bool, env: DistEnv, device: torch.device) -> bool:
    """True on every rank when ``flag`` is True on any (e.g. a cancel request seen by rank 0)."""
    if not env.active:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device if device.type == "cuda" else "cpu")
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def mean_over_ranks(values: dict[str, float], env: DistEnv, device: torch.device) -> dict[str, float]:
    """Each value averaged over the ranks (for the log)."""
    if not env.active:
        return values
    keys = sorted(values)
    t = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=device if device.type == "cuda" else "cpu")
    dist.all_reduce(t)
    return {k: float(v) / env.world for k, v in zip(keys, t.tolist())}


def broadcast_buffers(module: torch.nn.Module, env: DistEnv, device: torch.device) -> None:
    """Rank 0's buffers (BatchNorm running statistics) on every rank; CPUs have no SyncBatchNorm."""
    if env.active and device.type != "cuda":
        for buf in module.buffers():
            dist.broadcast(buf, src=0)


def destroy_process_group() -> None:
    dist.destroy_process_group()
