"""Pixel spacing of a DICOM image in mm, and whether it can be trusted as a measurement."""

from __future__ import annotations

import numpy as np

from dfviewer.io.dicom_attributes import as_list
from dfviewer.io.limits import PLAUSIBLE_SPACING_MM


def pixel_spacing(ds, view, warn: list[str] | None = None) -> tuple[tuple[float, float] | None, bool, str]:
    """(row, col) spacing in mm, whether it is known, and where it came from.

    A spacing outside :data:`PLAUSIBLE_SPACING_MM` (after the magnification correction) is
    damage, not a measurement: it is skipped with a warning, so the spacing may end up unknown.
    """
    candidates = (
        ("PixelSpacing", view.get("PixelSpacing")),
        ("ImagerPixelSpacing", ds.get("ImagerPixelSpacing")),
        ("NominalScannedPixelSpacing", ds.get("NominalScannedPixelSpacing")),
    )
    for name, value in candidates:
        values = as_list(value)
        if len(values) != 2:
            continue
        try:
            row, col = float(values[0]), float(values[1])
        except (TypeError, ValueError):
            continue
        if not (row > 0 and col > 0 and np.isfinite(row) and np.isfinite(col)):
            continue
        source = name
        if name == "ImagerPixelSpacing":
            try:
                magnification = float(ds.get("EstimatedRadiographicMagnificationFactor", 1) or 1)
            except (TypeError, ValueError):
                magnification = 1.0
            if magnification > 0 and magnification != 1.0:
                row, col, source = row / magnification, col / magnification, "ImagerPixelSpacing / magnification"
        low, high = PLAUSIBLE_SPACING_MM
        if not (low <= row <= high and low <= col <= high):
            if warn is not None:
                warn.append(f"The file's {source} ({row:.3g} x {col:.3g} mm) is outside {low:g}-{high:g} mm; "
                            "it was ignored.")
            continue
        return (row, col), True, source
    return None, False, ""
