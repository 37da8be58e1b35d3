"""The zero-mean generalized Gaussian of docs/method.md §2, stable in float32.

``p(r) = beta / (2 alpha Gamma(1/beta)) * exp(-(|r| / alpha) ** beta)``; ``beta = 2`` is a
Gaussian, ``1`` a Laplacian, ``< 1`` heavy-tailed. All functions are element-wise on
torch tensors, compute in float32 whatever the input dtype (fp16 overflows in ``lgamma``
and in the power), and stay finite, with finite gradients, at ``r = 0`` and ``beta < 1``.
"""

from __future__ import annotations

import math

import torch

#: Below this |residual| the power term is blended linearly to its exact value 0 at r = 0,
#: which keeps the gradient finite where ``|r| ** beta`` has an infinite slope (beta < 1).
RESIDUAL_EPS = 1e-6
_LOG2 = math.log(2.0)


def _f32(*tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
    return tuple(t.float() for t in tensors)


def log_sigma(alpha: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    """``log sigma = log alpha + (lgamma(3/beta) - lgamma(1/beta)) / 2``."""
    alpha, beta = _f32(alpha, beta)
    with torch.autocast(device_type=alpha.device.type, enabled=False):
        return torch.log(alpha) + 0.5 * (torch.lgamma(3.0 / beta) - torch.lgamma(1.0 / beta))


def sigma(alpha: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    """Standard deviation of the GGD (the paper's Eq. 1), computed in log space."""
    return torch.exp(log_sigma(alpha, beta))


def scaled_power(residual: torch.Tensor, alpha: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    """``(|r| / alpha) ** beta`` computed as ``exp(beta * (log|r| - log alpha))``.

    For ``|r| < RESIDUAL_EPS`` the value at ``RESIDUAL_EPS`` is scaled by ``|r| / RESIDUAL_EPS``,
    so it is exactly 0 at ``r = 0`` and the gradient is bounded.
    """
    residual, alpha, beta = _f32(residual, alpha, beta)
    with torch.autocast(device_type=residual.device.type, enabled=False):
        magnitude = residual.abs()
        clamped = magnitude.clamp_min(RESIDUAL_EPS)
        power = torch.exp(beta * (torch.log(clamped) - torch.log(alpha)))
        blend = (magnitude / RESIDUAL_EPS).clamp_max(1.0)
        return power * blend


def nll(residual: torch.Tensor, alpha: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    """Element-wise negative log-likelihood of ``residual`` under GGD(0, alpha, beta).

    ``(|r|/alpha)^beta + log alpha - log beta + lgamma(1/beta) + log 2``; equals
    ``-scipy.stats.gennorm.logpdf(r, beta, scale=alpha)``.
    """
    residual, alpha, beta = _f32(residual, alpha, beta)
    with torch.autocast(device_type=residual.device.type, enabled=False):
        return (
            scaled_power(residual, alpha, beta)
            + torch.log(alpha)
            - torch.log(beta)
            + torch.lgamma(1.0 / beta)
            + _LOG2
        )


def central_interval_halfwidth(
    alpha: torch.Tensor, beta: torch.Tensor, coverage: float
) -> torch.Tensor:
    """Half-width ``h`` with ``P(|r| <= h) = coverage`` under GGD(0, alpha, beta).

    ``|r| / alpha`` to the power ``beta`` is Gamma(1/beta, 1) distributed, so
    ``h = alpha * Q(1/beta, coverage) ** (1/beta)`` with ``Q`` the gamma quantile.
    """
    from dfviewer.core.metrics import ggd_halfwidth  # the numpy maths, which evaluate uses without torch

    half = ggd_halfwidth(alpha.detach().float().cpu().numpy(), beta.detach().float().cpu().numpy(), coverage)
    return torch.from_numpy(half.astype("float32")).to(alpha.device)
