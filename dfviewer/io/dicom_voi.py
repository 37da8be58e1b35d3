"""The VOI windows a DICOM file declares (Window Center/Width or a VOI LUT Sequence), as linear windows."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from dfviewer.io.dicom_attributes import as_list


def file_windows(view, path: Path, warn: list[str]) -> tuple[list[tuple[str, float, float]], str]:
    """The file's VOI windows as (name, centre, width) in modality units, and the VOI kind used.

    LINEAR windows are converted exactly to the plain linear ramp used here (PS3.3 C.11.2.1.2:
    centre - 0.5, width - 1); SIGMOID is approximated by its centre and width; a VOI LUT
    Sequence becomes the input range over which its output rises.
    """
    presets: list[tuple[str, float, float]] = []
    function = str(view.get("VOILUTFunction", "LINEAR") or "LINEAR").upper().strip()
    centres = as_list(view.get("WindowCenter"))
    widths = as_list(view.get("WindowWidth"))
    names = as_list(view.get("WindowCenterWidthExplanation"))
    kind = ""
    for i, (c, w) in enumerate(zip(centres, widths)):
        try:
            c, w = float(c), float(w)
        except (TypeError, ValueError):
            continue
        if not (np.isfinite(c) and np.isfinite(w)) or w <= 0:
            continue
        if function == "LINEAR":
            if w < 1:
                continue
            c, w = c - 0.5, max(w - 1.0, 1e-6)
        name = str(names[i]).strip() if i < len(names) and str(names[i]).strip() else f"Window {i + 1}"
        presets.append((name, c, w))
    if presets:
        kind = function
        if function == "SIGMOID":
            warn.append("The file's VOI LUT Function is SIGMOID; it is shown with a linear window of the same centre and width.")
        elif function not in ("LINEAR", "LINEAR_EXACT"):
            warn.append(f"The file's VOI LUT Function {function} is unknown; its windows are used as linear.")
    for i, item in enumerate(view.get("VOILUTSequence") or []):
        window = _lut_window(item, view)
        if window is None:
            continue
        explanation = str(item.get("LUTExplanation", "") or "").strip() or f"VOI LUT {i + 1}"
        presets.append((explanation, *window))
        kind = kind or "VOI LUT"
    if view.get("VOILUTSequence") and kind == "VOI LUT":
        warn.append("The file's VOI LUT Sequence is shown as the linear window over the range it spans.")
    return presets, kind


def _lut_window(item, view) -> tuple[float, float] | None:
    """(centre, width) of the input range over which a VOI LUT rises from its minimum to its maximum."""
    from pydicom.pixels import apply_voi

    descriptor = as_list(item.get("LUTDescriptor"))
    if len(descriptor) < 3 or item.get("LUTData") is None:
        return None
    entries = int(descriptor[0]) or 65536
    first = int(descriptor[1])
    try:
        probe = view.copy()
        probe.VOILUTSequence = [item]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            lut = np.asarray(apply_voi(np.arange(first, first + entries, dtype=np.int64), probe, 0), dtype=np.float64)
    except Exception:  # noqa: BLE001 - a broken LUT simply gives no preset
        return None
    if lut.size < 2 or lut.max() == lut.min():
        return None
    low_idx = int(np.nonzero(lut == lut.min())[0][-1]) if lut[0] == lut.min() else 0
    high_idx = int(np.nonzero(lut == lut.max())[0][0]) if lut[-1] == lut.max() else entries - 1
    lo, hi = sorted((first + low_idx, first + high_idx))
    if hi <= lo:
        hi = lo + 1
    return (lo + hi) / 2.0, float(hi - lo)


__all__ = ["file_windows"]
