"""The working-size geometry shared by training data and inference.

An image is resampled so that its longer side equals the working size (aspect kept), then
padded at the bottom and right: to a square for training batches, to the network's multiple
for inference. Padding reflects where the image is large enough and replicates otherwise.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from dfviewer.core.resampling import pad_array, resample_array

if TYPE_CHECKING:  # the tensor functions below are for training; torch is imported where they run
    import torch


def working_shape(shape: tuple[int, int], working_size: int) -> tuple[int, int]:
    """``shape`` scaled so its longer side is ``working_size`` (aspect kept, sides >= 1)."""
    h, w = shape
    scale = working_size / max(h, w)
    return max(1, round(h * scale)), max(1, round(w * scale))


def resample(t: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resampling of (N, C, H, W) to ``size``; antialiased when shrinking (torch; training)."""
    import torch.nn.functional as F

    if tuple(t.shape[-2:]) == tuple(size):
        return t
    shrinking = size[0] < t.shape[-2] or size[1] < t.shape[-1]
    dtype = t.dtype
    out = F.interpolate(t.float(), size=size, mode="bilinear", align_corners=False, antialias=shrinking)
    return out.to(dtype)


def resample_map(array: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A float32 2-D map resampled to ``shape`` as :func:`resample` does (may share ``array``'s memory)."""
    return resample_array(array, shape)


def to_working_size(image: np.ndarray, working_size: int) -> np.ndarray:
    """A 2-D image resampled so its longer side is ``working_size`` (a float32 array of its own)."""
    array = np.ascontiguousarray(image, dtype=np.float32)
    out = resample_array(array, working_shape(array.shape, working_size))
    return array.copy() if out is array else out


def pad_bottom_right(t: torch.Tensor, pad_h: int, pad_w: int) -> torch.Tensor:
    """Pad (N, C, H, W) by ``pad_h`` rows at the bottom and ``pad_w`` columns at the right (torch; training)."""
    import torch.nn.functional as F

    h, w = t.shape[-2:]
    if pad_h == 0 and pad_w == 0:
        return t
    # reflect needs the pad to be smaller than the side; very thin images replicate instead
    mode = "reflect" if pad_h < h and pad_w < w else "replicate"
    return F.pad(t, (0, pad_w, 0, pad_h), mode=mode)


def pad_to_multiple(array: np.ndarray, multiple: int) -> np.ndarray:
    """Pad a 2-D array at the bottom and right to a multiple of ``multiple`` (as :func:`pad_bottom_right`)."""
    h, w = array.shape[-2:]
    return pad_array(array, (-h) % multiple, (-w) % multiple)


def pad_square(t: torch.Tensor, size: int) -> torch.Tensor:
    """Pad (C, h, w) at the bottom and right to (C, size, size)."""
    h, w = t.shape[-2:]
    return pad_bottom_right(t[None], size - h, size - w)[0]
