"""The crop box every panel, export and file shares. Qt-free."""

from __future__ import annotations

import numpy as np

Box = tuple[int, int, int, int]  # rows r0:r1, columns c0:c1 (half-open)


def crop(array: np.ndarray, box: Box | None) -> np.ndarray:
    """Rows ``box[0]:box[1]``, columns ``box[2]:box[3]`` of a 2-D map or an (H, W, C) image.

    The whole array when ``box`` is None.
    """
    if box is None:
        return array
    r0, r1, c0, c1 = box
    return array[r0:r1, c0:c1]


def clip_box(box: tuple[float, float, float, float], shape: tuple[int, int]) -> Box:
    """``box`` rounded to whole pixels, ordered, inside ``shape`` and at least one pixel large."""
    h, w = shape
    r0, r1, c0, c1 = (int(round(v)) for v in box)
    r0, r1 = sorted((min(max(r0, 0), h), min(max(r1, 0), h)))
    c0, c1 = sorted((min(max(c0, 0), w), min(max(c1, 0), w)))
    return r0, max(r1, r0 + 1), c0, max(c1, c0 + 1)
