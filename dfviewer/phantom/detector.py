"""A phase-stepping grating interferometer with a scanning detector.

The ideal line integrals become transmission ``T = exp(-A)`` and visibility ratio ``V = exp(-D)``.
The detector blurs the intensity and the modulation amplitude, counts Poisson photons at a few
phase steps for the object and a flat (reference) scan, and retrieves ``A`` and ``D`` by Fourier
analysis of the stepping curves. Dark-field noise therefore grows where few photons arrive (behind
heart, spine and diaphragm). A scanning system's slot-by-slot calibration drift adds horizontal
stripes.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter

from dfviewer.phantom.config import PhantomConfig


def _stripes(rng: np.random.Generator, rows: int, spacing: float, strength: float) -> np.ndarray:
    """Per-row relative error: piecewise-constant bands plus a slow wave."""
    band_mm = rng.uniform(6, 14)
    edges = np.floor((np.arange(rows) * spacing + rng.uniform(0, band_mm)) / band_mm).astype(int)
    offsets = rng.normal(0, strength, size=edges.max() + 1)
    wave = strength * 0.5 * np.sin(2 * np.pi * np.arange(rows) * spacing / rng.uniform(30, 80) + rng.uniform(0, 6.3))
    return (offsets[edges] + wave).astype(np.float32)


def acquire(rng: np.random.Generator, attenuation: np.ndarray, darkfield: np.ndarray, cfg: PhantomConfig,
            dose: float) -> tuple[np.ndarray, np.ndarray]:
    """Noisy measured (attenuation, dark-field) from the ideal line integrals."""
    rows, cols = attenuation.shape
    spacing = cfg.spacing_mm
    t = np.exp(-attenuation.astype(np.float64))
    tv = t * np.exp(-darkfield.astype(np.float64))
    sigma = cfg.blur_mm / spacing

    def blur(img):
        return gaussian_filter(img, sigma) if sigma > 0.2 else img

    stripe_v = _stripes(rng, rows, spacing, cfg.stripe_strength)[:, None]
    stripe_a = 0.3 * _stripes(rng, rows, spacing, cfg.stripe_strength)[:, None]
    v_rel = tv / np.maximum(t, 1e-30) * (1.0 + stripe_v)
    t = t * (1.0 + stripe_a)
    if not cfg.noise:
        t, v_rel = blur(t), blur(t * v_rel) / np.maximum(blur(t), 1e-30)
        return (-np.log(t)).astype(np.float32), (-np.log(np.clip(v_rel, 1e-6, None))).astype(np.float32)
    photons = cfg.photons_per_mm2 * spacing**2 * dose
    k = cfg.phase_steps
    phases = 2 * np.pi * np.arange(k) / k
    phase_map = np.float64(rng.uniform(0, 2 * np.pi)) + 0.5 * np.linspace(-1, 1, cols)[None, :]
    v0 = cfg.visibility

    def retrieve(mean_counts, vis):
        c_sum = np.zeros((rows, cols))
        cos_sum = np.zeros((rows, cols))
        sin_sum = np.zeros((rows, cols))
        for ph in phases:
            lam = mean_counts * (1.0 + vis * np.cos(ph + phase_map))
            counts = blur(rng.poisson(np.clip(lam, 0, None)).astype(np.float64))  # scintillator spread
            c_sum += counts
            cos_sum += counts * np.cos(ph)
            sin_sum += counts * np.sin(ph)
        mean = c_sum / k
        amp = 2.0 / k * np.hypot(cos_sum, sin_sum)
        return mean, amp

    ref_photons = photons * cfg.reference_dose_factor / k
    ref_mean, ref_amp = retrieve(np.full((rows, cols), ref_photons), np.full((rows, cols), v0))
    obj_mean, obj_amp = retrieve(photons / k * t, v0 * np.clip(v_rel, 0, 1.5))
    obj_mean = np.maximum(obj_mean, 0.5)
    att = -np.log(obj_mean / (ref_mean / cfg.reference_dose_factor))
    vis_obj = np.maximum(obj_amp / obj_mean, 1e-3 * v0)
    vis_ref = ref_amp / ref_mean
    dark = -np.log(vis_obj / vis_ref)
    return att.astype(np.float32), dark.astype(np.float32)
