"""The torch ``Dataset`` of paired images, at the working resolution, with augmentation.

:class:`PairedDataset` serves the pairs :func:`~dfviewer.core.dataset_check.check_dataset`
found: each image is normalised at its own resolution with
:func:`dfviewer.core.normalize.normalize_input` (as the predictor does), resized with the
predictor's resampling so that its longer side equals the working size (aspect kept), and
padded at the bottom and right to a ``working_size x working_size`` square
(:mod:`dfviewer.core.geometry`, the rule the predictor pads by). Decoded images are cached in
memory. Augmentations (small rotation, left-right flip, contrast jitter) are drawn from a
generator seeded by (seed, epoch, index), so a run is reproducible and resumable whatever the
process layout.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from dfviewer.core.config import Normalization
from dfviewer.core.dataset_check import Pair, read_pixels
from dfviewer.core.geometry import pad_square, to_working_size
from dfviewer.core.normalize import normalize_input, normalize_target

# --- the torch dataset -------------------------------------------------------------------


@dataclass(frozen=True)
class Augment:
    """Augmentation settings (from :class:`~dfviewer.core.config.TrainConfig`).

    Flip, rotation, zoom and shift move input and target together, and so does ``crop``, a field of
    view variation: each side is cut to a random ``1 - crop`` .. 1 of its length at a random place
    and the cut is resampled to the full shape (as another collimation frames the same chest); ``render`` is the
    probability that the input alone goes through a random clinical rendering
    (:func:`dfviewer.imaging.clinical_rendering.render`: windows, tone curves, vendor enhancement, bit
    depth, JPEG, markers), which leaves it pixel-aligned with the unchanged target.
    """

    rotation_deg: float = 0.0
    flip: bool = False
    contrast: float = 0.0
    zoom: float = 0.0
    shift: float = 0.0
    render: float = 0.0
    crop: float = 0.0

    @property
    def active(self) -> bool:
        return (self.rotation_deg > 0 or self.flip or self.contrast > 0 or self.zoom > 0 or self.shift > 0
                or self.render > 0 or self.crop > 0)

    @property
    def geometric(self) -> bool:
        return self.rotation_deg > 0 or self.zoom > 0 or self.shift > 0


class PairedDataset(torch.utils.data.Dataset):
    """Pairs at ``working_size x working_size``: ``(x, y, valid)`` float32 tensors.

    ``x``: normalised input (1, S, S); ``y``: normalised target (1, S, S); ``valid``: the
    unpadded (h, w) as an int64 tensor. Set :attr:`epoch` before each epoch so the
    augmentation draws change per epoch (and repeat exactly on a resumed run). With
    ``augment.render`` the raw inputs are kept and normalised after rendering, per sample.
    """

    def __init__(
        self,
        pairs: list[Pair],
        norm: Normalization,
        working_size: int,
        augment: Augment | None = None,
        seed: int = 0,
        cache: dict[Path, np.ndarray] | None = None,
    ) -> None:
        self.pairs = list(pairs)
        self.norm = norm
        self.working_size = int(working_size)
        self.augment = augment or Augment()
        self.seed = int(seed)
        self.epoch = 0
        self._raw = self.augment.render > 0  # keep raw inputs: normalised after rendering, per sample
        self._inputs: list[np.ndarray] = []  # normalised, or raw when rendering
        self._targets: list[np.ndarray] = []  # in target units, at working size
        for pair in self.pairs:
            a = cache.pop(pair.attenuation, None) if cache is not None else None
            d = cache.pop(pair.darkfield, None) if cache is not None else None
            a = read_pixels(pair.attenuation) if a is None else a
            d = read_pixels(pair.darkfield) if d is None else d
            a = a if self._raw else normalize_input(a, norm)
            self._inputs.append(to_working_size(a, self.working_size))
            self._targets.append(to_working_size(d, self.working_size))

    def __len__(self) -> int:
        return len(self.pairs)

    def target_percentile(self, q: float = 99.5) -> float:
        """The ``q``-th percentile of all target pixels (for the target scale)."""
        if not self._targets:
            return 1.0
        return float(np.percentile(np.concatenate([t.ravel() for t in self._targets]), q))

    def set_normalization(self, norm: Normalization) -> None:
        """Use a new target normalisation (the input one must not change)."""
        self.norm = norm

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = torch.from_numpy(self._inputs[index])[None]
        y = torch.from_numpy(normalize_target(self._targets[index], self.norm))[None]
        h, w = x.shape[-2:]
        if self.augment.active:
            x, y = self._augment(x, y, index)
        if self._raw:
            x = self._render(x, index)
        x = pad_square(x, self.working_size)
        y = pad_square(y, self.working_size)
        return x.contiguous(), y.contiguous(), torch.tensor([h, w], dtype=torch.int64)

    def _augment(self, x: torch.Tensor, y: torch.Tensor, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        g = torch.Generator().manual_seed((self.seed * 1_000_003 + self.epoch * 10_007 + index) % (2**63))
        u = torch.rand(8, generator=g).tolist()
        aug = self.augment
        if aug.flip and u[0] < 0.5:
            x, y = x.flip(-1), y.flip(-1)
        if aug.geometric:
            angle = math.radians((2 * u[1] - 1) * aug.rotation_deg)
            zoom = 1 + (2 * u[4] - 1) * aug.zoom
            shift = ((2 * u[5] - 1) * aug.shift, (2 * u[6] - 1) * aug.shift)
            x, y = _affine(torch.stack([x, y]), angle, zoom, shift).unbind(0)
        if aug.crop > 0:
            x, y = _crop_and_resample(torch.stack([x, y]), torch.rand(4, generator=g).tolist(), aug.crop).unbind(0)
        if aug.contrast > 0 and not self._raw:
            gain = 1 + (2 * u[2] - 1) * aug.contrast
            shift_c = (2 * u[3] - 1) * aug.contrast * 0.5
            x = (x - 0.5) * gain + 0.5 + shift_c
        return x, y

    def _render(self, x: torch.Tensor, index: int) -> torch.Tensor:
        """The raw input, clinically rendered with probability ``augment.render``, then normalised."""
        image = x[0].numpy().copy()
        rng = np.random.default_rng([self.seed, self.epoch, index, 7])
        if rng.random() < self.augment.render:
            from dfviewer.imaging.clinical_rendering import render

            image = render(image, rng)
        return torch.from_numpy(normalize_input(image, self.norm))[None]


def _crop_and_resample(t: torch.Tensor, u: list[float], crop: float) -> torch.Tensor:
    """Cut (N, C, H, W) to ``1 - crop * u[0]`` of its height and ``1 - crop * u[1]`` of its width at the
    place ``u[2:4]`` and resample the cut to (H, W), bilinear."""
    h, w = t.shape[-2:]
    ch, cw = max(2, round(h * (1 - crop * u[0]))), max(2, round(w * (1 - crop * u[1])))
    top, left = round((h - ch) * u[2]), round((w - cw) * u[3])
    cut = t[..., top:top + ch, left:left + cw]
    return F.interpolate(cut, size=(h, w), mode="bilinear", align_corners=False)


def _affine(t: torch.Tensor, angle: float, zoom: float = 1.0, shift: tuple[float, float] = (0.0, 0.0)) -> torch.Tensor:
    """Rotate (N, C, H, W) about the centre, magnify by ``zoom`` and shift by a fraction of the
    side; bilinear, borders replicated."""
    cos, sin = math.cos(angle) / zoom, math.sin(angle) / zoom
    h, w = t.shape[-2:]
    aspect = h / w
    theta = torch.tensor([[cos, -sin * aspect, 2 * shift[0]], [sin / aspect, cos, 2 * shift[1]]],
                         dtype=torch.float32)
    grid = F.affine_grid(theta[None].expand(t.shape[0], 2, 3), list(t.shape), align_corners=False)
    return F.grid_sample(t, grid, mode="bilinear", padding_mode="border", align_corners=False)
