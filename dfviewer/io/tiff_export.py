"""Float32 TIFF export of any map (values untouched, for analysis in other tools)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dfviewer.atomic import WriteError, atomic_path
from dfviewer.io.errors import RadiographError


def tiff_description(map_name: str = "", stage: int | str | None = None, units: str = "",
                     model_name: str = "", extra: str = "") -> str:
    """The standard description: ``dfviewer; map NAME; stage N; units U; model M; extra``."""
    parts = ["dfviewer"]
    if map_name:
        parts.append(f"map {map_name}")
    if stage not in (None, ""):
        parts.append(f"stage {stage}")
    if units:
        parts.append(f"units {units}")
    if model_name:
        parts.append(f"model {model_name}")
    if extra:
        parts.append(extra)
    return "; ".join(parts)


def write_tiff(path: str | Path, array: np.ndarray, description: str = "", *, map_name: str = "",
               stage: int | str | None = None, units: str = "", model_name: str = "") -> Path:
    """Write ``array`` (2-D, or 3-D as pages) as float32 TIFF atomically, with an ImageDescription.

    ``description`` is written as given; when it is empty, one is composed from ``map_name``,
    ``stage``, ``units`` and ``model_name`` (see :func:`tiff_description`). Returns the path.
    """
    import tifffile

    path = Path(path)
    data = np.asarray(array, dtype=np.float32)
    if data.ndim not in (2, 3) or data.size == 0:
        raise RadiographError(path, f"a TIFF needs a 2-D image, got shape {data.shape}", action="write")
    text = description or tiff_description(map_name, stage, units, model_name)
    try:
        text.encode("ascii")
    except UnicodeEncodeError:
        text = text.encode("ascii", "replace").decode("ascii")
    try:
        with atomic_path(path) as tmp:
            tifffile.imwrite(tmp, np.ascontiguousarray(data), description=text, metadata=None,
                             photometric="minisblack")
    except WriteError:
        raise
    except OSError as exc:  # from the encoder itself, not the file system write
        raise RadiographError(path, f"it could not be encoded ({exc.strerror or exc})", action="write") from None
    return path
