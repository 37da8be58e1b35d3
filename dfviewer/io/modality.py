"""The DICOM Modality LUT (Rescale Slope/Intercept or a Modality LUT Sequence), computed without wrap-around.

Stored values are widened before any arithmetic: the LUT index ``stored - first mapped`` is taken
in int64 (in the stored integer type, signed values wrap and half the range lands on entry 0), and
a rescale is computed in float64 and refused when the float32 pixels it gives are not finite or
collapse a varying image to one value.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dfviewer.io.dicom_attributes import as_list
from dfviewer.io.errors import RadiographError

_FLOAT32_MAX = float(np.finfo(np.float32).max)


def lut_table(view) -> tuple[np.ndarray, int]:
    """(entries as int64, first mapped stored value) of the data set's first Modality LUT."""
    item = view.ModalityLUTSequence[0]
    count, first, depth = (int(v) for v in as_list(item.LUTDescriptor)[:3])
    count = count or 65536
    if int(view.get("PixelRepresentation", 0) or 0) == 1 and first > 32767:
        first -= 65536  # the descriptor holds a signed first value as its 16-bit two's complement
    data = item.LUTData
    if isinstance(data, (bytes, bytearray)):
        try:
            little = bool(view.original_encoding[1] is not False)
        except (AttributeError, TypeError):
            little = True
        table = np.frombuffer(bytes(data), dtype="<u2" if little else ">u2")[:count].astype(np.int64)
    else:
        table = np.asarray(as_list(data)[:count], dtype=np.int64)
    if 1 <= depth < 16:
        table &= (1 << depth) - 1
    return table, first


def apply_modality(path: Path, view, stored: np.ndarray) -> np.ndarray:
    """Modality values (float64) of a frame's gray stored values."""
    if view.get("ModalityLUTSequence"):
        if not np.issubdtype(stored.dtype, np.integer):
            raise RadiographError(path, "it applies a Modality LUT Sequence to floating-point pixel data")
        table, first = lut_table(view)
        index = np.clip(stored.astype(np.int64) - first, 0, table.size - 1)
        return table[index].astype(np.float64)
    values = stored.astype(np.float64)
    if "RescaleSlope" in view and "RescaleIntercept" in view:
        slope, intercept = float(view.RescaleSlope), float(view.RescaleIntercept)
        with np.errstate(over="ignore", invalid="ignore"):
            values *= slope
            values += intercept
        check_rescaled(path, view, stored, values)
    return values


def check_rescaled(path: Path, view, stored: np.ndarray, values: np.ndarray) -> None:
    """Refuse modality values a rescale made non-finite (in float32) or constant where the stored ones vary."""
    if "RescaleSlope" not in view or "RescaleIntercept" not in view or view.get("ModalityLUTSequence"):
        return
    rescale = f"Rescale Slope {float(view.RescaleSlope):g} and Intercept {float(view.RescaleIntercept):g}"
    kept = np.isfinite(stored)
    with np.errstate(invalid="ignore"):
        bad = ~(np.abs(values) <= _FLOAT32_MAX) & kept
    if bad.any():
        raise RadiographError(path, f"its {rescale} give pixel values beyond the range of numbers it can hold")
    if not kept.any():
        return
    if not kept.all():
        stored, values = stored[kept], values[kept]
    if stored.min() != stored.max() and np.float32(values.min()) == np.float32(values.max()):
        raise RadiographError(path, f"its {rescale} make every pixel the same value")
