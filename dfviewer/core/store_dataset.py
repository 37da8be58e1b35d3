"""``GeneratedDataset(STORE)``: a torch ``Dataset`` over a ``dfviewer generate`` store, for downstream training."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from dfviewer.core import store as st
from dfviewer.core.geometry import resample


class GeneratedDataset(Dataset):
    """Item ``i``: ``{"image", "maps", "names", "row"}`` for the ``i``-th stored (done) image.

    ``image``: the source radiograph's pixels (``Radiograph.pixels``, read from the path in the
    index) as float32 (1, h, w), resampled to the stored maps' height and width (``source_size=False``
    keeps the source's own size); ``maps``: float32 (K, h, w), the stored maps without padding, in
    the order of ``names`` (``stage3_mean``, ...); ``row``: the index row (path, SHA-256, summaries).
    ``with_source=False`` skips reading the source (``image`` is then None). Failed images are
    not items; ``failed`` lists their rows. HDF5 files are opened lazily in each worker process.
    """

    def __init__(self, store: str | Path, with_source: bool = True, source_size: bool = True) -> None:
        self.store = Path(store)
        settings = st.read_settings(self.store, allow_old=True)  # reading needs no digest
        if settings is None:
            raise st.StoreError(f"{self.store} is not a dfviewer generate store (no {st.SETTINGS_NAME})")
        self.settings = settings
        rows = st.read_index(self.store)
        self.rows = [r for r in rows if r["status"] == "done"]
        self.failed = [r for r in rows if r["status"] != "done"]
        self.names: list[str] = list(settings["map_names"])
        self.with_source = with_source
        self.source_size = source_size
        self._files: dict[str, Any] = {}
        self._pid = os.getpid()

    def __len__(self) -> int:
        return len(self.rows)

    def _maps(self, shard: str) -> Any:
        import h5py

        if self._pid != os.getpid():  # a DataLoader worker: handles do not survive fork
            self._files, self._pid = {}, os.getpid()
        handle = self._files.get(shard)
        if handle is None:
            st.check_regular(self.store / st.SHARDS_DIR / shard)  # a named pipe would block open() forever
            handle = self._files[shard] = h5py.File(self.store / st.SHARDS_DIR / shard, "r")
            names = json.loads(handle["maps"].attrs["names"])
            if names != self.names:
                raise st.StoreError(f"{shard} stores maps {names}, the settings say {self.names}")
        return handle["maps"]

    def __getitem__(self, index: int) -> dict[str, Any]:
        row = self.rows[index]
        h, w = int(row["height"]), int(row["width"])
        maps = torch.from_numpy(np.asarray(self._maps(row["shard"])[int(row["position"])][:, :h, :w], dtype=np.float32))
        image = None
        if self.with_source:
            from dfviewer.io import read_radiograph

            pixels = torch.from_numpy(np.ascontiguousarray(read_radiograph(row["path"]).pixels, dtype=np.float32))[None]
            if self.source_size:
                with torch.inference_mode():
                    pixels = resample(pixels[None], (h, w))[0].clone()
            image = pixels
        return {"image": image, "maps": maps, "names": self.names, "row": dict(row)}

    def close(self) -> None:
        for handle in self._files.values():
            handle.close()
        self._files = {}
