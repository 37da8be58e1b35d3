"""Small in-plane pose changes (rotation, zoom, shift) applied alike to a phantom's input and target.

The clinical rendering chain (:mod:`dfviewer.imaging.clinical_rendering`) never moves pixels; a
caller that wants framing variety draws a :class:`Pose` and applies it to both images.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

__all__ = ["Pose", "apply_pose", "random_pose"]


@dataclass(frozen=True)
class Pose:
    """A small in-plane pose change about the image centre: rotation (degrees, counter-clockwise
    as displayed), isotropic zoom (> 1 enlarges) and shift (fractions of the width / height)."""

    angle_deg: float = 0.0
    zoom: float = 1.0
    shift_x: float = 0.0
    shift_y: float = 0.0

    @property
    def is_identity(self) -> bool:
        return self.angle_deg == 0 and self.zoom == 1 and self.shift_x == 0 and self.shift_y == 0


def random_pose(rng: np.random.Generator, max_rotation_deg: float = 5.0, max_zoom: float = 0.12,
                max_shift: float = 0.05) -> Pose:
    """Uniform rotation in ±max_rotation_deg, zoom in 1 ± max_zoom, shifts in ±max_shift."""
    if max_rotation_deg < 0 or not 0 <= max_zoom < 1 or max_shift < 0:
        raise ValueError("Pose limits must be non-negative and the zoom limit below 1.")
    angle, zoom, sx, sy = rng.uniform(-1.0, 1.0, 4)
    return Pose(angle_deg=float(angle * max_rotation_deg), zoom=float(1.0 + zoom * max_zoom),
                shift_x=float(sx * max_shift), shift_y=float(sy * max_shift))


def apply_pose(image: np.ndarray, pose: Pose, order: int = 1) -> np.ndarray:
    """Apply ``pose`` to a 2-D image (or each plane of a ``(..., H, W)`` stack); same shape, float32.

    Rotation and zoom are about the image centre, edges are replicated (``mode="nearest"``); the
    identity pose returns an exact copy. Use the same pose for input and target to keep them aligned.
    """
    arr = np.asarray(image)
    if arr.ndim < 2:
        raise ValueError(f"Expected an image with at least 2 dimensions, got shape {arr.shape}.")
    if pose.zoom <= 0:
        raise ValueError(f"The pose zoom must be positive, got {pose.zoom}.")
    if pose.is_identity:
        return arr.astype(np.float32, copy=True)
    if arr.ndim > 2:
        flat = arr.reshape((-1,) + arr.shape[-2:])
        return np.stack([apply_pose(p, pose, order) for p in flat]).reshape(arr.shape)
    h, w = arr.shape
    centre = np.array([(h - 1) / 2.0, (w - 1) / 2.0])
    t = np.deg2rad(pose.angle_deg)
    # output (row, col) -> input: undo shift, then inverse rotation and zoom about the centre
    # (rows point down, so a counter-clockwise display rotation uses this sign convention)
    inv = np.array([[np.cos(t), np.sin(t)], [-np.sin(t), np.cos(t)]]) / pose.zoom
    shift = np.array([pose.shift_y * h, pose.shift_x * w])
    offset = centre - inv @ (centre + shift)
    out = ndimage.affine_transform(arr.astype(np.float32, copy=False), inv, offset=offset, order=order,
                                   mode="nearest", output=np.float32)
    if not np.isfinite(out).all():  # defensive: interpolation of finite pixels gives finite pixels
        out = np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0)
    return out
