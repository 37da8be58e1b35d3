"""Colormaps and windowing shared by the viewer and every export, so screen == file.

``gray`` is a linear ramp. ``viridis``, ``magma``, ``inferno`` (van der Walt and Smith, CC0) and
``cividis`` (Nunez, Anderton and Renslow, 2018) are the published perceptually uniform maps,
stored once as 256-entry 8-bit sRGB tables in ``colormaps.npz`` beside this module (no
matplotlib needed). Append ``_r`` to a name for the reversed map.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np

from dfviewer.imaging.voi_windows import percentile_window, window_limits

COLORMAPS = ("gray", "viridis", "magma", "inferno", "cividis")
_TABLE_FILE = Path(__file__).with_name("colormaps.npz")


@cache
def colormap_lut(name: str) -> np.ndarray:
    """The (256, 3) uint8 lookup table of colormap ``name`` (``_r`` suffix reverses it)."""
    key = str(name).strip().lower()
    reverse = key.endswith("_r")
    if reverse:
        key = key[:-2]
    if key in ("gray", "grey"):
        ramp = np.arange(256, dtype=np.uint8)
        lut = np.stack([ramp, ramp, ramp], axis=1)
    elif key in COLORMAPS:
        with np.load(_TABLE_FILE, allow_pickle=False) as tables:
            lut = np.array(tables[key], dtype=np.uint8)
    else:
        raise ValueError(f"unknown colormap {name!r}; choose one of {', '.join(COLORMAPS)}")
    if reverse:
        lut = lut[::-1]
    lut = np.ascontiguousarray(lut)
    lut.setflags(write=False)
    return lut


def window_indices(array: np.ndarray, window: tuple[float, float] | None) -> np.ndarray:
    """LUT index 0..255 of every pixel: linear from ``centre - width/2`` (0) to ``centre + width/2`` (255).

    Values outside the window clip to the ends; NaN and infinities get index 0 (the caller
    decides whether to make them transparent).
    """
    data = np.asarray(array, dtype=np.float32)
    if window is None:
        window = percentile_window(data)  # the readers' default window (io's auto_window)
    low, high = window_limits(window)
    span = high - low
    if not span > 0:
        span = max(abs(high), 1.0) * 1e-6
    scaled = (data - np.float32(low)) * np.float32(255.0 / span)
    scaled = np.nan_to_num(scaled, nan=0.0, posinf=255.0, neginf=0.0)
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def apply_colormap(array: np.ndarray, colormap: str = "gray", window: tuple[float, float] | None = None,
                   mask: np.ndarray | None = None) -> np.ndarray:
    """uint8 RGB (H, W, 3) of ``array`` through ``window`` and ``colormap``; RGBA when ``mask`` is given.

    With ``mask`` (boolean, same shape) pixels outside it get alpha 0. ``window=None`` uses the
    0.5-99.5 percentile window. Non-finite pixels take the map's first colour.
    """
    data = np.asarray(array)
    if data.ndim != 2:
        raise ValueError(f"apply_colormap needs a 2-D array, got shape {data.shape}")
    rgb = colormap_lut(colormap)[window_indices(data, window)]
    if mask is None:
        return rgb
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != data.shape:
        raise ValueError(f"mask shape {mask.shape} differs from the image shape {data.shape}")
    alpha = np.where(mask, np.uint8(255), np.uint8(0))[..., None]
    return np.concatenate([rgb, alpha], axis=2)
