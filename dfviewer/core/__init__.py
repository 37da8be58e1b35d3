"""Model, training and inference (torch + numpy, no Qt). ``GeneratedDataset`` reads a ``dfviewer generate`` store."""

from __future__ import annotations

from typing import Any

__all__ = ["GeneratedDataset"]


def __getattr__(name: str) -> Any:
    # lazy: importing dfviewer.core must not pull in h5py / pyarrow for the viewer
    if name == "GeneratedDataset":
        from dfviewer.core.store_dataset import GeneratedDataset

        return GeneratedDataset
    raise AttributeError(name)
