"""The list of source radiographs for ``dfviewer generate``: a folder (recursive) or a CSV column."""

from __future__ import annotations

import csv
import os
from pathlib import Path

from dfviewer.errors import UserError
from dfviewer.io.file_filters import has_radiograph_suffix, is_companion_file
from dfviewer.io.reader import sniff

#: suffixes listed from a folder: DICOM (and DICOM without a suffix), PNG, JPEG, TIFF
FOLDER_SUFFIXES = frozenset({".dcm", ".dicom", ".dic", ".ima", ".png", ".jpg", ".jpeg", ".tif", ".tiff"})


class SourceError(UserError):
    """The SOURCE argument cannot be turned into a list of images; one sentence."""


def _is_source_file(path: Path) -> bool:
    if path.name.startswith(".") or is_companion_file(path):
        return False
    suffix = path.suffix.lower()
    if suffix in FOLDER_SUFFIXES:
        return True
    if suffix or not has_radiograph_suffix(path):
        return False  # .npy and other kinds generate does not list
    try:
        return sniff(path) == "dicom"  # DICOM files often have no suffix
    except OSError:
        return False


def folder_sources(folder: str | Path, skip: Path | None = None) -> list[str]:
    """Radiograph files under ``folder`` (recursive, sorted by relative path), absolute paths.

    Hidden files and folders, real dark-fields, masks and the viewer's or ``predict``'s exports
    beside the cases are left out, and so is the folder ``skip`` (the store, when it lies inside).
    """
    root = Path(folder).resolve()
    skip_resolved = skip.resolve() if skip is not None else None
    found: list[Path] = []
    for current, dirs, files in os.walk(root):
        here = Path(current)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and (skip_resolved is None or here / d != skip_resolved))
        for name in files:
            path = here / name
            if path.is_file() and _is_source_file(path):
                found.append(path)
    found.sort(key=lambda p: p.relative_to(root).as_posix())
    return [str(p) for p in found]


def csv_sources(table: str | Path, column: str, root: str | Path | None = None) -> tuple[list[str], int]:
    """Paths from ``column`` of a CSV file, joined to ``root`` (default: the CSV's folder).

    Returns the absolute paths in file order, each once, and how many repeated entries were dropped.
    Missing files are kept: the run lists each with its reason.
    """
    table = Path(table)
    base = Path(root) if root is not None else table.parent
    try:
        with open(table, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            fields = reader.fieldnames or []
            if column not in fields:
                shown = ", ".join(repr(f) for f in fields[:8]) + (" ..." if len(fields) > 8 else "")
                raise SourceError(f"{table.name} has no column {column!r}; its columns are {shown or 'none'}")
            values = [(row.get(column) or "").strip() for row in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise SourceError(f"{table} could not be read as a CSV file ({exc})") from None
    seen: set[str] = set()
    paths: list[str] = []
    repeated = 0
    for number, value in enumerate(values, start=1):
        if not value:
            continue
        if "\0" in value:
            raise SourceError(f"entry {number} of column {column!r} of {table.name} holds a NUL character, "
                              "which no file name can hold; correct the CSV file")
        path = str((base / value).resolve())
        if path in seen:
            repeated += 1
            continue
        seen.add(path)
        paths.append(path)
    return paths, repeated


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a byte file name that is not UTF-8 (a surrogate escape)
        return False
    return True


def list_sources(source: str | Path, column: str | None = None, root: str | Path | None = None,
                 skip: Path | None = None) -> tuple[list[str], list[str]]:
    """The source images of ``SOURCE`` (a folder or a CSV file) and notes for the user."""
    path = Path(source)
    notes: list[str] = []
    if path.is_dir():
        if column is not None:
            raise SourceError(f"--column names a CSV column, but {path} is a folder")
        found = folder_sources(path, skip)
        paths = [p for p in found if _utf8(p)]
        if len(paths) < len(found):
            first = next(p for p in found if not _utf8(p))
            notes.append(f"{len(found) - len(paths)} file(s) whose names are not valid UTF-8 are left out, the "
                         f"index cannot record them (first: {os.fsencode(first).decode('utf-8', 'backslashreplace')}); "
                         "rename them to include them")
        if not paths:
            raise SourceError(f"folder {path} holds no DICOM, PNG, JPEG or TIFF radiographs with UTF-8 names")
        return paths, notes
    if not path.exists():
        raise SourceError(f"{path} does not exist; give a folder of radiographs or a CSV file listing them")
    if path.suffix.lower() not in (".csv", ".tsv", ".txt"):
        raise SourceError(f"{path} is neither a folder nor a CSV file listing radiographs")
    if column is None:
        raise SourceError(f"{path.name} is a CSV file: name the column holding the image paths with --column")
    paths, repeated = csv_sources(path, column, root)
    if repeated:
        notes.append(f"{repeated} repeated entr{'y' if repeated == 1 else 'ies'} of column {column!r} listed once")
    if not paths:
        raise SourceError(f"column {column!r} of {path.name} lists no images")
    return paths, notes
