"""The network (the GAN's generator): a U-Net stage with mean / alpha / beta heads, and the cascade of stages.

docs/method.md §2-4. Dropout sits in the bottleneck and in every decoder block, so
the encoder of stage 1 runs once per image while Monte Carlo samples differ downstream
(``UNetStage.encode`` / ``UNetStage.decode`` expose that split to the predictor).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dfviewer.core import ggd
from dfviewer.core.config import ModelConfig
from dfviewer.core.mc_masks import MaskStream


@dataclass
class StageOutput:
    """One stage's per-pixel maps, each of shape (N, 1, H, W)."""

    mean: torch.Tensor
    alpha: torch.Tensor
    beta: torch.Tensor

    @property
    def sigma(self) -> torch.Tensor:
        """Aleatoric standard deviation (float32)."""
        return ggd.sigma(self.alpha, self.beta)

    def detach(self) -> StageOutput:
        return StageOutput(self.mean.detach(), self.alpha.detach(), self.beta.detach())


def _dropout(cfg: ModelConfig) -> nn.Module:
    return nn.Dropout2d(cfg.dropout) if cfg.dropout_kind == "channel" else nn.Dropout(cfg.dropout)


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    return nn.Identity()


class ConvBlock(nn.Sequential):
    """``convs`` times (3x3 conv, normalisation, LeakyReLU)."""

    def __init__(self, in_ch: int, out_ch: int, convs: int, norm: str) -> None:
        layers: list[nn.Module] = []
        for i in range(convs):
            layers += [
                nn.Conv2d(in_ch if i == 0 else out_ch, out_ch, 3, padding=1, bias=norm == "none"),
                _norm(norm, out_ch),
                nn.LeakyReLU(0.2, inplace=True),
            ]
        super().__init__(*layers)


class UpBlock(nn.Module):
    """Upsampling (transposed conv, or 1x1 conv + nearest resize), skip concatenation, dropout, conv block."""

    def __init__(self, in_ch: int, skip_ch: int, out_ch: int, cfg: ModelConfig) -> None:
        super().__init__()
        self.up: nn.Module
        if cfg.upsampling == "resize":
            # channels reduced at the low resolution, where it is cheap
            self.up = nn.Sequential(
                nn.Conv2d(in_ch, out_ch, kernel_size=1),
                nn.Upsample(scale_factor=2, mode="nearest"),
            )
        else:
            self.up = nn.ConvTranspose2d(in_ch, out_ch, kernel_size=2, stride=2)
        self.dropout = _dropout(cfg)
        self.conv = ConvBlock(out_ch + skip_ch, out_ch, cfg.convs_per_block, cfg.norm)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = torch.cat([self.up(x), skip], dim=1)
        return self.conv(self.dropout(x))


