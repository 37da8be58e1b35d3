"""Before the network: a checked input image, and the image at the working size.

:func:`prepare_image` normalises an image as the checkpoint says, resamples it so its longer side
equals the working size and pads it to the network's multiple (numpy only: it runs in the
torch-free inference path and in ``generate``'s worker processes). The torch device helpers live
in :mod:`dfviewer.core.devices`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from dfviewer.core.config import ModelConfig
from dfviewer.core.geometry import pad_to_multiple, working_shape
from dfviewer.core.normalize import normalize_input
from dfviewer.core.resampling import resample_array
from dfviewer.core.sizes import check_working_size
from dfviewer.errors import UserError


class InputImageError(UserError):
    """The image handed to the predictor is not a usable 2-D radiograph."""


def check_image(image: Any) -> np.ndarray:
    """The image as a float32 2-D array, or :class:`InputImageError` saying what is wrong."""
    try:
        array = np.asarray(image)
    except Exception:  # noqa: BLE001 - anything numpy cannot turn into an array
        raise InputImageError("the image could not be read as an array of numbers") from None
    if array.ndim != 2:
        raise InputImageError(
            f"the image must be a 2-D grey-scale array, but it has shape {array.shape}"
        )
    if array.size == 0:
        raise InputImageError("the image is empty (it has no pixels)")
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool) or np.iscomplexobj(array):
        raise InputImageError(f"the image must hold real numbers, not {array.dtype}")
    array = array.astype(np.float32, copy=False)
    if not np.isfinite(array).all():
        raise InputImageError("the image contains NaN or infinite pixel values")
    return array


@dataclass
class PreparedImage:
    """An image ready for the network: normalised, resampled to the working size, padded."""

    x: np.ndarray  # (1, C, H_pad, W_pad) float32 in the network's range, C-contiguous
    shape: tuple[int, int]  # the input image's shape
    work: tuple[int, int]  # the unpadded working shape


def prepare_image(image: np.ndarray, config: ModelConfig, working_size: int | None = None) -> PreparedImage:
    """Normalise, resample and pad one image (numpy only: fine in a worker process, no torch needed)."""
    array = check_image(image)
    size = config.working_size if working_size is None else check_working_size(working_size)
    work = working_shape(array.shape, size)
    resampled = resample_array(normalize_input(array, config.normalization), work)
    padded = pad_to_multiple(resampled, config.multiple)  # a new array, whatever was done before
    if config.in_channels == 1:
        x = np.ascontiguousarray(padded)[None, None]
    else:
        x = np.empty((1, config.in_channels, *padded.shape), np.float32)
        x[:] = padded  # every channel the same image
    return PreparedImage(x, (int(array.shape[0]), int(array.shape[1])), work)


__all__ = ["InputImageError", "PreparedImage", "check_image", "prepare_image"]
