"""Which files in a folder are radiographs to open, and which are their companions. Qt-free.

A case may have companions beside it: a real dark-field (``<case>_darkfield.tiff``), a lung
mask (``<case>_lung.png``), and the files the viewer and ``dfviewer predict`` write
(``<case>_stage1_epistemic.png``, ``<case>_attenuation.png``, ...). Folder listings leave them
out; a file named explicitly is always opened.
"""

from __future__ import annotations

import re
from pathlib import Path

from dfviewer.io.reader import RADIOGRAPH_SUFFIXES

TRUTH_MARKERS = ("_darkfield", "_dark-field", "_df")
MASK_MARKERS = ("_lung", "_lungs", "_mask")
TRUTH_SUFFIXES = (".tiff", ".tif", ".npy", ".png", ".dcm")

#: the map names in exported file names: every ``MapInfo.file_name`` of :data:`dfviewer.display.maps.MAPS`
#: (a test keeps the two equal; io sits below display) and "mean" (predict before 0.x)
EXPORT_MAP_NAMES = ("aleatoric", "alpha", "attenuation", "beta", "darkfield", "epistemic", "error", "mean",
                    "total", "truth")
#: a stage map (``_stage2_total``, ``_stage1_alpha_over_darkfield``) or a single map export
_EXPORT = re.compile(r"_stage\d+_(" + "|".join(EXPORT_MAP_NAMES) + r")(_over_\w+)?$|_(attenuation|truth)$")


def is_truth_file(path: Path) -> bool:
    """A real dark-field stored beside its radiograph (``<case>_darkfield.tiff``)."""
    return path.stem.lower().endswith(TRUTH_MARKERS)


def is_export_file(path: Path) -> bool:
    """A file the viewer or ``dfviewer predict`` wrote (``<case>_stage1_epistemic.png``)."""
    return _EXPORT.search(path.stem.lower()) is not None


def is_companion_file(path: Path) -> bool:
    """A real dark-field, a mask or an export stored beside a case: not a radiograph to list."""
    stem = path.stem.lower()
    return stem.endswith(TRUTH_MARKERS + MASK_MARKERS) or is_export_file(path)


def has_radiograph_suffix(path: Path) -> bool:
    return path.suffix.lower() in RADIOGRAPH_SUFFIXES


def list_radiographs(folder: str | Path) -> list[Path]:
    """Radiograph files in ``folder`` (not recursive), sorted, without companions and hidden files.

    Files without a suffix are included (DICOM files often have none).
    """
    return [path for path in sorted(Path(folder).iterdir())
            if path.is_file() and not path.name.startswith(".") and has_radiograph_suffix(path)
            and not is_companion_file(path)]


def find_truth(path: str | Path) -> Path | None:
    """A real dark-field beside the radiograph: ``<stem>_darkfield.tiff`` (or .tif, .npy, .png, .dcm)."""
    path = Path(path)
    if is_truth_file(path):
        return None
    for marker in TRUTH_MARKERS:
        for suffix in TRUTH_SUFFIXES:
            candidate = path.with_name(f"{path.stem}{marker}{suffix}")
            if candidate.is_file():
                return candidate
    return None
