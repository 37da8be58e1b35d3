"""Input and target normalisation shared by training, evaluation and the predictor.

Input (attenuation): ``percentile`` maps the ``input_low``-th and ``input_high``-th
percentiles of each image to 0 and 1; ``fixed`` uses those two numbers as values;
``equalize`` maps each pixel to its quantile among the region's pixels (histogram
equalisation), so any monotone grey-value curve (window, gamma, log, bit depth) gives the
same network input. Target
(dark-field): ``(y - target_offset) / target_scale``. The same functions must run at
training and at prediction time, or the network sees differently scaled inputs.
"""

from __future__ import annotations

import numpy as np

from dfviewer.core.config import Normalization
from dfviewer.imaging.image_metrics import to_network_units

#: the central box whose statistics the ``thorax`` region uses: (row from, row to, column from, column to)
THORAX_BOX = (0.10, 0.90, 0.15, 0.85)
#: quantiles of the region that define the equalisation curve
_EQUALIZE_LEVELS = 1025
#: at most this many region pixels enter the statistics (a strided sample: same result, less time)
_MAX_STAT_PIXELS = 250_000
#: pixels equalised at a time (bounds the float64 temporaries of np.interp to a few MB)
_INTERP_PIECE = 1 << 20


def region_values(image: np.ndarray, region: str) -> np.ndarray:
    """The finite pixel values the input statistics use: the whole image or the thorax box."""
    image = np.asarray(image, dtype=np.float32)
    if region == "thorax" and image.ndim == 2 and min(image.shape) >= 8:
        h, w = image.shape
        r0, r1, c0, c1 = THORAX_BOX
        image = image[int(r0 * h) : max(int(r0 * h) + 1, int(round(r1 * h))),
                      int(c0 * w) : max(int(c0 * w) + 1, int(round(c1 * w)))]
    values = image.ravel()
    values = values[:: max(1, values.size // _MAX_STAT_PIXELS)]
    return values[np.isfinite(values)]


def equalize(image: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Each pixel's quantile (0..1) among ``reference`` values, linear between quantile levels.

    Values tied at one level (a clipped window, few grey levels) get the middle of their quantiles.
    """
    levels = np.linspace(0.0, 1.0, _EQUALIZE_LEVELS)
    ordered = np.sort(np.asarray(reference, dtype=np.float64).ravel())
    if ordered.size == 0:
        return np.zeros(np.shape(image), dtype=np.float32)
    xs = np.interp(levels * (ordered.size - 1), np.arange(ordered.size), ordered)  # = np.quantile, one sort
    unique, inverse = np.unique(xs, return_inverse=True)
    if unique.size < 2:
        return np.zeros(np.shape(image), dtype=np.float32)
    mids = np.bincount(inverse, weights=levels) / np.bincount(inverse)
    # in pieces: np.interp works in float64, 7 bytes per pixel more than the float32 result
    # (600 MB at the readers' 36-megapixel limit)
    flat = np.asarray(image, dtype=np.float32).reshape(-1)
    out = np.empty(flat.shape, dtype=np.float32)
    for start in range(0, flat.size, _INTERP_PIECE):
        out[start : start + _INTERP_PIECE] = np.interp(flat[start : start + _INTERP_PIECE], unique, mids)
    return out.reshape(np.shape(image))


def normalize_input(image: np.ndarray, norm: Normalization) -> np.ndarray:
    """Map an attenuation image to the network's roughly [0, 1] range (not clipped).

    A flat image (no spread between the two bounds) maps to zeros.
    """
    image = np.asarray(image, dtype=np.float32)
    if norm.input_mode == "fixed":
        low, high = norm.input_low, norm.input_high
    else:
        values = region_values(image, norm.input_region)
        if values.size == 0:
            return np.zeros_like(image, dtype=np.float32)
        if norm.input_mode == "equalize":
            return equalize(image, values)
        low, high = np.percentile(values, [norm.input_low, norm.input_high])
    span = float(high) - float(low)
    if not span > 0:
        return np.zeros_like(image, dtype=np.float32)
    out = image - np.float32(low)  # in place from here: one float32 image, not three
    out /= np.float32(span)
    return out


def normalize_target(y: np.ndarray, norm: Normalization) -> np.ndarray:
    """Dark-field in target units -> network units: ``(y - target_offset) / target_scale``."""
    return to_network_units(y, norm.target_offset, norm.target_scale)


def denormalize_target(y: np.ndarray, norm: Normalization) -> np.ndarray:
    """Network units -> target units (the inverse of :func:`normalize_target`)."""
    y = np.asarray(y, dtype=np.float32)
    return (y * np.float32(norm.target_scale) + np.float32(norm.target_offset)).astype(np.float32)


def denormalize_spread(s: np.ndarray, norm: Normalization) -> np.ndarray:
    """Scales and standard deviations (alpha, sigma) from network to target units."""
    return (np.asarray(s, dtype=np.float32) * np.float32(norm.target_scale)).astype(np.float32)


#: a ``fixed``-normalised input whose bulk maps outside this range is not what the model saw
_FIXED_INPUT_TOLERANCE = (-0.5, 1.5)


def input_range_warning(image: np.ndarray, norm: Normalization) -> str | None:
    """One sentence when an image's values lie outside what a ``fixed``-normalised model was trained on.

    A ``percentile`` model rescales every image, so it accepts any units and this returns None.
    A ``fixed`` model expects the training data's units (e.g. ``-ln T`` of a dark-field system);
    an image whose 1st-99th percentile range maps mostly outside [-0.5, 1.5] (a vendor's 12-bit
    processed radiograph, say) gives outputs with no meaning, and the user should be told so.
    """
    if norm.input_mode != "fixed":
        return None
    values = np.asarray(image, dtype=np.float32).ravel()
    values = values[:: max(1, values.size // 200_000)]  # a strided sample is plenty for two percentiles
    values = values[np.isfinite(values)]
    if values.size == 0:
        return None
    p1, p99 = (float(v) for v in np.percentile(values, [1, 99]))
    span = norm.input_high - norm.input_low
    lo, hi = ((p - norm.input_low) / span for p in (p1, p99))
    tol_lo, tol_hi = _FIXED_INPUT_TOLERANCE
    if hi > lo:
        inside = max(0.0, min(hi, tol_hi) - max(lo, tol_lo))
        plausible = inside / (hi - lo) >= 0.5
    else:
        plausible = tol_lo <= lo <= tol_hi
    if plausible:
        return None
    return (f"this image's values ({p1:.4g} to {p99:.4g}) lie outside the range the model was trained on "
            f"({norm.input_low:.4g} to {norm.input_high:.4g}), so its dark-field and uncertainty maps "
            f"have no meaning for it")
