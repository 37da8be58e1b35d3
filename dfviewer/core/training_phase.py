"""One phase of progressive training: which stages learn, the forward pass, optimisers and schedules.

A phase trains one stage with the earlier ones frozen, or (fine-tuning) all stages together.
:func:`setup_phase` freezes and unfreezes the cascade and the discriminators for a phase and
builds its optimisers; :class:`PhaseRun` holds what the epoch loop in
:mod:`~dfviewer.core.training` then uses.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn

from dfviewer.core.config import TrainConfig
from dfviewer.core.distributed import DistEnv
from dfviewer.core.network import Cascade, StageOutput, stage_input


@dataclass(frozen=True)
class Phase:
    name: str  # "stage" or "finetune"
    stage: int  # 0-based stage trained; -1 for fine-tuning all
    epochs: int

    @property
    def label(self) -> int:
        """1-based stage number for events (0: fine-tuning)."""
        return self.stage + 1 if self.name == "stage" else 0


class PhaseForward(nn.Module):
    """Runs stages 1..upto; frozen stages under no_grad. Returns a flat tuple of tensors."""

    def __init__(self, cascade: Cascade, upto: int, frozen: set[int]) -> None:
        super().__init__()
        self.cascade = cascade
        self.upto = upto
        self.frozen = frozen

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        outs: list[StageOutput] = []
        for m in range(self.upto + 1):
            stage = self.cascade.stages[m]
            ctx = torch.no_grad() if m in self.frozen else contextlib.nullcontext()
            with ctx:
                if m == 0:
                    out = stage(x)
                else:
                    out = stage(stage_input(self.cascade.cfg, x, outs[-1]), previous_mean=outs[-1].mean)
            outs.append(out)
        return tuple(t for o in outs for t in (o.mean, o.alpha, o.beta))


def unflat(flat: tuple[torch.Tensor, ...]) -> list[StageOutput]:
    """:class:`PhaseForward`'s flat tuple back as one :class:`StageOutput` per stage."""
    return [StageOutput(*flat[i : i + 3]) for i in range(0, len(flat), 3)]


@dataclass
class PhaseRun:
    """Everything one phase trains with: what is trained or frozen, the forward pass, the optimisers."""

    index: int  # position in the plan of phases
    phase: Phase
    trained: list[int]  # 0-based stages whose weights (and discriminators) learn
    frozen: set[int]
    upto: int  # the last stage run (0-based)
    forward: nn.Module  # PhaseForward, wrapped in DistributedDataParallel under torchrun
    discs: list[nn.Module]  # the discriminators of the trained stages
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    sch_g: torch.optim.lr_scheduler.LRScheduler
    sch_d: torch.optim.lr_scheduler.LRScheduler
    scaler_g: torch.amp.GradScaler
    scaler_d: torch.amp.GradScaler

    @property
    def lr(self) -> float:
        return float(self.opt_g.param_groups[0]["lr"])


def setup_phase(index: int, phase: Phase, model: Cascade, discs: nn.ModuleList, tc: TrainConfig,
                d: DistEnv, device: torch.device, amp_dtype: torch.dtype | None) -> PhaseRun:
    """Freeze what ``phase`` does not train, wrap it for DDP when distributed, build its optimisers."""
    n = model.cfg.n_stages
    if phase.name == "stage":
        trained = [phase.stage]
        frozen = {m for m in range(n) if m != phase.stage}
        upto = phase.stage
        lr, lr_d = tc.lr, tc.lr_discriminator
    else:
        trained = list(range(n))
        frozen = set()
        upto = n - 1
        lr = tc.lr * tc.finetune_lr_factor
        lr_d = tc.lr_discriminator * tc.finetune_lr_factor
    model.unfreeze_all()
    model.freeze_stages(sorted(frozen), tc.frozen_stage_dropout)
    for k, disc in enumerate(discs):
        for prm in disc.parameters():
            prm.requires_grad_(k in trained)
    forward: nn.Module = PhaseForward(model, upto, frozen)
    run_discs = [discs[k] for k in trained]
    if d.active:
        ids = [device.index] if device.type == "cuda" else None
        forward = nn.parallel.DistributedDataParallel(forward, device_ids=ids)
        run_discs = [nn.parallel.DistributedDataParallel(dd, device_ids=ids) for dd in run_discs]
    g_params = [prm for m in trained for prm in model.stages[m].parameters()]
    d_params = [prm for k in trained for prm in discs[k].parameters()]
    opt_g = torch.optim.Adam(g_params, lr=lr, betas=tc.adam_betas)
    opt_d = torch.optim.Adam(d_params, lr=lr_d, betas=tc.adam_betas)
    sch_g = torch.optim.lr_scheduler.CosineAnnealingLR(opt_g, T_max=phase.epochs, eta_min=lr * tc.cosine_min_lr_factor)
    sch_d = torch.optim.lr_scheduler.CosineAnnealingLR(opt_d, T_max=phase.epochs, eta_min=lr_d * tc.cosine_min_lr_factor)
    fp16 = amp_dtype == torch.float16
    return PhaseRun(index, phase, trained, frozen, upto, forward, run_discs, opt_g, opt_d, sch_g, sch_d,
                    torch.amp.GradScaler("cuda", enabled=fp16), torch.amp.GradScaler("cuda", enabled=fp16))


def epoch_seed(seed: int, rank: int, global_epoch: int) -> int:
    """The torch seed of one rank's epoch, so a resumed run repeats the uninterrupted one."""
    return (seed * 1_000_003 + rank * 7_919 + global_epoch * 104_729 + 17) % (2**63 - 1)


def fork_seeded(seed: int) -> contextlib.AbstractContextManager:
    """A context that runs under ``seed`` and leaves the global torch generators as they were."""
    devices = [torch.cuda.current_device()] if torch.cuda.is_available() and torch.cuda.is_initialized() else []
    ctx = torch.random.fork_rng(devices=devices)

    @contextlib.contextmanager
    def seeded() -> Iterator[None]:
        with ctx:
            torch.manual_seed(seed)
            yield

    return seeded()


__all__ = ["Phase", "PhaseForward", "PhaseRun", "epoch_seed", "fork_seeded", "setup_phase", "unflat"]
