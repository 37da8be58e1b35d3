"""Training under ``torchrun``: the process group and the device of each rank (rank and world size: :mod:`dfviewer.core.ranks`)."""

from __future__ import annotations

import torch
import torch.distributed as dist

from dfviewer.core.ranks import DistEnv, distributed_env  # torch-free: generate shards without torch


def init_process_group(env: DistEnv, device: str) -> bool:
    """Join the process group (NCCL on GPUs, Gloo on CPUs); True when this call created it."""
    if not env.active or dist.is_initialized():
        return False
    backend = "nccl" if torch.cuda.is_available() and device in ("auto", "cuda") else "gloo"
    dist.init_process_group(backend=backend)
    return True


def rank_device(name: str, env: DistEnv) -> torch.device:
    """The device of this rank: its own GPU under torchrun, else :func:`~dfviewer.core.devices.select_device`."""
    from dfviewer.core.devices import select_device

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


__all__ = ["DistEnv", "any_rank", "barrier", "broadcast_buffers", "destroy_process_group", "distributed_env",
           "init_process_group", "mean_over_ranks", "rank_device"]
