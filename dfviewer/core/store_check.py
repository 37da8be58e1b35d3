"""Checking a generate store: every shard against the settings it was made with, the index against the shards.

A shard is *good* when it is a complete HDF5 file whose ``settings_sha256`` is the digest of the
store's ``settings.json``, whose ``maps`` dataset has the settings' maps, size and dtype, and whose
rows are well formed, lie in the shard's range of image numbers, name the source list's file for
their number and (``deep``) match the stored maps' checksums. A shard with another digest is
*foreign* (copied from another store, or the settings changed): resume refuses the store and
verify reports it. A damaged shard is redone by a resumed run. The index is the merge of the good
shards' rows; verify rebuilds that merge and compares ``index.parquet`` with it cell by cell.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import stat
from pathlib import Path
from typing import Any

import numpy as np

from dfviewer.core import store as st
from dfviewer.core.geometry import working_shape
from dfviewer.errors import cause

GOOD, FOREIGN, DAMAGED, NOT_A_FILE = "good", "foreign", "damaged", "not a file"


@dataclasses.dataclass(frozen=True)
class Expected:
    """What the shards of a store must hold, from its settings and source list."""

    digest: str
    map_names: tuple[str, ...]
    size: int
    dtype: str
    shard_size: int
    sources: tuple[str, ...]

    @classmethod
    def of(cls, settings: dict[str, Any], sources: list[str]) -> Expected:
        try:
            return cls(st.settings_digest(settings), tuple(settings["map_names"]), int(settings["size"]),
                       str(np.dtype(settings["dtype"])), int(settings["shard_size"]), tuple(sources))
        except (KeyError, TypeError, ValueError) as exc:
            raise st.StoreError(f"the store's {st.SETTINGS_NAME} is damaged ({cause(exc)})") from None


@dataclasses.dataclass
class ShardCheck:
    kind: str  # GOOD, FOREIGN, DAMAGED or NOT_A_FILE
    rows: list[dict[str, Any]]
    problem: str = ""  # why it is not good, a clause naming the shard
    checked: int = 0  # stored images read back and compared with their checksum


def shard_check(path: Path, expected: Expected, deep: bool = True) -> ShardCheck:
    """Check one shard file (see the module doc); never raises for what the file holds."""
    import h5py

    try:
        mode = path.lstat().st_mode
    except OSError as exc:
        return ShardCheck(DAMAGED, [], f"{path.name} cannot be read ({exc.strerror or cause(exc)})")
    if not stat.S_ISREG(mode):
        return ShardCheck(NOT_A_FILE, [], f"{path.name} is not a regular file (a folder, link or pipe)")
    parsed = st.parse_shard_name(path.name)
    if parsed is None:
        return ShardCheck(DAMAGED, [], f"{path.name} is not named like a shard")
    try:
        with h5py.File(path, "r") as f:
            digest = f.attrs.get("settings_sha256")
            digest = digest.decode("utf-8", "replace") if isinstance(digest, bytes) else digest
            if digest != expected.digest:
                return ShardCheck(FOREIGN, [], f"{path.name} was made with other settings than {st.SETTINGS_NAME} "
                                  "(copied from another store, or the settings were changed)")
            problem = _layout_problem(f, parsed, expected)
            if problem:
                return ShardCheck(DAMAGED, [], f"{path.name} is damaged ({problem})")
            rows = json.loads(_text(f["rows"][()]))
            problem = _rows_problem(rows, parsed[0], path.name, f["maps"].shape[0], expected)
            if problem:
                return ShardCheck(DAMAGED, [], f"{path.name} is damaged ({problem})")
            checked = 0
            if deep:
                for row in rows:
                    if row["status"] == "done":
                        problem = _maps_problem(f["maps"], row)
                        if problem:
                            return ShardCheck(DAMAGED, [], f"{path.name} is damaged (image {row['index']}: {problem})")
                        checked += 1
    except Exception as exc:  # noqa: BLE001 - whatever a damaged HDF5 file raises becomes one clause
        return ShardCheck(DAMAGED, [], f"{path.name} is damaged or unreadable ({cause(exc)})")
    return ShardCheck(GOOD, rows, "", checked)


def _text(raw: Any) -> str:
    return raw.decode("utf-8") if isinstance(raw, bytes) else str(raw)


def _layout_problem(f: Any, parsed: tuple[int, int], expected: Expected) -> str:
    import h5py

    if f.attrs.get("complete") != 1 or f.attrs.get("format") != st.FORMAT_VERSION:
        return "it is incomplete or of another format"
    if (f.attrs.get("shard"), f.attrs.get("part")) != parsed:
        return "its shard number is not the one in its name"
    maps, rows = f.get("maps"), f.get("rows")
    if not isinstance(maps, h5py.Dataset) or not isinstance(rows, h5py.Dataset):
        return "its maps or rows are missing or not datasets"
    k, s = len(expected.map_names), expected.size
    if maps.ndim != 4 or maps.shape[1:] != (k, s, s) or maps.dtype != np.dtype(expected.dtype):
        return f"its maps are {maps.dtype} {maps.shape}, the settings say {expected.dtype} (images, {k}, {s}, {s})"
    try:
        names = json.loads(_text(maps.attrs.get("names", "")))
    except ValueError:
        names = None
    if names != list(expected.map_names):
        return "its map names are not the settings' map names"
    return ""


#: the Python types an index column's cells may have (None aside)
_CELL_TYPES: dict[str, type | tuple[type, ...]] = {"int64": int, "int32": int, "string": str, "bool": bool, "float64": (int, float)}


def _rows_problem(rows: Any, shard: int, name: str, n_stored: int, expected: Expected) -> str:
    """Why the shard's rows are unusable, or ''."""
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        return "its rows are not a list of records"
    first, last = shard * expected.shard_size, min(len(expected.sources), (shard + 1) * expected.shard_size)
    seen: set[int] = set()
    positions: list[int] = []
    for row in rows:
        for column, kind in st.INDEX_COLUMNS:
            value = row.get(column)
            if value is not None and (not isinstance(value, _CELL_TYPES[kind]) or
                                      (kind != "bool" and isinstance(value, bool))):
                return f"a row's {column} is {value!r}"
            bits = 31 if kind == "int32" else 63
            if isinstance(value, int) and not -(2**bits) <= value < 2**bits:
                return f"a row's {column} is {value!r}"
        index = row.get("index")
        if not isinstance(index, int) or not first <= index < last or index in seen:
            return f"a row has image number {index!r}, outside {first}..{last - 1} or repeated"
        seen.add(index)
        if row.get("path") != expected.sources[index]:
            return f"image {index}'s path is not the source list's"
        if row.get("shard") != name or row.get("settings_sha256") != expected.digest:
            return f"image {index}'s row names another shard or other settings"
        problem = _done_problem(row, expected.size) if row.get("status") == "done" else (
            "" if row.get("status") == "failed" and row.get("position") == -1 and row.get("reason")
            else "it is neither stored nor failed with a reason")
        if problem:
            return f"image {index}: {problem}"
        if row["status"] == "done":
            positions.append(row["position"])
    if sorted(positions) != list(range(n_stored)):
        return "its rows do not account for each stored image once"
    return ""


