"""The dropout masks of one Monte Carlo sample, drawn exactly as :func:`~dfviewer.core.network.seeded_dropout` draws them.

An exported graph takes its masks as inputs; drawn here from the sample's own generator
(:func:`~dfviewer.core.network.row_generator`) layer by layer in running order, they are the masks
the torch path multiplies in, so the same seed gives the same samples on both paths.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from dfviewer.core.network import row_generator


def mask_shape(layer: dict[str, Any], height: int, width: int) -> tuple[int, int, int]:
    """One row's mask shape for a dropout layer (see :func:`dfviewer.core.export.dropout_layers`)."""
    if layer["kind"] == "channel":
        return (int(layer["channels"]), 1, 1)
    factor = int(layer["factor"])
    return (int(layer["channels"]), height // factor, width // factor)


def sample_masks(seed: int, sample: int, layers: Sequence[dict[str, Any]], p: float, height: int,
                 width: int) -> list[np.ndarray]:
    """Sample ``sample`` of image seed ``seed``: one float32 mask per layer (0 or 1 / (1 - p))."""
    shapes = [mask_shape(layer, height, width) for layer in layers]
    if p <= 0.0:
        return [np.ones(shape, np.float32) for shape in shapes]
    keep = 1.0 - p
    g = row_generator(seed, sample)
    return [torch.empty(shape, dtype=torch.float32).bernoulli_(keep, generator=g).div_(keep).numpy()
            for shape in shapes]


def ones_masks(layers: Sequence[dict[str, Any]], height: int, width: int, rows: int = 1) -> list[np.ndarray]:
    """All-ones masks: the deterministic pass."""
    return [np.ones((rows, *mask_shape(layer, height, width)), np.float32) for layer in layers]


__all__ = ["mask_shape", "ones_masks", "sample_masks"]
