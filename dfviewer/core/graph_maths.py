"""The GGD's sigma in operations an ONNX graph has: ONNX has no lgamma, so log Gamma is a series.

``lgamma(z) = stirling(z + 8) - log(z (z + 1) ... (z + 7))``: shifting the argument by 8 puts the
Stirling series (terms to ``z ** -7``) where its error is below 1e-11 for every ``z > 0``. It runs in
float64, because ``lgamma(3 / beta) - lgamma(1 / beta)`` cancels terms of about 50 down to near 0.
Checked against ``scipy.special.gammaln`` over the whole beta range in tests/test_runtime.py.
"""

from __future__ import annotations

import math

import torch

SHIFT = 8
_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


def log_gamma(z: torch.Tensor) -> torch.Tensor:
    """``log Gamma(z)`` for ``z > 0`` (float64 in, float64 out) from exportable operations only."""
    product = z
    for k in range(1, SHIFT):
        product = product * (z + k)
    w = z + SHIFT
    inv = 1.0 / w
    inv2 = inv * inv
    series = inv * (1.0 / 12 - inv2 * (1.0 / 360 - inv2 * (1.0 / 1260 - inv2 / 1680)))
    return (w - 0.5) * torch.log(w) - w + _HALF_LOG_2PI + series - torch.log(product)


def graph_sigma(alpha: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    """The GGD's standard deviation ``alpha * sqrt(Gamma(3/beta) / Gamma(1/beta))`` (float32 out)."""
    b = beta.double()
    half = 0.5 * (log_gamma(3.0 / b) - log_gamma(1.0 / b))
    return (alpha.double() * torch.exp(half)).float()


__all__ = ["graph_sigma", "log_gamma"]
