"""The generated collection on disk: HDF5 shards of maps, a Parquet index, the settings.

Layout of a store folder::

    settings.json         what made it: model SHA-256, maps, stages, MC samples, size, dtype, seed, ...
    sources.json          the source images in order; an image's number is its place in this list
    shards/shard-000012.h5          images 12*N .. 12*N+N-1 (N = shard size), written by one process
    shards/shard-000012-p1.h5       the rest of shard 12 after a stop between batches (parts)
    index.parquet         one row per source image: where its maps are, summaries, or why it failed

A shard holds ``maps``: (images, maps, size, size) float16 or float32, one gzip-compressed chunk
per image and map (zero padding beyond the image's stored height and width compresses away),
and ``rows``: the index rows of its images as JSON. Its ``settings_sha256`` attribute (and each
row's) is the :func:`settings_digest` of the settings it was made with; resume and verify
(:mod:`dfviewer.core.store_check`) refuse a shard whose digest is not the store's. A shard is
written under a temporary name and renamed when complete, so a file under a final name is always whole; a temporary file left
by a killed process is a half-written shard, removed and redone on the next run. Every process
(torchrun rank) writes only its own shards; the index is merged from the shards' rows.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import stat
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dfviewer.atomic import atomic_path, atomic_write_text
from dfviewer.errors import UserError, cause

SETTINGS_NAME = "settings.json"
SOURCES_NAME = "sources.json"
INDEX_NAME = "index.parquet"
SHARDS_DIR = "shards"
FORMAT_VERSION = 2  # 2: shards and rows carry the settings digest; 1 (no digest) cannot be checked

_SHARD_RE = re.compile(r"^shard-(\d{6})(?:-p(\d+))?\.h5$")
_TEMP_RE = re.compile(r"^\.shard-(\d{6})(?:-p(\d+))?\..*\.tmp\.h5$")

#: the index's columns and their Arrow types (built lazily: pyarrow is imported on use)
INDEX_COLUMNS: tuple[tuple[str, str], ...] = (
    ("index", "int64"),
    ("path", "string"),
    ("status", "string"),  # done or failed
    ("sha256", "string"),  # of the source file's bytes
    ("shard", "string"),  # file name under shards/
    ("position", "int64"),  # row of the shard's maps dataset (-1: failed)
    ("height", "int32"),  # stored map height and width (the rest of size x size is padding)
    ("width", "int32"),
    ("source_height", "int32"),
    ("source_width", "int32"),
    ("stored_bytes", "int64"),  # compressed bytes of this image's chunks
    ("maps_sha256", "string"),  # of the stored (padded) maps array's bytes, for --verify
    ("lungs_found", "bool"),
    ("lung_darkfield", "float64"),  # mean generated dark-field in the lungs (last stage stored)
    ("lung_aleatoric", "float64"),  # mean aleatoric sigma in the lungs
    ("lung_epistemic", "float64"),  # mean epistemic sigma in the lungs
    ("domain_score", "float64"),  # the model's domain check (null without one)
    ("flagged", "bool"),
    ("warning", "string"),
    ("seconds", "float64"),  # read + decode + this image's share of its batch's passes
    ("reason", "string"),  # the one-sentence reason it failed
    ("settings_sha256", "string"),  # the settings digest of the shard holding the row
)


class StoreError(UserError):
    """The store folder cannot be used (other settings, damaged files); one sentence."""


def shard_name(shard: int, part: int = 0) -> str:
    return f"shard-{shard:06d}" + (f"-p{part}" if part else "") + ".h5"


def parse_shard_name(name: str) -> tuple[int, int] | None:
    """(shard, part) of a final shard file name, else None."""
    match = _SHARD_RE.match(name)
    return (int(match.group(1)), int(match.group(2) or 0)) if match else None


def parse_temp_name(name: str) -> int | None:
    """The shard number of a half-written shard's temporary file, else None."""
    match = _TEMP_RE.match(name)
    return int(match.group(1)) if match else None


def check_regular(path: str | Path) -> None:
    """Refuse ``path`` when it exists but is not a regular file: opening a named pipe (FIFO) or a
    device would wait for a writer forever, a folder cannot be read as a file."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return  # missing or unreadable: the caller's open() says so
    if not stat.S_ISREG(mode):
        kind = ("a folder" if stat.S_ISDIR(mode) else "a named pipe" if stat.S_ISFIFO(mode)
                else "a socket" if stat.S_ISSOCK(mode) else "a device or other special file")
        raise StoreError(f"{path} is {kind}, not a regular file, so it is not read")


def file_sha256(path: str | Path, block: int = 1 << 20) -> str:
    check_regular(path)
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(block), b""):
            digest.update(chunk)
    return digest.hexdigest()


# --- settings and sources -----------------------------------------------------------------

#: settings that decide the stored values: a resumed run must match them
LOCKED_SETTINGS = ("format", "model_sha256", "maps", "stages", "mc", "size", "dtype", "seed", "shard_size",
                   "precision", "n_sources", "working_size", "sources_sha256")


def settings_digest(settings: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON of the locked settings: what every shard and row records."""
    locked = {key: settings.get(key) for key in LOCKED_SETTINGS}
    return hashlib.sha256(json.dumps(locked, sort_keys=True, separators=(",", ":")).encode("utf-8")).hexdigest()


