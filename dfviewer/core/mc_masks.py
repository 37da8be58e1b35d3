"""The dropout masks of Monte Carlo samples, numpy only: the same stream for the graph and the torch path.

Each (image seed, sample) pair has its own generator, ``np.random.default_rng(SeedSequence([seed,
sample]))``, from which the dropout layers draw their masks one after another in the order they
run. An exported graph takes the masks of :func:`sample_masks` as inputs; the torch path
(:func:`~dfviewer.core.network.seeded_dropout`) draws from a :class:`MaskStream` as its layers run,
which gives the same arrays, so the same seed gives the same samples on both paths, and a sample
never depends on the batch it shares.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

_SEED_RANGE = 2**64  # SeedSequence takes non-negative integers; negative seeds wrap


class MaskStream:
    """The masks of one MC sample of one image, drawn layer by layer in running order."""

    def __init__(self, seed: int, sample: int) -> None:
        entropy = [int(seed) % _SEED_RANGE, int(sample) % _SEED_RANGE]
        self._rng = np.random.default_rng(np.random.SeedSequence(entropy))

    def draw(self, shape: tuple[int, ...], p: float) -> np.ndarray:
        """The next layer's float32 mask: each value kept with probability 1 - p as 1 / (1 - p), else 0."""
        if p <= 0.0:
            return np.ones(shape, np.float32)  # no dropout: nothing drawn
        keep = np.float32(1.0 - p)
        mask = (self._rng.random(shape, dtype=np.float32) < keep).astype(np.float32)
        if keep > 0:
            mask /= keep
        return mask


def mask_shape(layer: dict[str, Any], height: int, width: int) -> tuple[int, int, int]:
    """One row's mask shape for a dropout layer (see :func:`dfviewer.core.export.dropout_layers`)."""
    if layer["kind"] == "channel":
        return (int(layer["channels"]), 1, 1)
    factor = int(layer["factor"])
    return (int(layer["channels"]), height // factor, width // factor)


def sample_masks(seed: int, sample: int, layers: Sequence[dict[str, Any]], p: float, height: int,
                 width: int) -> list[np.ndarray]:
    """Sample ``sample`` of image seed ``seed``: one float32 mask per layer (0 or 1 / (1 - p))."""
    stream = MaskStream(seed, sample)
    return [stream.draw(mask_shape(layer, height, width), p) for layer in layers]


def ones_masks(layers: Sequence[dict[str, Any]], height: int, width: int, rows: int = 1) -> list[np.ndarray]:
    """All-ones masks: the deterministic pass."""
    return [np.ones((rows, *mask_shape(layer, height, width)), np.float32) for layer in layers]


__all__ = ["MaskStream", "mask_shape", "ones_masks", "sample_masks"]
