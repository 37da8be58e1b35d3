"""Before the network: the compute device, a checked input image, and the image at the working size.

:func:`prepare_image` normalises an image as the checkpoint says, resamples it so its longer side
equals the working size and pads it to the network's multiple (torch and numpy only: it runs in
``generate``'s worker processes as well).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from dfviewer.core.config import ModelConfig
from dfviewer.core.geometry import pad_to_multiple, resample, working_shape
from dfviewer.core.normalize import normalize_input
from dfviewer.core.results import DEVICE_HELP, device_choices
from dfviewer.core.sizes import check_working_size
from dfviewer.errors import UserError


class InputImageError(UserError):
    """The image handed to the predictor is not a usable 2-D radiograph."""



class DeviceError(UserError):
    """The requested compute device does not exist on this machine."""



def select_device(device: str | torch.device = "auto") -> torch.device:
    """``auto``: CUDA, then Apple MPS, then CPU; otherwise the named device, if present."""
    if isinstance(device, torch.device):
        return device
    name = str(device).lower()
    mps_ok = hasattr(torch.backends, "mps") and torch.backends.mps.is_available()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps") if mps_ok else torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise DeviceError("device cuda was requested but this machine has no usable CUDA GPU")
    if name == "mps" and not mps_ok:
        raise DeviceError("device mps was requested but Apple's Metal backend is not available here")
    try:
        return torch.device(name)
    except RuntimeError:
        raise DeviceError(f"unknown device {device!r}; use {DEVICE_HELP}") from None


def available_devices() -> list[str]:
    """The devices this machine offers: auto, cpu, each CUDA GPU (``cuda:N``) and Apple MPS when present."""
    mps_ok = hasattr(torch.backends, "mps") and torch.backends.mps.is_available()
    return device_choices(torch.cuda.device_count() if torch.cuda.is_available() else 0, mps_ok)


# --- pre- and post-processing --------------------------------------------------------


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

    x: torch.Tensor  # (1, C, H_pad, W_pad) network range (CPU from prepare_image, the device in a Predictor)
    shape: tuple[int, int]  # the input image's shape
    work: tuple[int, int]  # the unpadded working shape



def prepare_image(image: np.ndarray, config: ModelConfig, working_size: int | None = None) -> PreparedImage:
    """Normalise, resample and pad one image on the CPU (torch + numpy only: fine in a worker process)."""
    array = check_image(image)
    size = config.working_size if working_size is None else check_working_size(working_size)
    normalized = normalize_input(array, config.normalization)
    t = torch.from_numpy(normalized)[None, None]
    work = working_shape(array.shape, size)
    with torch.inference_mode():
        t = resample(t, work)
        t = pad_to_multiple(t, config.multiple)
        if config.in_channels > 1:
            t = t.expand(-1, config.in_channels, -1, -1)
        t = t.contiguous()
    return PreparedImage(t, (int(array.shape[0]), int(array.shape[1])), work)



__all__ = ["DeviceError", "InputImageError", "PreparedImage", "available_devices", "check_image", "prepare_image",
           "select_device"]