def sources_digest(sources: Sequence[str]) -> str:
    """SHA-256 of the source list (its order gives the image numbers)."""
    return hashlib.sha256(json.dumps(list(sources), separators=(",", ":")).encode("utf-8")).hexdigest()


def write_settings(store: Path, settings: dict[str, Any]) -> None:
    atomic_write_text(store / SETTINGS_NAME, json.dumps(settings, indent=2, sort_keys=True) + "\n")


def _read_json(path: Path, what: str = "") -> Any:
    """The JSON in ``path``, None when there is no such file; a :class:`StoreError` when unreadable."""
    if not path.exists():
        return None
    check_regular(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise StoreError(f"{path} could not be read ({exc}){what}") from None


def read_settings(store: Path, allow_old: bool = False) -> dict[str, Any] | None:
    """The store's settings, None without a settings file; a store of format 1 only with ``allow_old``."""
    path = Path(store) / SETTINGS_NAME
    data = _read_json(path, "; it is not a dfviewer generate store")
    if data is None:
        return None
    if isinstance(data, dict) and data.get("format") == 1 and not allow_old:
        raise StoreError(f"{Path(store)} was made by an older dfviewer whose shards do not record their settings, "
                         "so it cannot be verified or resumed; generate it again into a new --out folder")
    if not isinstance(data, dict) or data.get("format") not in ((FORMAT_VERSION, 1) if allow_old else (FORMAT_VERSION,)):
        raise StoreError(f"{path} is not the settings file of a dfviewer generate store (format {FORMAT_VERSION})")
    return data


def settings_mismatch(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """The locked settings that differ, as ``name: old -> new``."""
    return [f"{key}: {old.get(key)!r} -> {new.get(key)!r}" for key in LOCKED_SETTINGS if old.get(key) != new.get(key)]


def write_sources(store: Path, sources: Sequence[str]) -> None:
    atomic_write_text(store / SOURCES_NAME, json.dumps(list(sources), indent=0) + "\n")


def read_sources(store: Path) -> list[str] | None:
    path = Path(store) / SOURCES_NAME
    data = _read_json(path)
    if data is None:
        return None
    if not isinstance(data, list) or not all(isinstance(x, str) for x in data):
        raise StoreError(f"{path} is not a list of source paths")
    return data


# --- shards -------------------------------------------------------------------------------


class ShardWriter:
    """Writes one shard file: maps image by image, then the rows; renamed into place on :meth:`close`.

    Use as a context manager or call :meth:`open` / :meth:`close` / :meth:`abort`. The maps
    dataset grows as images arrive; a failed image gets a row but no position.
    """

    def __init__(self, store: Path, shard: int, part: int, map_names: Sequence[str], size: int, dtype: str,
                 digest: str, compression: int = 4) -> None:
        self.store = Path(store)
        self.shard, self.part = shard, part
        self.name = shard_name(shard, part)
        self.map_names = list(map_names)
        self.size = int(size)
        self.dtype = np.dtype(dtype)
        self.compression = compression
        self.digest = digest
        self.rows: list[dict[str, Any]] = []
        self.stored = 0
        self._ctx: contextlib.AbstractContextManager[Path] | None = None
        self._file: Any = None
        self._maps: Any = None

    def open(self) -> ShardWriter:
        import h5py

        self._ctx = atomic_path(self.store / SHARDS_DIR / self.name)
        tmp = self._ctx.__enter__()
        self._file = h5py.File(tmp, "w")
        k, s = len(self.map_names), self.size
        self._maps = self._file.create_dataset(
            "maps", shape=(0, k, s, s), maxshape=(None, k, s, s), dtype=self.dtype, chunks=(1, 1, s, s),
            compression="gzip", compression_opts=self.compression, shuffle=True, fillvalue=0)
        self._maps.attrs["names"] = json.dumps(self.map_names)
        self._file.attrs["format"] = FORMAT_VERSION
        self._file.attrs["shard"] = self.shard
        self._file.attrs["part"] = self.part
        self._file.attrs["settings_sha256"] = self.digest
        return self

    def __enter__(self) -> ShardWriter:
        return self.open()

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort(exc_type, exc, tb)

    def add(self, row: dict[str, Any], maps: np.ndarray) -> dict[str, Any]:
        """Store ``maps`` (K, h, w) float32 for ``row``; fills position, stored size and checksum."""
        k, h, w = maps.shape
        if k != len(self.map_names) or h > self.size or w > self.size:
            raise ValueError(f"maps of shape {maps.shape} do not fit {len(self.map_names)} x {self.size}^2")
        padded = np.zeros((k, self.size, self.size), dtype=self.dtype)
        padded[:, :h, :w] = maps
        position = self.stored
        self._maps.resize(position + 1, axis=0)
        self._maps[position] = padded
        self.stored += 1
        row = dict(row, status="done", shard=self.name, position=position, height=h, width=w,
                   maps_sha256=hashlib.sha256(padded.tobytes()).hexdigest(), reason=None,
                   settings_sha256=self.digest)
        self.rows.append(row)
        return row

    def add_failure(self, row: dict[str, Any], reason: str) -> dict[str, Any]:
        row = dict(row, status="failed", shard=self.name, position=-1, reason=reason, settings_sha256=self.digest)
        self.rows.append(row)
        return row

    def close(self) -> Path:
        """Write the rows and each image's stored size, close, rename into place."""
        assert self._file is not None and self._ctx is not None
        self._file.flush()
        for row in self.rows:
            if row["status"] == "done":
                row["stored_bytes"] = _stored_bytes(self._maps, row["position"], len(self.map_names))
        self._file.create_dataset("rows", data=json.dumps(self.rows, allow_nan=True))
        self._file.attrs["complete"] = 1
        self._file.close()
        self._file = None
        ctx, self._ctx = self._ctx, None
        ctx.__exit__(None, None, None)
        return self.store / SHARDS_DIR / self.name

    def abort(self, exc_type: Any = None, exc: Any = None, tb: Any = None) -> None:
        """Drop the half-written file (the temporary name is removed)."""
        if self._file is not None:
            with contextlib.suppress(Exception):
                self._file.close()
            self._file = None
        if self._ctx is not None:
            ctx, self._ctx = self._ctx, None
            err = exc if exc is not None else RuntimeError("shard aborted")
            with contextlib.suppress(BaseException):
                ctx.__exit__(type(err), err, tb)


def _stored_bytes(dataset: Any, position: int, n_maps: int) -> int:
    total = 0
    for k in range(n_maps):
        try:
            info = dataset.id.get_chunk_info_by_coord((position, k, 0, 0))
            total += int(info.size)
        except (AttributeError, KeyError, ValueError, RuntimeError):
            continue
    return total


def shard_files(store: Path) -> list[Path]:
    folder = Path(store) / SHARDS_DIR
    if not folder.is_dir():
        return []
    found = [(parsed, p) for p in folder.iterdir() if (parsed := parse_shard_name(p.name)) is not None]
    return [p for _, p in sorted(found)]  # by (shard, part): a later part's rows come after an earlier one's


def temp_files(store: Path) -> list[Path]:
    folder = Path(store) / SHARDS_DIR
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if parse_temp_name(p.name) is not None)


# --- the index ----------------------------------------------------------------------------


def _schema() -> Any:
    import pyarrow as pa

    return pa.schema([(name, getattr(pa, "bool_" if kind == "bool" else kind)()) for name, kind in INDEX_COLUMNS])


def write_index(store: Path, rows: Iterable[dict[str, Any]]) -> Path:
    """The Parquet index over ``rows`` (sorted by image number), written atomically."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    ordered = sorted(rows, key=lambda r: int(r["index"]))
    clean = [{name: index_cell(row.get(name)) for name, _ in INDEX_COLUMNS} for row in ordered]
    table = pa.Table.from_pylist(clean, schema=_schema())
    target = Path(store) / INDEX_NAME
    with atomic_path(target) as tmp:
        pq.write_table(table, tmp, compression="zstd")
    return target


def index_cell(value: Any) -> Any:
    """A row's value as the index stores it: NaN and infinity as null, numpy scalars as Python's."""
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value


def read_index(store: Path) -> list[dict[str, Any]]:
    import pyarrow.parquet as pq

    path = Path(store) / INDEX_NAME
    if not path.exists():
        raise StoreError(f"{path} does not exist: the store has no index yet (run dfviewer generate to the end)")
    check_regular(path)
    try:
        table = pq.read_table(path)
        rows: list[dict[str, Any]] = table.to_pylist()
    except Exception as exc:  # noqa: BLE001 - any damage of the file becomes one sentence
        raise StoreError(f"{path} could not be read ({cause(exc)})") from None
    # an index of format 1 has no settings_sha256 and is still read (verify refuses such a store)
    lacking = [name for name, _ in INDEX_COLUMNS if name not in table.column_names and name != "settings_sha256"]
    if lacking:
        raise StoreError(f"{path} lacks the column(s) {', '.join(lacking)}; run the same generate command again "
                         "to write the index anew from the shards")
    return rows


def is_flagged(row: dict[str, Any]) -> bool:
    """Whether an index row's image was flagged: the domain check, or values outside a fixed-unit model's range."""
    return row.get("status") == "done" and (bool(row.get("flagged")) or bool(row.get("warning")))
