"""Input and target normalisation shared by training, evaluation and the predictor.

Input (attenuation): ``percentile`` maps the ``input_low``-th and ``input_high``-th
percentiles of each image to 0 and 1; ``fixed`` uses those two numbers as values. Target
(dark-field): ``(y - target_offset) / target_scale``. The same functions must run at
training and at prediction time, or the network sees differently scaled inputs.
"""

from __future__ import annotations

import numpy as np

from dfviewer.core.config import Normalization


def normalize_input(image: np.ndarray, norm: Normalization) -> np.ndarray:
    """Map an attenuation image to the network's roughly [0, 1] range (not clipped).

    A flat image (no spread between the two bounds) maps to zeros.
    """
    image = np.asarray(image, dtype=np.float32)
    if norm.input_mode == "percentile":
        low, high = np.percentile(image, [norm.input_low, norm.input_high])
    else:
        low, high = norm.input_low, norm.input_high
    span = float(high) - float(low)
    if not span > 0:
        return np.zeros_like(image, dtype=np.float32)
    return ((image - np.float32(low)) / np.float32(span)).astype(np.float32)


def normalize_target(y: np.ndarray, norm: Normalization) -> np.ndarray:
    """Dark-field in target units -> network units: ``(y - target_offset) / target_scale``."""
    y = np.asarray(y, dtype=np.float32)
    return ((y - np.float32(norm.target_offset)) / np.float32(norm.target_scale)).astype(np.float32)


def denormalize_target(y: np.ndarray, norm: Normalization) -> np.ndarray:
    """Network units -> target units (the inverse of :func:`normalize_target`)."""
    y = np.asarray(y, dtype=np.float32)
    return (y * np.float32(norm.target_scale) + np.float32(norm.target_offset)).astype(np.float32)


def denormalize_spread(s: np.ndarray, norm: Normalization) -> np.ndarray:
    """Scales and standard deviations (alpha, sigma) from network to target units."""
    return (np.asarray(s, dtype=np.float32) * np.float32(norm.target_scale)).astype(np.float32)
