"""The worker side of ``dfviewer generate``: each source image read, decoded, normalised and resized.

:class:`SourceImages` runs in DataLoader worker processes; a bad image becomes a
:class:`SourceItem` with its reason instead of an exception.
"""

from __future__ import annotations

import dataclasses
import signal
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from dfviewer.core import store as st
from dfviewer.core.config import ModelConfig
from dfviewer.core.domain import DomainModel, domain_sentence
from dfviewer.core.geometry import resample, working_shape
from dfviewer.core.inference import PreparedImage, prepare_image
from dfviewer.core.normalize import input_range_warning, normalize_input
from dfviewer.errors import STOP_EXCEPTIONS, failure_reason


@dataclasses.dataclass
class SourceItem:
    """One source image as a DataLoader worker prepared it, or the reason it could not."""

    index: int
    path: str
    sha256: str | None = None
    prepared: PreparedImage | None = None
    out_shape: tuple[int, int] | None = None
    lungs: np.ndarray | None = None
    lungs_found: bool = False
    domain_score: float | None = None
    warning: str | None = None
    seconds: float = 0.0
    reason: str | None = None


class SourceImages(Dataset):
    """Item ``i`` of the source list, ready for the network (runs in DataLoader workers)."""

    def __init__(self, sources: Sequence[str], config: ModelConfig, size: int, domain: DomainModel | None) -> None:
        self.sources = list(sources)
        self.config = config
        self.size = size
        self.domain = domain

    def __len__(self) -> int:
        return len(self.sources)

    def __getitem__(self, index: int) -> SourceItem:
        from dfviewer.io import lung_mask, read_radiograph

        start = time.perf_counter()
        item = SourceItem(index=index, path=self.sources[index])
        try:
            pixels = read_radiograph(item.path).pixels
            item.sha256 = st.file_sha256(item.path)
            item.prepared = prepare_image(pixels, self.config)
            item.out_shape = working_shape(pixels.shape, self.size)
            small = resize_image(pixels, item.out_shape)
            found = lung_mask(small)
            item.lungs, item.lungs_found = found.mask, bool(found.found)
            item.warning = input_range_warning(pixels, self.config.normalization)
            if self.domain is not None:
                item.domain_score = float(self.domain.score_image(normalize_input(pixels, self.config.normalization)))
                if item.warning is None and item.domain_score > self.domain.threshold:
                    item.warning = domain_sentence(item.domain_score, self.domain.threshold)
        except BaseException as exc:  # noqa: BLE001 - one image never stops the run
            if isinstance(exc, STOP_EXCEPTIONS):
                raise
            item.prepared, item.lungs = None, None
            item.reason = item_reason(exc, item.path)
        item.seconds = time.perf_counter() - start
        return item


def resize_image(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``image`` resampled to ``shape`` (float32)."""
    t = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))[None, None]
    with torch.inference_mode():
        return resample(t, shape)[0, 0].numpy().copy()


def item_reason(exc: BaseException, path: str) -> str:
    """The sentence for a failed image, naming its file."""
    text = failure_reason(exc)
    name = Path(path).name
    return text if name in text else f"{name}: {text[:1].lower() + text[1:]}"


def collate_items(items: list[SourceItem]) -> list[SourceItem]:
    """Batches stay lists of items (images differ in size); each network input travels as a tensor.

    A worker sends tensors through shared memory but pickles numpy arrays into its queue's pipe: a
    worker whose parent was killed then blocks on the full pipe forever, holding the parent's
    stdout and stderr open. :mod:`dfviewer.core.archive_job` takes the arrays back (no copy).
    """
    for item in items:
        if item.prepared is not None:
            item.prepared.x = torch.from_numpy(item.prepared.x)  # type: ignore[assignment]
    return items


def worker_init(_: int) -> None:
    """Set up a DataLoader worker: one thread, Ctrl-C left to the main process."""
    # Ctrl-C reaches the whole process group: the main process stops after its batch, workers go on
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(1)


__all__ = ["SourceImages", "SourceItem", "collate_items", "item_reason", "resize_image", "worker_init"]
