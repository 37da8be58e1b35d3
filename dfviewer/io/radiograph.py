"""The :class:`Radiograph` every reader returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dfviewer.imaging.voi_windows import percentile_window


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
    ``metadata``: descriptive strings by key (``patient_name``, ``modality``, ``photometric``, ...); absent keys are left out.
    ``warnings``: plain sentences about anything the reader had to guess or convert.
    ``dataset``: for DICOM files, the validated pydicom Dataset the pipeline read (image attributes,
    readable descriptive tags, pixel data), else None. ``file_dataset``: the file's own data set as
    parsed, every tag, unvalidated (for browsing tags: touch each element under a guard).
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
    file_dataset: Any = None
    frame: int = 0
    n_frames: int = 1

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.pixels.shape)

#: the readers' default window: the 0.5-99.5 percentile window of the finite pixels
auto_window = percentile_window
