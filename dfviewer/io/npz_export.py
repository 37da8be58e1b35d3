"""Compressed NPZ written one array at a time (the file ``np.savez_compressed`` writes, ``np.load`` reads)."""

from __future__ import annotations

import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from dfviewer.atomic import atomic_path


def write_npz(path: str | Path, arrays: Iterable[tuple[str, np.ndarray | Callable[[], np.ndarray]]]) -> Path:
    """Write ``(name, array or function making it)`` pairs as a compressed NPZ, atomically.

    Each array is made, written and let go before the next, so a caller handing functions holds
    one array at a time rather than all of them (``np.savez_compressed`` needs all at once).
    """
    path = Path(path)
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED,
                                                   allowZip64=True) as archive:
        for name, item in arrays:
            array = np.asanyarray(item() if callable(item) else item)
            with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, array, allow_pickle=False)
            del array
    return path
