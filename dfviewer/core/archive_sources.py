"""The reader side of ``dfviewer generate``: each source image read, decoded, normalised and resized.

:class:`SourceImages` runs in the reader processes of :mod:`dfviewer.core.reader_pool` (numpy
only, no torch); a bad image becomes a :class:`SourceItem` with its reason instead of an exception.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from dfviewer.core import store as st
from dfviewer.core.config import ModelConfig
from dfviewer.core.domain import DomainModel, domain_sentence
from dfviewer.core.geometry import working_shape
from dfviewer.core.normalize import input_range_warning, normalize_input
from dfviewer.core.prepare import PreparedImage, prepare_image
from dfviewer.core.resampling import resample_array
from dfviewer.errors import STOP_EXCEPTIONS, UserError, failure_reason


@dataclasses.dataclass
class SourceItem:
    """One source image as a reader prepared it, or the reason it could not."""

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


class SourceImages:
    """Item ``i`` of the source list, ready for the network (runs in the reader processes)."""

    def __init__(self, sources: Sequence[str], config: ModelConfig, size: int, domain: DomainModel | None) -> None:
        self.sources = list(sources)
        self.config = config
        self.size = size
        self.domain = domain

    def __len__(self) -> int:
        return len(self.sources)

    def __call__(self, index: int) -> SourceItem:
        return self[index]

    def failed(self, index: int, reason: str) -> SourceItem:
        """The item of an image whose reader failed or died: its index row with the reason."""
        return SourceItem(index=index, path=self.sources[index], reason=item_reason(UserError(reason), self.sources[index]))

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
    """``image`` resampled to ``shape`` (float32, an array of its own)."""
    array = np.ascontiguousarray(image, dtype=np.float32)
    out = resample_array(array, shape)
    return out.copy() if out is array else out


def item_reason(exc: BaseException, path: str) -> str:
    """The sentence for a failed image, naming its file."""
    text = failure_reason(exc)
    name = Path(path).name
    return text if name in text else f"{name}: {text[:1].lower() + text[1:]}"


__all__ = ["SourceImages", "SourceItem", "item_reason", "resize_image"]
