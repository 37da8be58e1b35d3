"""Display windows: ``(centre, width)`` like a DICOM VOI window. Imports nothing from dfviewer.

Pixels map linearly from ``centre - width / 2`` (darkest) to ``centre + width / 2`` (brightest),
on screen, in exported files and in the readers' default window alike.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

Window = tuple[float, float]

#: at most this many pixels (spread over the arrays) enter a percentile
SAMPLE_LIMIT = 400_000


def finite_sample(array: np.ndarray, limit: int = SAMPLE_LIMIT) -> np.ndarray:
    """A strided sample of the finite values (fast percentiles on big images)."""
    flat = np.asarray(array, dtype=np.float32).ravel()
    step = max(1, flat.size // max(limit, 1))
    flat = flat[::step]
    return flat[np.isfinite(flat)]


def percentile_window(arrays: np.ndarray | Sequence[np.ndarray], low: float = 0.5, high: float = 99.5) -> Window:
    """The window spanning the ``low``-th to ``high``-th percentile of the finite pixels of ``arrays``.

    Falls back to the min-max range when the percentiles coincide, and never has zero width.
    """
    if isinstance(arrays, np.ndarray):
        arrays = [arrays]
    limit = SAMPLE_LIMIT // max(len(arrays), 1)
    values = np.concatenate([finite_sample(a, limit) for a in arrays]) if len(arrays) else np.zeros(0)
    if values.size == 0:
        return 0.5, 1.0
    lo, hi = (float(v) for v in np.percentile(values, [low, high]))
    if not hi > lo:
        lo, hi = float(values.min()), float(values.max())
    return window_from_limits(lo, hi)


def window_from_limits(low: float, high: float) -> Window:
    """``(centre, width)`` for the value range [low, high], never of zero width."""
    if high < low:
        low, high = high, low
    width = high - low
    if not width > 0:
        width = max(abs(high), 1.0) * 1e-3
    return (low + high) / 2.0, width


def window_limits(window: Window) -> tuple[float, float]:
    """(low, high) of a (centre, width) window."""
    centre, width = float(window[0]), float(window[1])
    return centre - width / 2.0, centre + width / 2.0


def attenuation_presets(pixels: np.ndarray, file_presets: Sequence[tuple[str, float, float]] = ()
                        ) -> list[tuple[str, Window]]:
    """Window presets for an attenuation image: the file's own, then Lung, Bone, Full range, Auto.

    The radiograph's units vary by vendor, so Lung and Bone are percentile windows of this image:
    Lung spans the darker part (1st-65th percentile, the air-filled lungs), Bone the brighter part
    (35th-99.9th percentile); Full range is min-max, Auto the 0.5th-99.5th percentile.
    """
    presets: list[tuple[str, Window]] = []
    for name, centre, width in file_presets or ():
        if width and width > 0:
            presets.append((f"File: {name}", (float(centre), float(width))))
    sample = finite_sample(pixels)
    if sample.size == 0:
        return presets
    presets.append(("Lung", percentile_window(pixels, 1.0, 65.0)))
    presets.append(("Bone", percentile_window(pixels, 35.0, 99.9)))
    presets.append(("Full range", window_from_limits(float(sample.min()), float(sample.max()))))
    presets.append(("Auto", percentile_window(pixels)))
    return presets


def map_presets(array: np.ndarray) -> list[tuple[str, Window]]:
    """Window presets of a generated map: the automatic percentile window and the full range."""
    return [("Auto (0.5-99.5 %)", percentile_window(array)), ("Full range", percentile_window(array, 0, 100))]


def format_number(value: float) -> str:
    """Compact text for a value: readout, colorbar labels and exported PNGs say the same."""
    if not np.isfinite(value):
        return "-"
    magnitude = abs(value)
    if magnitude != 0 and (magnitude >= 1e5 or magnitude < 1e-3):
        return f"{value:.3g}"
    if magnitude >= 100:
        return f"{value:.1f}"
    return f"{value:.4g}"