def _done_problem(row: dict[str, Any], size: int) -> str:
    need = ("position", "height", "width", "source_height", "source_width", "maps_sha256", "sha256")
    if any(row.get(key) is None for key in need) or row.get("reason"):
        return "a stored image's row lacks a value"
    if min(row["source_height"], row["source_width"]) < 1:
        return "its source size is not positive"
    if working_shape((row["source_height"], row["source_width"]), size) != (row["height"], row["width"]):
        return "its stored size does not follow from its source size"
    return ""


def _maps_problem(maps: Any, row: dict[str, Any]) -> str:
    data = np.asarray(maps[int(row["position"])])
    if hashlib.sha256(np.ascontiguousarray(data).tobytes()).hexdigest() != row["maps_sha256"]:
        return "its maps do not match their checksum"
    if not np.isfinite(data).all():
        return "its maps hold NaN or infinite values"
    h, w = int(row["height"]), int(row["width"])
    if data[:, h:, :].any() or data[:, :, w:].any():
        return "its padding is not zero"
    return ""


def check_shards(store: Path, expected: Expected, deep: bool = True) -> dict[Path, ShardCheck]:
    """:func:`shard_check` of every shard file of ``store``, in (shard, part) order."""
    return {path: shard_check(path, expected, deep) for path in st.shard_files(store)}


def merged_rows(checks: dict[Path, ShardCheck]) -> list[dict[str, Any]]:
    """The index rows the good shards give, by image number: a later part's success replaces a failure."""
    latest: dict[int, dict[str, Any]] = {}
    for check in checks.values():
        if check.kind != GOOD:
            continue
        for row in check.rows:
            key = int(row["index"])
            if key not in latest or latest[key]["status"] != "done":
                latest[key] = row
    return [latest[k] for k in sorted(latest)]


