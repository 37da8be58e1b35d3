"""Image-quality and uncertainty-quality metrics (docs/method.md §6).

Image quality: MSE, PSNR and SSIM are :mod:`dfviewer.imaging.image_metrics`'s (numpy, torch-free,
the same functions the viewer's Stages table uses); :func:`batch_image_metrics` applies them to
the images of a batch of tensors.

Uncertainty quality: Spearman correlation of sigma with the absolute error, the
sparsification curve and AUSE (Ilg et al. 2018), coverage of central intervals, UCE and
ENCE over equal-count bins of the predicted sigma.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from dfviewer.imaging.image_metrics import SSIM_WINDOW, mse, psnr, ssim

if TYPE_CHECKING:  # torch only for training's validation batches: evaluate scores without it
    import torch


def batch_image_metrics(pred: torch.Tensor, target: torch.Tensor, data_range: float = 1.0) -> dict[str, list[float]]:
    """Per-image MSE, PSNR and SSIM of (N, 1, H, W) tensors (computed in float64; SSIM from 11 x 11 px)."""
    p = pred.detach().double().cpu().numpy()
    t = target.detach().double().cpu().numpy()
    out: dict[str, list[float]] = {"mse": [mse(a[0], b[0]) for a, b in zip(p, t)]}
    out["psnr"] = [psnr(a[0], b[0], data_range) for a, b in zip(p, t)]
    if min(p.shape[-2:]) >= SSIM_WINDOW:
        out["ssim"] = [ssim(a[0], b[0], data_range) for a, b in zip(p, t)]
    return out


# --- uncertainty quality ----------------------------------------------------------------


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation, ties ranked by their mean (NaN when an input is constant or has NaN)."""
    # numpy alone: the desktop bundle leaves scipy.stats (and the optimize/interpolate it imports) out
    a, b = np.ravel(a).astype(np.float64), np.ravel(b).astype(np.float64)
    if a.size < 3 or np.isnan(a).any() or np.isnan(b).any() or np.ptp(a) == 0 or np.ptp(b) == 0:
        return math.nan
    return float(np.corrcoef(_mean_ranks(a), _mean_ranks(b))[0, 1])


def _mean_ranks(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n of ``x``; equal values share the mean of their ranks."""
    order = np.argsort(x, kind="stable")
    xs = x[order]
    starts = np.flatnonzero(np.r_[True, xs[1:] != xs[:-1]])  # first position of each run of equal values
    ends = np.r_[starts[1:], x.size]
    ranks = np.empty(x.size)
    ranks[order] = np.repeat((starts + ends + 1) / 2.0, ends - starts)
    return ranks


SPARSIFICATION_FRACTIONS = np.linspace(0.0, 0.95, 20)


def sparsification_curve(
    uncertainty: np.ndarray, error: np.ndarray, fractions: np.ndarray = SPARSIFICATION_FRACTIONS
) -> np.ndarray:
    """Mean absolute error of the pixels left after removing the most uncertain fraction.

    Normalised by the mean error of all pixels, so curves start at 1 (Ilg et al. 2018).
    """
    u, e = np.ravel(uncertainty).astype(np.float64), np.abs(np.ravel(error)).astype(np.float64)
    order = np.argsort(-u, kind="stable")  # most uncertain first
    tail = np.cumsum(e[order][::-1])[::-1]  # sum of errors from position i to the end
    n = e.size
    total = tail[0] if n else 0.0
    if total == 0:
        return np.zeros(len(fractions))
    out = []
    for f in fractions:
        start = min(int(round(f * n)), n - 1)
        out.append(tail[start] / (n - start) / (total / n))
    return np.asarray(out)


def ause(uncertainty: np.ndarray, error: np.ndarray, fractions: np.ndarray = SPARSIFICATION_FRACTIONS) -> tuple[float, np.ndarray, np.ndarray]:
    """Area between the sparsification curve and the oracle's (error-sorted) curve.

    Returns ``(ause, curve, oracle)``; the area is the trapezoid integral over ``fractions``.
    """
    curve = sparsification_curve(uncertainty, error, fractions)
    oracle = sparsification_curve(np.abs(error), error, fractions)
    # numpy >= 2.0 has trapezoid; older numpy (>= 1.24 is supported) only trapz, which 2.x removed
    trapezoid = getattr(np, "trapezoid" if hasattr(np, "trapezoid") else "trapz")
    area = float(trapezoid(curve - oracle, fractions))
    return area, curve, oracle


def gaussian_halfwidth(sigma: np.ndarray, coverage: float) -> np.ndarray:
    """Half-width of the central ``coverage`` interval of N(0, sigma^2)."""
    from scipy.special import erfinv

    return np.asarray(sigma, dtype=np.float64) * math.sqrt(2.0) * float(erfinv(coverage))


def ggd_halfwidth(alpha: np.ndarray, beta: np.ndarray, coverage: float) -> np.ndarray:
    """Half-width ``h`` of the central ``coverage`` interval of GGD(0, alpha, beta), in float32 maths.

    ``|r| / alpha`` to the power ``beta`` is Gamma(1/beta, 1) distributed, so
    ``h = alpha * Q(1/beta, coverage) ** (1/beta)`` with ``Q`` the gamma quantile.
    """
    if not 0.0 < coverage < 1.0:
        raise ValueError("coverage must lie strictly between 0 and 1")
    from scipy.special import gammaincinv  # scipy has the inverse incomplete gamma

    a = np.asarray(alpha, dtype=np.float32)
    b = np.asarray(beta, dtype=np.float32)
    half = a * gammaincinv(1.0 / b, coverage) ** (1.0 / b)
    return half.astype(np.float32).astype(np.float64)


def coverage(error: np.ndarray, halfwidth: np.ndarray) -> float:
    """Fraction of pixels with ``|error| <= halfwidth``."""
    return float(np.mean(np.abs(error) <= halfwidth))


def calibration_bins(sigma: np.ndarray, error: np.ndarray, bins: int = 10) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Equal-count bins of ``sigma``: per bin (mean sigma^2, mean error^2, pixel count)."""
    s, e = np.ravel(sigma).astype(np.float64), np.ravel(error).astype(np.float64)
    order = np.argsort(s, kind="stable")
    groups = [g for g in np.array_split(order, bins) if g.size]
    var = np.array([np.mean(s[g] ** 2) for g in groups])
    mse_ = np.array([np.mean(e[g] ** 2) for g in groups])
    counts = np.array([g.size for g in groups])
    return var, mse_, counts


def uce(sigma: np.ndarray, error: np.ndarray, bins: int = 10) -> float:
    """Uncertainty calibration error: count-weighted mean of ``|MSE_b - mean(sigma^2)_b|``."""
    var, mse_, counts = calibration_bins(sigma, error, bins)
    return float(np.sum(counts * np.abs(mse_ - var)) / np.sum(counts))


def ence(sigma: np.ndarray, error: np.ndarray, bins: int = 10) -> float:
    """Expected normalised calibration error: mean of ``|RMV_b - RMSE_b| / RMV_b``."""
    var, mse_, _ = calibration_bins(sigma, error, bins)
    rmv, rmse = np.sqrt(var), np.sqrt(mse_)
    ok = rmv > 0
    return float(np.mean(np.abs(rmv[ok] - rmse[ok]) / rmv[ok])) if ok.any() else math.nan
