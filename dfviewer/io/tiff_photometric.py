"""TIFF photometric interpretations other than plain gray or RGB, turned into gray intensities.

tifffile returns what is stored: palette indices, C/M/Y/K ink amounts, white-is-zero samples.
Taking those as intensities gives a wrong picture with no error, so each is converted here:
a palette is applied (a gray one gives its intensities, a colour one luma with a warning), CMYK
becomes RGB, R = (1 - C)(1 - K) and so on, and then luma, and MinIsWhite is reflected for every
sample type without overflow.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dfviewer.io.errors import RadiographError

MINISWHITE, PALETTE, SEPARATED = 0, 3, 5


def _luma(red: np.ndarray, green: np.ndarray, blue: np.ndarray) -> np.ndarray:
    gray = np.multiply(red, np.float32(0.299), dtype=np.float32)
    gray += np.multiply(green, np.float32(0.587), dtype=np.float32)
    gray += np.multiply(blue, np.float32(0.114), dtype=np.float32)
    return gray


def palette_to_gray(path: Path, indices: np.ndarray, colormap: np.ndarray | None, warn: list[str]) -> np.ndarray:
    """Apply a TIFF colour map (3 x N, 16-bit) to palette indices: gray entries as they are, colour ones as luma."""
    if colormap is None:
        raise RadiographError(path, "it is a PALETTE TIFF without a colour map")
    colormap = np.asarray(colormap)
    if indices.ndim != 2 or colormap.ndim != 2 or colormap.shape[0] != 3 or not np.issubdtype(indices.dtype, np.integer):
        raise RadiographError(path, f"its palette image has shape {indices.shape}, not one index per pixel")
    if indices.size and (int(indices.min()) < 0 or int(indices.max()) >= colormap.shape[1]):
        raise RadiographError(path, f"its palette indices go beyond its colour map of {colormap.shape[1]} entries")
    red, green, blue = (colormap[i].astype(np.float32) for i in range(3))
    if np.array_equal(red, green) and np.array_equal(green, blue):
        table = red
    else:
        table = _luma(red, green, blue)
        warn.append("The image is in colour (a colour palette); it was converted to gray (luma).")
    return table[indices]


def cmyk_to_gray(path: Path, array: np.ndarray, bits: int, inkset: int, warn: list[str]) -> np.ndarray:
    """CMYK ink amounts (channels last or first) -> RGB -> luma, on the samples' own scale."""
    if inkset != 1:
        raise RadiographError(path, "its SEPARATED colour uses inks other than CMYK, which this viewer cannot convert")
    if array.ndim == 3 and array.shape[0] == 4 and array.shape[-1] != 4:
        array = np.moveaxis(array, 0, -1)
    if array.ndim != 3 or array.shape[-1] != 4:
        raise RadiographError(path, f"its CMYK image has shape {array.shape}, not four inks per pixel")
    if np.issubdtype(array.dtype, np.integer):
        top = float(2 ** min(max(bits, 1), array.dtype.itemsize * 8) - 1)
    elif np.issubdtype(array.dtype, np.floating):
        top = 1.0
    else:
        raise RadiographError(path, f"its CMYK samples are {array.dtype}, not numbers")
    white = 1.0 - np.asarray(array[..., 3], dtype=np.float32) / np.float32(top)
    red, green, blue = ((1.0 - np.asarray(array[..., i], dtype=np.float32) / np.float32(top)) * white for i in range(3))
    warn.append("The image is CMYK; it was converted to RGB, R = (1 - C)(1 - K) and so on, and then to gray (luma).")
    return _luma(red, green, blue) * np.float32(top)


def invert_min_is_white(pixels: np.ndarray, dtype: np.dtype, bits: int,
                        declared: tuple[float, float] | None) -> np.ndarray:
    """Reflect white-is-zero gray values so that larger means more attenuation.

    Unsigned integers up to 16 bits: ``(2**bits - 1) - x``; signed integers: ``-1 - x`` (the bitwise
    complement, so no value overflows); 32/64-bit unsigned integers and floats: ``(lo + hi) - x``
    over the declared SMin/SMaxSampleValue or, without them, over the data, so float32 keeps the
    detail that reflecting about 2**64 would round away. Computed in float64.
    """
    values = np.asarray(pixels, dtype=np.float64)
    if dtype.kind == "u" and dtype.itemsize <= 2:
        pivot = float(2 ** min(max(bits, 1), dtype.itemsize * 8) - 1)
    elif dtype.kind == "i":
        pivot = -1.0
    elif declared is not None and all(np.isfinite(declared)):
        pivot = float(declared[0]) + float(declared[1])
    else:
        finite = values[np.isfinite(values)]
        pivot = float(finite.min()) + float(finite.max()) if finite.size else 0.0
    return (pivot - values).astype(np.float32)