def expected_for(store: Path) -> Expected:
    """The :class:`Expected` of a store from its settings and source list (a :class:`StoreError` when lacking)."""
    store = Path(store)
    settings = st.read_settings(store)
    if settings is None:
        if st.shard_files(store):
            raise st.StoreError(f"{store} holds shards but no {st.SETTINGS_NAME} (it was lost or deleted), so the "
                                "settings they were made with are unknown; restore the file or generate into a new "
                                "--out folder")
        raise st.StoreError(f"{store} is not a dfviewer generate store (no {st.SETTINGS_NAME})")
    sources = st.read_sources(store)
    if sources is None:
        raise st.StoreError(f"{store} has settings but no {st.SOURCES_NAME}; the store is damaged")
    if settings.get("sources_sha256") != st.sources_digest(sources) or settings.get("n_sources") != len(sources):
        raise st.StoreError(f"{store}: its {st.SOURCES_NAME} is not the source list its settings were made with "
                            "(edited or replaced); restore it or generate into a new --out folder")
    return Expected.of(settings, sources)


def _same(a: Any, b: Any) -> bool:
    """Cell equality: numbers by value (NaN equals NaN), booleans and strings by type and value."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b or (a != a and b != b)
    return type(a) is type(b) and a == b


def verify_store(store: Path) -> tuple[list[str], dict[str, int]]:
    """Check every shard (:func:`shard_check`, reading every stored image back), the index against the
    merge of the good shards' rows, and that every source image has its row. Returns (problems, counts);
    a store that cannot be checked at all (no settings, an older format) is a :class:`StoreError`."""
    store = Path(store)
    try:
        return _verify(store)
    except OSError as exc:  # a name too long, no permission, ...: one sentence
        raise st.StoreError(f"{store} cannot be checked ({exc.strerror or cause(exc)})") from None


def _verify(store: Path) -> tuple[list[str], dict[str, int]]:
    expected = expected_for(store)
    problems: list[str] = []
    checks = check_shards(store, expected, deep=True)
    for check in checks.values():
        if check.kind == FOREIGN or check.kind == NOT_A_FILE:
            problems.append(f"{check.problem}; move it out of the store")
        elif check.kind == DAMAGED:
            problems.append(f"{check.problem}; run the same generate command again to redo it")
    for path in st.temp_files(store):
        problems.append(f"{path.name} is a half-written shard (run the same generate command again to redo it)")
    merged = merged_rows(checks)
    try:
        rows = st.read_index(store)
    except st.StoreError as exc:
        problems.append(str(exc))
        rows = []
    n = len(expected.sources)
    counts = {"sources": n, "rows": len(rows), "done": sum(r.get("status") == "done" for r in rows),
              "failed": sum(r.get("status") == "failed" for r in rows),
              "checked": sum(c.checked for c in checks.values()), "flagged": sum(st.is_flagged(r) for r in rows)}
    if len(merged) < n:
        have = {int(r["index"]) for r in merged}
        first = next(i for i in range(n) if i not in have)
        problems.append(f"{n - len(merged)} source image(s) have no stored row yet (first: {expected.sources[first]}); "
                        "run the same generate command again to finish the store")
    problems.extend(_index_problems(rows, merged))
    return problems, counts


def _index_problems(rows: list[dict[str, Any]], merged: list[dict[str, Any]]) -> list[str]:
    """How ``index.parquet``'s rows differ from the rows the shards give."""
    problems: list[str] = []
    want = {int(r["index"]): {name: st.index_cell(r.get(name)) for name, _ in st.INDEX_COLUMNS} for r in merged}
    seen: set[int] = set()
    for row in rows:
        index = row.get("index")
        if not isinstance(index, int) or index not in want or index in seen:
            problems.append(f"index.parquet has a row for image {index!r} that no shard holds, or more than one")
            continue
        seen.add(index)
        differ = [name for name, _ in st.INDEX_COLUMNS if not _same(row.get(name), want[index][name])]
        if differ:
            problems.append(f"index.parquet's row for image {index} differs from its shard in {', '.join(differ)}")
    if set(want) - seen:
        problems.append(f"index.parquet lacks the rows of {len(set(want) - seen)} stored or failed image(s)")
    if problems:
        problems.append("run the same generate command again to write the index anew from the shards")
    return problems


def merge_index(store: Path, expected: Expected) -> list[dict[str, Any]]:
    """Write ``index.parquet`` from the good shards' rows (checked without reading the maps); returns them."""
    merged = merged_rows(check_shards(store, expected, deep=False))
    st.write_index(store, merged)
    return merged
