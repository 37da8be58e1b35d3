"""Image-quality and uncertainty-quality metrics (METHOD.md section 6).

Image quality, per image: MSE, PSNR with an explicit ``data_range`` and SSIM with the
settings of Wang et al. (2004): an 11-tap Gaussian window (sigma 1.5, truncated at 3.5
sigma), population covariances (``use_sample_covariance=False``), ``K1 = 0.01``,
``K2 = 0.03``, the SSIM map averaged over the pixels whose window lies inside the image.
These equal ``skimage.metrics.peak_signal_noise_ratio`` and ``structural_similarity(...,
gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=...)``.

Uncertainty quality: Spearman correlation of sigma with the absolute error, the
sparsification curve and AUSE (Ilg et al. 2018), coverage of central intervals, UCE and
ENCE over equal-count bins of the predicted sigma.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

SSIM_SIGMA = 1.5
SSIM_TRUNCATE = 3.5
SSIM_K1, SSIM_K2 = 0.01, 0.03


def _gauss_kernel(dtype: torch.dtype, device: torch.device | str = "cpu") -> torch.Tensor:
    radius = int(SSIM_TRUNCATE * SSIM_SIGMA + 0.5)
    x = torch.arange(-radius, radius + 1, dtype=torch.float64)
    k = torch.exp(-0.5 * (x / SSIM_SIGMA) ** 2)
    return (k / k.sum()).to(dtype=dtype, device=device)


def ssim_map(pred: torch.Tensor, target: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """SSIM map of (N, 1, H, W) tensors over the 'valid' window positions (H-10, W-10)."""
    k = _gauss_kernel(pred.dtype, pred.device)
    kh, kw = k.view(1, 1, -1, 1), k.view(1, 1, 1, -1)

    def blur(z: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.conv2d(z, kh), kw)

    c1 = (SSIM_K1 * data_range) ** 2
    c2 = (SSIM_K2 * data_range) ** 2
    ux, uy = blur(pred), blur(target)
    vx = blur(pred * pred) - ux * ux
    vy = blur(target * target) - uy * uy
    vxy = blur(pred * target) - ux * uy
    return ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))


def ssim(pred: np.ndarray, target: np.ndarray, data_range: float = 1.0) -> float:
    """SSIM of two 2-D images (float64), Wang et al. settings (see the module docstring)."""
    p = torch.from_numpy(np.asarray(pred, dtype=np.float64))[None, None]
    t = torch.from_numpy(np.asarray(target, dtype=np.float64))[None, None]
    if min(p.shape[-2:]) < 11:
        raise ValueError("SSIM needs images of at least 11 x 11 pixels")
    return float(ssim_map(p, t, data_range).mean())


def mse(pred: np.ndarray, target: np.ndarray) -> float:
    """Mean squared error (float64)."""
    d = np.asarray(pred, dtype=np.float64) - np.asarray(target, dtype=np.float64)
    return float(np.mean(d * d))


def psnr(pred: np.ndarray, target: np.ndarray, data_range: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB, ``10 log10(data_range^2 / MSE)`` (inf if equal)."""
    err = mse(pred, target)
    return math.inf if err == 0 else 10.0 * math.log10(data_range**2 / err)


def batch_image_metrics(pred: torch.Tensor, target: torch.Tensor, data_range: float = 1.0) -> dict[str, list[float]]:
    """Per-image MSE, PSNR and SSIM of (N, 1, H, W) tensors (computed in float64)."""
    p, t = pred.double(), target.double()
    err = ((p - t) ** 2).flatten(1).mean(1)
    out: dict[str, list[float]] = {"mse": err.tolist()}
    out["psnr"] = [math.inf if e == 0 else 10 * math.log10(data_range**2 / e) for e in out["mse"]]
    if min(p.shape[-2:]) >= 11:
        out["ssim"] = ssim_map(p, t, data_range).flatten(1).mean(1).tolist()
    return out


# --- uncertainty quality ----------------------------------------------------------------


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation (NaN when either input is constant)."""
    from scipy.stats import spearmanr

    a, b = np.ravel(a), np.ravel(b)
    if a.size < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return math.nan
    return float(spearmanr(a, b).statistic)


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
    """Half-width of the central ``coverage`` interval of GGD(0, alpha, beta)."""
    from dfviewer.core import ggd

    a = torch.from_numpy(np.asarray(alpha, dtype=np.float32))
    b = torch.from_numpy(np.asarray(beta, dtype=np.float32))
    return ggd.central_interval_halfwidth(a, b, coverage).numpy().astype(np.float64)


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
