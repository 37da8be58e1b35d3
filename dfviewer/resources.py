"""Locate the bundled resources (icons, sample cases, demo models).

The same lookup works from a source checkout (``<repo>/resources``), an installed
wheel (``dfviewer/resources``, copied there at build time) and a PyInstaller bundle
(``sys._MEIPASS/dfviewer/resources``).
"""

from __future__ import annotations

import sys
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def resources_dir() -> Path:
    """Return the folder that holds ``icons/``, ``samples/`` and ``models/``."""
    candidates = []
    frozen_root = getattr(sys, "_MEIPASS", None)
    if frozen_root:
        candidates.append(Path(frozen_root) / "dfviewer" / "resources")
    candidates.append(_PACKAGE_DIR / "resources")
    candidates.append(_PACKAGE_DIR.parent / "resources")
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(
        "dfviewer's resources folder is missing; looked in: " + ", ".join(map(str, candidates))
    )


def resource_path(*parts: str) -> Path:
    """Path of a bundled resource, e.g. ``resource_path("models", "demo")``."""
    return resources_dir().joinpath(*parts)
