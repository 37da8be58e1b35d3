"""Turn arrays into the RGBA pixels a panel shows (and an export writes). Qt-free.

Every panel image goes through :func:`colorize` (the IO layer's ``apply_colormap``), so the
pixels on screen and in an exported PNG are the same numbers. NaN pixels are transparent.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dfviewer.display.maps import MAPS
from dfviewer.imaging.colormaps import apply_colormap
from dfviewer.imaging.voi_windows import Window


@dataclass
class Layer:
    """What one panel shows: the data, how it is coloured, and the composed pixels."""

    key: str  # the map shown (a MAPS key)
    array: np.ndarray  # float data (for the readout, histogram and export)
    colormap: str
    window: Window
    rgba: np.ndarray  # uint8 (H, W, 4), what is drawn
    title: str
    units: str
    base_key: str | None = None  # the map blended under this one, if any
    opacity: float = 1.0


def colorize(array: np.ndarray, colormap: str, window: Window) -> np.ndarray:
    """uint8 RGBA of ``array`` through ``colormap`` and ``window``; NaN pixels transparent."""
    rgb = np.asarray(apply_colormap(array, colormap, window))
    if rgb.ndim == 2:  # a gray result: expand to RGB
        rgb = np.repeat(rgb[..., None], 3, axis=2)
    if rgb.shape[-1] == 3:
        alpha = np.full(rgb.shape[:2] + (1,), 255, dtype=np.uint8)
        rgb = np.concatenate([rgb.astype(np.uint8, copy=False), alpha], axis=2)
    rgba = np.ascontiguousarray(rgb, dtype=np.uint8)
    invalid = ~np.isfinite(array)
    if invalid.any():
        rgba = rgba.copy()
        rgba[invalid, 3] = 0
    return rgba


def blend(base: np.ndarray, top: np.ndarray, opacity: float) -> np.ndarray:
    """``top`` over ``base`` (both uint8 RGBA) at ``opacity``; transparent top pixels show base."""
    a = np.clip(float(opacity), 0.0, 1.0) * (top[..., 3:4].astype(np.float32) / 255.0)
    rgb = base[..., :3].astype(np.float32) * (1.0 - a) + top[..., :3].astype(np.float32) * a
    out = np.empty_like(base)
    out[..., :3] = np.clip(np.rint(rgb), 0, 255).astype(np.uint8)
    out[..., 3] = np.maximum(base[..., 3], top[..., 3])
    return out


def make_layer(key: str, array: np.ndarray, window: Window, title: str | None = None) -> Layer:
    """A single-map layer with the map's colormap."""
    info = MAPS[key]
    return Layer(key, array, info.colormap, window, colorize(array, info.colormap, window),
                 title or info.label, info.units)


def make_overlay(key: str, array: np.ndarray, window: Window, base: Layer | None, opacity: float) -> Layer:
    """The overlay panel: the map alone (``base`` None) or blended over ``base``'s pixels."""
    layer = make_layer(key, array, window)
    if base is None:
        return layer
    layer.rgba = blend(base.rgba, layer.rgba, opacity)
    layer.base_key = base.key
    layer.opacity = opacity
    layer.title = f"{MAPS[key].label} over {MAPS[base.key].label.lower()}"
    return layer
