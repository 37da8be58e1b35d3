"""The :class:`Radiograph` every reader returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

#: metadata keys a viewer shows, in display order
METADATA_KEYS = (
    "patient_name", "patient_id", "patient_birth_date", "patient_sex",
    "study_description", "study_date", "study_instance_uid", "accession_number",
    "series_description", "series_number", "series_instance_uid", "sop_instance_uid",
    "modality", "view_position", "body_part", "manufacturer", "model", "date",
    "photometric", "transfer_syntax", "bits_stored", "frames", "format",
)


@dataclass
class Radiograph:
    """One 2-D radiograph as the model and the viewer see it.

    ``pixels``: float32, 2-D, oriented so that larger values mean more attenuation (bone and
    heart brighter than lung) whatever the file's photometric interpretation. For DICOM these are
    the Modality-LUT output (e.g. rescaled values), negated for MONOCHROME1 so the orientation
    holds; the VOI (window or VOI LUT) is *not* baked in, it only gives the default ``window``.
    ``window``: (centre, width) in the units of ``pixels``; pixels map linearly from
    ``centre - width/2`` (darkest) to ``centre + width/2`` (brightest).
    ``window_presets``: every window offered by the file as (name, centre, width), default first.
    ``pixel_spacing``: (row, col) in mm, or None; ``spacing_known`` is False when it is a guess or absent.
    ``metadata``: strings a viewer shows (see :data:`METADATA_KEYS`); absent keys are left out.
    ``warnings``: plain sentences about anything the reader had to guess or convert.
    ``dataset``: the pydicom Dataset for DICOM files (pixel data still attached), else None.
    """

    pixels: np.ndarray
    window: tuple[float, float]
    window_presets: list[tuple[str, float, float]] = field(default_factory=list)
    pixel_spacing: tuple[float, float] | None = None
    spacing_known: bool = False
    metadata: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    source: Path | None = None
    dataset: Any = None
    frame: int = 0
    n_frames: int = 1

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.pixels.shape)  # type: ignore[return-value]

    @property
    def is_dicom(self) -> bool:
        return self.dataset is not None


def auto_window(pixels: np.ndarray, low: float = 0.5, high: float = 99.5) -> tuple[float, float]:
    """(centre, width) spanning the ``low``-``high`` percentiles of the finite pixels; never zero width."""
    flat = np.asarray(pixels, dtype=np.float32).ravel()
    step = max(1, flat.size // 400_000)
    flat = flat[::step]
    flat = flat[np.isfinite(flat)]
    if flat.size == 0:
        return 0.5, 1.0
    lo, hi = (float(v) for v in np.percentile(flat, [low, high]))
    if not hi > lo:
        lo, hi = float(flat.min()), float(flat.max())
    width = hi - lo
    if not width > 0:
        width = max(abs(hi), 1.0) * 1e-3
    return (lo + hi) / 2.0, width
