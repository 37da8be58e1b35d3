"""The one implementation of the image-quality numbers: MSE, PSNR, SSIM, and their mean +/- std.

``evaluate``, training's validation, the rendering scores and the viewer's Stages table all call
these, so the same case gives the same digits everywhere. Numpy only (no torch, no Qt).

SSIM follows Wang et al. (2004): an 11-tap Gaussian window (sigma 1.5, truncated at 3.5 sigma),
population covariances, ``K1 = 0.01``, ``K2 = 0.03``, the SSIM map averaged over the pixels whose
window lies inside the image; this equals ``skimage.metrics.structural_similarity(...,
gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=...)``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

SSIM_SIGMA = 1.5
SSIM_TRUNCATE = 3.5
SSIM_K1, SSIM_K2 = 0.01, 0.03
#: the Gaussian window's taps: SSIM needs images at least this many pixels a side
SSIM_WINDOW = 2 * int(SSIM_TRUNCATE * SSIM_SIGMA + 0.5) + 1


def _gauss_kernel() -> np.ndarray:
    radius = SSIM_WINDOW // 2
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    k = np.exp(-0.5 * (x / SSIM_SIGMA) ** 2)
    return k / k.sum()


_KERNEL = _gauss_kernel()


def _blur_valid(z: np.ndarray) -> np.ndarray:
    """Separable Gaussian blur over the window positions that lie inside the image (H-10, W-10)."""
    n = SSIM_WINDOW
    rows = z.shape[0] - n + 1
    out = _KERNEL[0] * z[0:rows]
    for i in range(1, n):
        out += _KERNEL[i] * z[i : i + rows]
    cols = z.shape[1] - n + 1
    result = _KERNEL[0] * out[:, 0:cols]
    for i in range(1, n):
        result += _KERNEL[i] * out[:, i : i + cols]
    return result


def ssim(pred: np.ndarray, target: np.ndarray, data_range: float = 1.0) -> float:
    """SSIM of two 2-D images (computed in float64), Wang et al. settings (see the module docstring)."""
    x = np.asarray(pred, dtype=np.float64)
    y = np.asarray(target, dtype=np.float64)
    if x.ndim != 2 or x.shape != y.shape:
        raise ValueError(f"SSIM needs two 2-D images of one shape, not {x.shape} and {y.shape}")
    if min(x.shape) < SSIM_WINDOW:
        raise ValueError(f"SSIM needs images of at least {SSIM_WINDOW} x {SSIM_WINDOW} pixels")
    c1 = (SSIM_K1 * data_range) ** 2
    c2 = (SSIM_K2 * data_range) ** 2
    ux, uy = _blur_valid(x), _blur_valid(y)
    vx = _blur_valid(x * x) - ux * ux
    vy = _blur_valid(y * y) - uy * uy
    vxy = _blur_valid(x * y) - ux * uy
    ssim_map = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    return float(ssim_map.mean())


def mse(pred: np.ndarray, target: np.ndarray) -> float:
    """Mean squared error (float64)."""
    d = np.asarray(pred, dtype=np.float64) - np.asarray(target, dtype=np.float64)
    return float(np.mean(d * d))


def psnr(pred: np.ndarray, target: np.ndarray, data_range: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB, ``10 log10(data_range^2 / MSE)`` (inf if equal)."""
    err = mse(pred, target)
    return math.inf if err == 0 else 10.0 * math.log10(data_range**2 / err)


def to_network_units(y: np.ndarray, offset: float, scale: float) -> np.ndarray:
    """A dark-field in the target's units as the network sees it: ``(y - offset) / scale`` in float32."""
    y = np.asarray(y, dtype=np.float32)
    return ((y - np.float32(offset)) / np.float32(scale)).astype(np.float32)


def image_quality(pred: np.ndarray, truth: np.ndarray, with_ssim: bool = True) -> dict[str, float]:
    """MSE, PSNR and SSIM of a generated dark-field against the real one, both in network units.

    Both are clipped to [0, 1] and scored with ``data_range = 1`` (``evaluate``'s published
    settings); SSIM is NaN for an image smaller than the 11-pixel window, or unless ``with_ssim``.
    """
    p = np.clip(pred, 0, 1)
    t = np.clip(truth, 0, 1)
    value = ssim(p, t, 1.0) if with_ssim and min(np.shape(t)) >= SSIM_WINDOW else math.nan
    return {"mse": mse(p, t), "psnr": psnr(p, t, 1.0), "ssim": value}


def mean_std(values: Iterable[float | None]) -> dict[str, float | None]:
    """Mean, population standard deviation and count of the finite values (None where there are none)."""
    v = np.asarray([x for x in values if x is not None and math.isfinite(x)], dtype=np.float64)
    if v.size == 0:
        return {"mean": None, "std": None, "n": 0}
    return {"mean": float(v.mean()), "std": float(v.std()), "n": int(v.size)}


__all__ = ["SSIM_WINDOW", "image_quality", "mean_std", "mse", "psnr", "ssim", "to_network_units"]
