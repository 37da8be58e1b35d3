"""The generator and discriminator losses of docs/method.md §5.

Per stage: ``L_G = l1 * L1(mean, y) + l2 * NLL(mean, alpha, beta; y) + l_adv * L_adv(D(mean))
+ l_res * L1(res(mean), res(y))`` with ``res(z) = z - boxblur_k(z)`` and a least-squares GAN
loss. Everything is computed in float32 (the GGD terms must not run in half precision).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from dfviewer.core import ggd
from dfviewer.core.config import TrainConfig


def l1_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean absolute error."""
    return (pred.float() - target.float()).abs().mean()


def nll_loss(
    mean: torch.Tensor, alpha: torch.Tensor, beta: torch.Tensor, target: torch.Tensor
) -> torch.Tensor:
    """Mean generalized-Gaussian negative log-likelihood of ``target - mean``."""
    return ggd.nll(target.float() - mean.float(), alpha, beta).mean()


def lsgan_generator_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    """Least-squares GAN loss for the generator: ``mean((D(fake) - 1)^2)``."""
    return (fake_scores.float() - 1.0).pow(2).mean()


def lsgan_discriminator_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """Least-squares GAN loss for the discriminator: ``(mean((D(real)-1)^2) + mean(D(fake)^2)) / 2``."""
    return 0.5 * ((real_scores.float() - 1.0).pow(2).mean() + fake_scores.float().pow(2).mean())


def box_blur(z: torch.Tensor, k: int) -> torch.Tensor:
    """``k x k`` mean filter of (N, C, H, W) with reflected borders (same size out)."""
    if k < 1 or k % 2 == 0:
        raise ValueError("the box blur size must be a positive odd number")
    if k == 1:
        return z
    pad = k // 2
    mode = "reflect" if min(z.shape[-2:]) > pad else "replicate"
    padded = F.pad(z.float(), (pad, pad, pad, pad), mode=mode)
    return F.avg_pool2d(padded, kernel_size=k, stride=1)


def high_pass(z: torch.Tensor, k: int) -> torch.Tensor:
    """``res(z) = z - boxblur_k(z)``: the fine texture (noise) of an image."""
    return z.float() - box_blur(z, k)


def residual_consistency_loss(pred: torch.Tensor, target: torch.Tensor, k: int) -> torch.Tensor:
    """L1 between the high-pass residuals ``z - boxblur_k(z)`` of prediction and target."""
    return (high_pass(pred, k) - high_pass(target, k)).abs().mean()


@dataclass
class GeneratorLoss:
    """The weighted total and its unweighted parts (floats via :meth:`parts`)."""

    total: torch.Tensor
    l1: torch.Tensor
    nll: torch.Tensor
    adv: torch.Tensor
    residual: torch.Tensor

    def parts(self) -> dict[str, float]:
        """Detached float values of the total and each unweighted term."""
        return {
            name: float(getattr(self, name).detach())
            for name in ("total", "l1", "nll", "adv", "residual")
        }


def generator_loss(
    mean: torch.Tensor,
    alpha: torch.Tensor,
    beta: torch.Tensor,
    target: torch.Tensor,
    fake_scores: torch.Tensor | None,
    cfg: TrainConfig,
) -> GeneratorLoss:
    """One stage's generator loss with the weights of ``cfg``.

    ``fake_scores`` are the discriminator's scores of the generated mean (None or a zero
    ``lambda_adv`` drops the adversarial term).
    """
    zero = mean.new_zeros((), dtype=torch.float32)
    l1 = l1_loss(mean, target)
    # Detached: the likelihood shapes only alpha and beta (and the shared trunk through them),
    # so low predicted alpha cannot make the mean chase some pixels and neglect others.
    nll_mean = mean.detach() if cfg.nll_detach_mean else mean
    nll = nll_loss(nll_mean, alpha, beta, target) if cfg.lambda_nll > 0 else zero
    adv = lsgan_generator_loss(fake_scores) if fake_scores is not None and cfg.lambda_adv > 0 else zero
    res = (
        residual_consistency_loss(mean, target, cfg.residual_kernel)
        if cfg.lambda_residual > 0
        else zero
    )
    total = cfg.lambda_l1 * l1 + cfg.lambda_nll * nll + cfg.lambda_adv * adv + cfg.lambda_residual * res
    return GeneratorLoss(total=total, l1=l1, nll=nll, adv=adv, residual=res)