class UNetStage(nn.Module):
    """One generator: U-Net trunk plus a 1x1 head giving mean, alpha > 0 and bounded beta."""

    def __init__(self, cfg: ModelConfig, in_channels: int, refine: bool = False, width: int | None = None) -> None:
        super().__init__()
        self.cfg = cfg
        self.refine = refine  # predict a correction to the previous stage's mean
        widths = [(width or cfg.base_width) * 2**i for i in range(cfg.depth + 1)]
        self.stem = ConvBlock(in_channels, widths[0], cfg.convs_per_block, cfg.norm)
        self.down = nn.ModuleList(
            nn.Sequential(nn.MaxPool2d(2), ConvBlock(widths[i], widths[i + 1], cfg.convs_per_block, cfg.norm))
            for i in range(cfg.depth)
        )
        self.bottleneck_dropout = _dropout(cfg)
        self.up = nn.ModuleList(
            UpBlock(widths[i + 1], widths[i], widths[i], cfg) for i in reversed(range(cfg.depth))
        )
        self.head = nn.Conv2d(widths[0], 3, kernel_size=1)
        self._init_head()

    def _init_head(self) -> None:
        # Start near alpha = 0.1 and beta = 2 (Gaussian) with smooth, non-zero gradients;
        # the reference's ReLU heads start most pixels at alpha = beta = 0 with none.
        with torch.no_grad():
            self.head.weight.mul_(0.1)
            alpha0, beta0 = 0.1, 2.0
            frac = (beta0 - self.cfg.beta_min) / (self.cfg.beta_max - self.cfg.beta_min)
            assert self.head.bias is not None  # nn.Conv2d(bias=True)
            self.head.bias.copy_(
                torch.tensor([0.0, math.log(math.expm1(alpha0)), math.log(frac / (1 - frac))])
            )

    def encode(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Encoder features, deepest last; deterministic (no dropout here)."""
        feats = [self.stem(x)]
        for down in self.down:
            feats.append(down(feats[-1]))
        return feats

    def decode(self, feats: Sequence[torch.Tensor], previous_mean: torch.Tensor | None = None) -> StageOutput:
        """Decoder and heads; the dropout layers (MC samples) all live here."""
        x = self.bottleneck_dropout(feats[-1])
        for up, skip in zip(self.up, reversed(feats[:-1])):
            x = up(x, skip)
        # The 1x1 head runs in float32 even under autocast: fp16/bf16 rounding of the mean
        # (a step of ~0.002 at 0.5 in bf16) would otherwise leak into the epistemic spread.
        with torch.autocast(device_type=x.device.type, enabled=False):
            raw = self.head(x.float())
        mean = raw[:, 0:1]
        if self.refine and previous_mean is not None:
            mean = mean + previous_mean.float()
        alpha = F.softplus(raw[:, 1:2]) + self.cfg.alpha_floor
        beta = self.cfg.beta_min + (self.cfg.beta_max - self.cfg.beta_min) * torch.sigmoid(raw[:, 2:3])
        return StageOutput(mean, alpha, beta)

    def forward(self, x: torch.Tensor, previous_mean: torch.Tensor | None = None) -> StageOutput:
        return self.decode(self.encode(x), previous_mean)


def stage_input(cfg: ModelConfig, x: torch.Tensor, previous: StageOutput,
                sigma: torch.Tensor | None = None) -> torch.Tensor:
    """Input of stage m > 1 from the original input and stage m - 1's output (docs/method.md §3).

    ``sigma``: stage m - 1's sigma when the caller computed it (the exported graph has no lgamma).
    """
    mean = previous.mean.to(x.dtype)
    if cfg.stage_input == "mean_only":
        return torch.cat([x, mean], dim=1)
    if cfg.stage_input in ("attention", "attention_absolute"):
        sig = previous.sigma if sigma is None else sigma
        if cfg.stage_input == "attention":
            sig = sig / sig.mean(dim=(-2, -1), keepdim=True).clamp_min(1e-8)
        s = sig.to(x.dtype)
        return torch.cat([x, mean, mean * s, s], dim=1)
    # "reference": concat(mean, 1 / alpha, beta, x) as in the public reference code
    return torch.cat(
        [mean, (1.0 / previous.alpha).to(x.dtype), previous.beta.to(x.dtype), x], dim=1
    )


class Cascade(nn.Module):
    """``n_stages`` U-Net generators; stage m > 1 refines stage m - 1 guided by its uncertainty."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.stages = nn.ModuleList(
            UNetStage(cfg, cfg.stage_in_channels(m), refine=cfg.refine_residual and m > 0, width=cfg.stage_width(m))
            for m in range(cfg.n_stages)
        )

    def forward(self, x: torch.Tensor, n_stages: int | None = None) -> list[StageOutput]:
        """Run stages 1..n_stages (all by default); returns one output per stage."""
        outputs: list[StageOutput] = []
        for m, stage in enumerate(self.stages[: n_stages or self.cfg.n_stages]):
            if m == 0:
                outputs.append(stage(x))
            else:
                prev = outputs[-1]
                outputs.append(stage(stage_input(self.cfg, x, prev), previous_mean=prev.mean))
        return outputs

    def freeze_stages(self, stages: Sequence[int], sample_dropout: bool = False) -> None:
        """Really freeze the given (0-based) stages: eval mode and no gradients.

        Call again after every ``model.train()``, which would switch them back to training
        mode (the reference lets frozen stages' BatchNorm statistics drift that way). With
        ``sample_dropout`` their dropout layers keep sampling (normalisation stays in eval
        mode), so a later stage trains on the MC-dropout inputs it will see at inference.
        """
        for m in stages:
            self.stages[m].eval()
            for p in self.stages[m].parameters():
                p.requires_grad_(False)
            if sample_dropout:
                for module in dropout_modules(self.stages[m]):
                    module.train()

    def unfreeze_all(self) -> None:
        for p in self.parameters():
            p.requires_grad_(True)


