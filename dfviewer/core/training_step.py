"""One training step of a phase (discriminator, then generator) and its mixed precision.

The forward passes of the cascade and the discriminators run under ``torch.autocast`` when the
training config's ``amp`` asks for it; the losses are always computed in float32 (the stage
outputs are cast back first: the generalized Gaussian's ``lgamma`` terms need float32).
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn

from dfviewer.core.config import TrainConfig
from dfviewer.core.losses import generator_loss, lsgan_discriminator_loss
from dfviewer.core.network import StageOutput
from dfviewer.core.training_phase import PhaseRun, unflat
from dfviewer.errors import UserError


def amp_dtype(mode: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of training config ``amp`` ``mode`` on ``device``; None: float32."""
    if mode == "off":
        return None
    if device.type == "cuda":
        if torch.cuda.is_bf16_supported():
            return torch.bfloat16
        if mode == "bfloat16":
            raise UserError("This GPU cannot train in bfloat16; choose amp auto (float16) or off.")
        return torch.float16
    if mode == "bfloat16" and device.type == "cpu":
        return torch.bfloat16
    return None  # "auto" keeps float32 on the CPU (and on other devices)


def autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    """``torch.autocast`` to ``dtype`` on ``device``'s type, or nothing for float32."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def _as_float32(out: StageOutput) -> StageOutput:
    # .float() of a float32 tensor is the tensor itself: the float32 path is unchanged
    return StageOutput(out.mean.float(), out.alpha.float(), out.beta.float())


def train_step(run: PhaseRun, discs: nn.ModuleList, x: torch.Tensor, y: torch.Tensor, tc: TrainConfig,
               dtype: torch.dtype | None) -> dict[str, float]:
    """One discriminator and one generator update of ``run``'s trained stages; the step's losses."""
    trained = run.trained
    with autocast(x.device, dtype):
        outs = [_as_float32(o) for o in unflat(run.forward(x))]
    # discriminator step (real and fake in one batch)
    d_loss = x.new_zeros((), dtype=torch.float32)
    for k, disc in zip(trained, run.discs):
        fake = outs[k].mean.detach().to(x.dtype)
        with autocast(x.device, dtype):
            scores = disc(torch.cat([x, x]), torch.cat([y, fake]))
        real_s, fake_s = scores.float().chunk(2)
        d_loss = d_loss + lsgan_discriminator_loss(real_s, fake_s)
    run.opt_d.zero_grad(set_to_none=True)
    run.scaler_d.scale(d_loss).backward()
    run.scaler_d.step(run.opt_d)
    run.scaler_d.update()
    # generator step, discriminators frozen
    g_total = x.new_zeros((), dtype=torch.float32)
    parts: dict[str, float] = {}
    for k in trained:
        disc = discs[k]
        for prm in disc.parameters():
            prm.requires_grad_(False)
        with autocast(x.device, dtype):
            fake_scores = disc(x, outs[k].mean.to(x.dtype)) if tc.lambda_adv > 0 else None
        gl = generator_loss(outs[k].mean, outs[k].alpha, outs[k].beta, y, fake_scores, tc)
        g_total = g_total + gl.total
        for name, value in gl.parts().items():
            parts[name] = parts.get(name, 0.0) + value
        for prm in disc.parameters():
            prm.requires_grad_(True)
    run.opt_g.zero_grad(set_to_none=True)
    run.scaler_g.scale(g_total).backward()
    run.scaler_g.step(run.opt_g)
    run.scaler_g.update()
    # the parts are averaged over the stages trained (fine-tuning trains them all)
    return {"g_total": float(g_total.detach()),
            **{k: v / len(trained) for k, v in parts.items() if k != "total"},
            "d": float(d_loss.detach())}


__all__ = ["amp_dtype", "autocast", "train_step"]
