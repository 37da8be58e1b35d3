"""The torch compute device: ``--device`` names (auto, cpu, cuda, cuda:N, mps) to a ``torch.device``.

Torch is imported inside the functions: :class:`DeviceError` is part of the torch-free inference path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dfviewer.core.results import DEVICE_HELP, device_choices
from dfviewer.errors import UserError

if TYPE_CHECKING:
    import torch


class DeviceError(UserError):
    """The requested compute device does not exist on this machine."""


def select_device(device: str | torch.device = "auto") -> torch.device:
    """``auto``: CUDA, then Apple MPS, then CPU; otherwise the named device, if present."""
    import torch

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
    import torch

    mps_ok = hasattr(torch.backends, "mps") and torch.backends.mps.is_available()
    return device_choices(torch.cuda.device_count() if torch.cuda.is_available() else 0, mps_ok)


__all__ = ["DeviceError", "available_devices", "select_device"]