def first_stages(model: Cascade, n: int) -> Cascade:
    """A copy of the first ``n`` stages as an ``n``-stage cascade (on the CPU)."""
    cfg = replace(model.cfg, n_stages=n)
    small = Cascade(cfg)
    keep = {k: v.detach().cpu() for k, v in model.state_dict().items()
            if not k.startswith("stages.") or int(k.split(".")[1]) < n}
    small.load_state_dict(keep, strict=True)
    return small


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def dropout_modules(model: nn.Module) -> Iterator[nn.Module]:
    for module in model.modules():
        if isinstance(module, (nn.Dropout, nn.Dropout2d)):
            yield module


@contextlib.contextmanager
def mc_dropout(model: nn.Module, enabled: bool = True) -> Iterator[nn.Module]:
    """Eval mode for everything but dropout, which samples when ``enabled`` (MC dropout).

    Normalisation layers keep their running statistics; the previous modes are restored.
    """
    modes = {m: m.training for m in model.modules()}
    model.eval()
    if enabled:
        for module in dropout_modules(model):
            module.train()
    try:
        yield model
    finally:
        for module, mode in modes.items():
            module.train(mode)


@contextlib.contextmanager
def seeded_dropout(model: nn.Module, rows: Sequence[tuple[int, int]]) -> Iterator[nn.Module]:
    """MC dropout whose row ``i`` of every batch multiplies in the masks of sample ``rows[i]`` = (seed, sample).

    Dropout modules stay in eval mode (identity) and a forward hook multiplies their output by
    per-row masks (per channel for ``Dropout2d``, per element for ``Dropout``), each row's drawn
    from its own :class:`~dfviewer.core.mc_masks.MaskStream` in the order the layers run: the masks
    :func:`~dfviewer.core.mc_masks.sample_masks` gives the exported graph. A row's result depends
    on its (seed, sample) only, never on the batch it shares: an image's samples come out the same
    in a batch of one or of sixteen. Normalisation layers stay in eval mode; previous modes are restored.
    """
    streams = [MaskStream(seed, sample) for seed, sample in rows]

    def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> torch.Tensor:
        x = inputs[0]
        if x.shape[0] != len(streams):
            raise RuntimeError(f"seeded dropout got a batch of {x.shape[0]} rows for {len(streams)} samples")
        p = float(getattr(module, "p", 0.0))
        if p <= 0.0:
            return output
        shape = (x.shape[1], 1, 1) if isinstance(module, nn.Dropout2d) else tuple(x.shape[1:])
        mask = torch.from_numpy(np.stack([stream.draw(shape, p) for stream in streams]))
        return x * mask.to(device=x.device, dtype=x.dtype)

    modes = {m: m.training for m in model.modules()}
    model.eval()
    handles = [module.register_forward_hook(hook) for module in dropout_modules(model)]
    try:
        yield model
    finally:
        for handle in handles:
            handle.remove()
        for module, mode in modes.items():
            module.train(mode)


class PatchDiscriminator(nn.Module):
    """Conditional PatchGAN: scores overlapping patches of concat(input, dark-field)."""

    def __init__(self, in_channels: int = 2, width: int = 16, layers: int = 3) -> None:
        super().__init__()
        mods: list[nn.Module] = [
            nn.Conv2d(in_channels, width, 4, stride=2, padding=1),
            nn.LeakyReLU(0.2, inplace=True),
        ]
        ch = width
        for i in range(1, layers):
            out = width * 2 ** min(i, 3)
            mods += [
                nn.Conv2d(ch, out, 4, stride=2, padding=1, bias=False),
                nn.InstanceNorm2d(out, affine=True),
                nn.LeakyReLU(0.2, inplace=True),
            ]
            ch = out
        mods += [nn.Conv2d(ch, 1, 4, stride=1, padding=1)]
        self.net = nn.Sequential(*mods)

    def forward(self, condition: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([condition, image], dim=1))
