"""Paired attenuation / dark-field datasets: finding and checking the pairs (no torch).

Two layouts are read:

* a ``manifest.csv`` (in the folder given, or given by path) with the columns ``case``,
  ``attenuation``, ``darkfield`` and ``split`` (``train``/``val``/``test``) and optionally
  ``lung_mask``, ``healthy``, ``emphysema``, ``consolidation``, ``devices`` and ``ood``
  (and, for evaluation, ``darkfield_clean`` and ``device_mask``); paths are relative to
  the manifest's folder (the layout ``dfviewer phantom`` writes);
* a folder with ``attenuation/`` and ``darkfield/`` subfolders (optionally ``lung_mask/``)
  whose files are paired by name without extension; the split is fixed by a hash of that
  name (80 % train, 10 % val, 10 % test), so it never changes when files are added.

:func:`check_dataset` reads every file once and lists every problem (missing partners,
size mismatches, unreadable files) in one :class:`DatasetReport`; training refuses to
start while any blocking problem remains (:meth:`DatasetReport.raise_if_blocking`).
:func:`combine_datasets` writes one manifest over several datasets (``dfviewer combine``).
The wizard checks data with this module in its GUI process, without loading torch.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dfviewer.atomic import atomic_write_text
from dfviewer.errors import STOP_EXCEPTIONS, UserError, failure_reason
from dfviewer.io.reader import RADIOGRAPH_SUFFIXES, read_pixels

SPLITS = ("train", "val", "test")
MANIFEST_NAME = "manifest.csv"
REQUIRED_COLUMNS = ("attenuation", "darkfield")
FLAG_COLUMNS = ("healthy", "emphysema", "consolidation", "devices", "ood")
# Optional manifest columns used by evaluation: the noise-free dark-field of a simulation
# (how far the measured truth is from the signal) and a mask of inserted devices.
EXTRA_COLUMNS = ("darkfield_clean", "device_mask")
MASK_FOLDERS = ("lung_mask", "lung_masks", "lungs")


class DatasetError(UserError):
    """A dataset folder or manifest cannot be used as it is."""


# --- reading pixels ------------------------------------------------------------------


def _flag(value: str | None) -> bool | None:
    if value is None:
        return None
    text = str(value).strip().lower()
    if text in ("", "na", "none"):
        return None
    if text in ("1", "true", "yes", "y", "t"):
        return True
    if text in ("0", "false", "no", "n", "f"):
        return False
    try:
        return float(text) != 0.0
    except ValueError:
        return True  # a non-empty description (e.g. "pacemaker") counts as present


# --- the report ------------------------------------------------------------------------


@dataclass
class Pair:
    """One attenuation / dark-field pair and what the manifest says about it."""

    case: str
    attenuation: Path
    darkfield: Path
    split: str
    lung_mask: Path | None = None
    shape: tuple[int, int] | None = None
    flags: dict[str, bool | None] = field(default_factory=dict)
    #: optional files named by the manifest (``darkfield_clean``, ``device_mask``) that exist
    extras: dict[str, Path] = field(default_factory=dict)
    #: the manifest row as written (all columns), kept so datasets can be combined losslessly
    row: dict[str, str] = field(default_factory=dict)

    @property
    def ood(self) -> bool:
        """True when the case is marked out-of-distribution or as carrying devices."""
        return bool(self.flags.get("ood")) or bool(self.flags.get("devices"))


@dataclass
class DatasetProblem:
    """One thing wrong with a dataset; ``blocking`` problems stop training and evaluation."""

    case: str
    reason: str
    blocking: bool = True
    #: the split of the pair it concerns, when known ("" for the dataset as a whole or an unknown split)
    split: str = ""

    def __str__(self) -> str:
        return f"{self.case}: {self.reason}" if self.case else self.reason


@dataclass
class DatasetReport:
    """What :func:`check_dataset` found: good pairs, counts, sizes, formats and all problems."""

    root: Path
    layout: str  # "manifest" or "folders"
    pairs: list[Pair]
    problems: list[DatasetProblem]
    formats: dict[str, int]
    sizes: dict[str, int]

    @property
    def splits(self) -> dict[str, int]:
        """Good pairs per split."""
        counts = Counter(p.split for p in self.pairs)
        return {s: counts.get(s, 0) for s in SPLITS}

    @property
    def blocking(self) -> list[DatasetProblem]:
        return [p for p in self.problems if p.blocking]

    @property
    def ok(self) -> bool:
        return not self.blocking

    def split(self, name: str) -> list[Pair]:
        """The good pairs of one split, in a stable order."""
        return [p for p in self.pairs if p.split == name]

    def raise_if_blocking(self) -> None:
        """Raise :class:`DatasetError` naming every blocking problem (at most 12 spelled out)."""
        bad = self.blocking
        if not bad:
            return
        shown = "; ".join(str(p) for p in bad[:12])
        more = f"; and {len(bad) - 12} more" if len(bad) > 12 else ""
        raise DatasetError(
            f"dataset {self.root} has {len(bad)} problem{'s' if len(bad) != 1 else ''} "
            f"to fix before use: {shown}{more}"
        )

    def summary(self) -> dict[str, Any]:
        """A JSON-ready summary (stored in checkpoints, shown by the wizard)."""
        return {
            "root": str(self.root),
            "layout": self.layout,
            "pairs": self.splits,
            "formats": dict(self.formats),
            "sizes": dict(self.sizes),
            "problems": [
                {"case": p.case, "reason": p.reason, "blocking": p.blocking} for p in self.problems
            ],
        }

    def describe(self) -> str:
        """A few human-readable lines."""
        s = self.splits
        lines = [
            f"dataset {self.root} ({self.layout}): {s['train']} train, {s['val']} val, {s['test']} test pairs",
            "sizes: " + ", ".join(f"{k} x{v}" for k, v in sorted(self.sizes.items())),
            "formats: " + ", ".join(f"{k} x{v}" for k, v in sorted(self.formats.items())),
        ]
        lines += [("problem: " if p.blocking else "note: ") + str(p) for p in self.problems]
        return "\n".join(lines)


# --- finding pairs ---------------------------------------------------------------------


def hash_split(stem: str) -> str:
    """Deterministic 80/10/10 split from the file name (without extension)."""
    bucket = int(hashlib.sha1(stem.encode("utf-8")).hexdigest(), 16) % 10
    return "train" if bucket < 8 else ("val" if bucket == 8 else "test")


def _image_files(folder: Path) -> dict[str, list[Path]]:
    found: dict[str, list[Path]] = {}
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or not path.is_file():
            continue
        if path.suffix.lower() not in RADIOGRAPH_SUFFIXES:
            continue
        found.setdefault(path.stem, []).append(path)
    return found


def _from_folders(root: Path, problems: list[DatasetProblem]) -> list[Pair]:
    att = _image_files(root / "attenuation")
    dark = _image_files(root / "darkfield")
    mask_dir = next((root / m for m in MASK_FOLDERS if (root / m).is_dir()), None)
    masks = _image_files(mask_dir) if mask_dir else {}
    pairs = []
    for stem in sorted(set(att) | set(dark)):
        a, d = att.get(stem, []), dark.get(stem, [])
        if not a:
            problems.append(DatasetProblem(stem, f"darkfield/{d[0].name} has no partner in attenuation/"))
            continue
        if not d:
            problems.append(DatasetProblem(stem, f"attenuation/{a[0].name} has no partner in darkfield/"))
            continue
        if len(a) > 1 or len(d) > 1:
            names = ", ".join(p.name for p in a + d)
            problems.append(DatasetProblem(stem, f"more than one file with this name ({names})"))
            continue
        m = masks.get(stem, [None])[0]
        pairs.append(Pair(stem, a[0], d[0], hash_split(stem), lung_mask=m))
    return pairs


def _from_manifest(manifest: Path, problems: list[DatasetProblem]) -> list[Pair]:
    root = manifest.parent
    try:
        with open(manifest, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            rows = list(reader)
            columns = [c.strip() for c in reader.fieldnames or []]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(f"manifest {manifest} cannot be read: {exc}") from None
    if not rows:
        raise DatasetError(f"manifest {manifest} lists no cases")
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise DatasetError(f"manifest {manifest} lacks the column(s) {', '.join(missing)}")
    pairs, seen = [], set()
    for line, row in enumerate(rows, start=2):
        row = {(k or "").strip(): (v or "").strip() for k, v in row.items()}
        att_name, dark_name = row.get("attenuation", ""), row.get("darkfield", "")
        case = row.get("case") or Path(att_name).stem or f"line {line}"
        if case in seen:
            problems.append(DatasetProblem(case, f"listed twice in {manifest.name} (line {line})"))
            continue
        seen.add(case)
        if not att_name or not dark_name:
            problems.append(DatasetProblem(case, f"line {line} of {manifest.name} lacks an attenuation or darkfield path"))
            continue
        split = (row.get("split") or "").lower() or hash_split(case)
        if split not in SPLITS:
            problems.append(DatasetProblem(case, f"unknown split {split!r} (use train, val or test)"))
            continue
        a, d = root / att_name, root / dark_name
        gone = [str(Path(n)) for n, p in ((att_name, a), (dark_name, d)) if not p.is_file()]
        if gone:
            problems.append(DatasetProblem(case, f"missing file {' and '.join(gone)}"))
            continue
        mask = root / row["lung_mask"] if row.get("lung_mask") else None
        if mask is not None and not mask.is_file():
            problems.append(DatasetProblem(case, f"lung mask {row['lung_mask']} is missing; evaluating on the whole image", False))
            mask = None
        flags = {c: _flag(row.get(c)) for c in FLAG_COLUMNS if c in row}
        extras = {c: root / row[c] for c in EXTRA_COLUMNS if row.get(c) and (root / row[c]).is_file()}
        pairs.append(Pair(case, a, d, split, lung_mask=mask, flags=flags, extras=extras, row=row))
    return pairs


def locate(path: str | Path) -> tuple[Path, Path | None]:
    """``(root, manifest or None)`` for a dataset folder or a manifest file."""
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"dataset {path} does not exist")
    if path.is_file():
        if path.suffix.lower() != ".csv":
            raise DatasetError(f"{path} is neither a dataset folder nor a manifest .csv file")
        return path.parent, path
    if (path / MANIFEST_NAME).is_file():
        return path, path / MANIFEST_NAME
    if (path / "attenuation").is_dir() and (path / "darkfield").is_dir():
        return path, None
    raise DatasetError(
        f"folder {path} holds neither a {MANIFEST_NAME} nor attenuation/ and darkfield/ subfolders"
    )


def combine_datasets(sources: list[str | Path], out: str | Path) -> tuple[Path, dict[str, int]]:
    """Write one manifest that lists the pairs of several datasets; return it and the pairs per split.

    ``out`` is a ``.csv`` path or a folder (then ``out/manifest.csv``). Each source (a dataset
    folder or manifest) keeps its splits, flags, masks and other columns; case names get the
    source folder's name as a prefix so they stay unique. Paths are written relative to the new
    manifest's folder and no image is copied. Raises :class:`DatasetError` naming the first
    problem of a source that could not be trained on as it is.
    """
    out = Path(out)
    manifest = out if out.suffix.lower() == ".csv" else out / MANIFEST_NAME
    base = manifest.parent.resolve()
    columns: dict[str, None] = {}
    rows: list[dict[str, str]] = []
    prefixes: set[str] = set()
    for source in sources:
        root, src_manifest = locate(source)
        if src_manifest is not None and src_manifest.resolve() == manifest.resolve():
            raise DatasetError(f"{manifest} is the manifest of {source}; write the combined one elsewhere")
        problems: list[DatasetProblem] = []
        pairs = _from_manifest(src_manifest, problems) if src_manifest else _from_folders(root, problems)
        bad = [p for p in problems if p.blocking]
        if bad:
            more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
            raise DatasetError(f"dataset {source} cannot be combined: {bad[0]}{more}")
        prefix = root.resolve().name or "data"
        while prefix in prefixes:
            prefix += "_"
        prefixes.add(prefix)
        for pair in pairs:
            row = {"case": f"{prefix}_{pair.case}", "attenuation": _relocated(pair.attenuation, base),
                   "darkfield": _relocated(pair.darkfield, base), "split": pair.split,
                   "lung_mask": _relocated(pair.lung_mask, base) if pair.lung_mask else ""}
            # other columns naming a file of the source (masks, clean truth...) point there from the new folder
            row |= {k: _relocated(root / v, base) if v and (root / v).is_file() else v
                    for k, v in pair.row.items() if k not in row}
            columns.update(dict.fromkeys(row))
            rows.append(row)
    if not rows:
        raise DatasetError("there are no pairs to combine")
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), restval="", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(manifest, buffer.getvalue())
    counts = Counter(r["split"] for r in rows)
    return manifest, {s: counts.get(s, 0) for s in SPLITS}


def _relocated(file: Path, base: Path) -> str:
    return Path(os.path.relpath(file.resolve(), base)).as_posix()


def check_dataset(path: str | Path, cache: dict[Path, np.ndarray] | None = None) -> DatasetReport:
    """Find every pair under ``path`` and read each file once; list all problems.

    Reports missing partners or files, unreadable files and size mismatches as blocking
    problems (those pairs are left out of ``report.pairs``) and a missing validation split
    or unusable lung masks as notes. Pass ``cache`` (a dict) to keep the decoded pixels.
    Raises :class:`DatasetError` only when nothing can be listed at all.
    """
    root, manifest = locate(path)
    problems: list[DatasetProblem] = []
    found = _from_manifest(manifest, problems) if manifest else _from_folders(root, problems)
    formats: Counter[str] = Counter()
    sizes: Counter[str] = Counter()
    good = []
    for pair in found:
        shapes, failed = {}, False
        for role, file in (("attenuation", pair.attenuation), ("darkfield", pair.darkfield)):
            try:
                pixels = read_pixels(file)
            except BaseException as exc:  # noqa: BLE001 - any reader failure (a decoder panic too) is reported
                if isinstance(exc, STOP_EXCEPTIONS):
                    raise
                reason = failure_reason(exc).rstrip(".")
                problems.append(DatasetProblem(pair.case, f"{role} file {_rel(file, root)} is unreadable ({reason})",
                                               split=pair.split))
                failed = True
                continue
            if not np.isfinite(pixels).all():
                problems.append(DatasetProblem(pair.case, f"{role} file {_rel(file, root)} contains NaN or infinite values",
                                               split=pair.split))
                failed = True
                continue
            shapes[role] = pixels.shape
            formats[file.suffix.lower().lstrip(".") or "dicom"] += 1
            if cache is not None:
                cache[file] = pixels
        if failed:
            continue
        if shapes["attenuation"] != shapes["darkfield"]:
            a, d = shapes["attenuation"], shapes["darkfield"]
            problems.append(DatasetProblem(
                pair.case, f"size mismatch: attenuation is {a[0]}x{a[1]} but darkfield is {d[0]}x{d[1]} pixels",
                split=pair.split,
            ))
            continue
        pair.shape = shapes["attenuation"]
        if pair.lung_mask is not None:
            try:
                mask = read_pixels(pair.lung_mask)
                if mask.shape != pair.shape:
                    raise ValueError(f"it is {mask.shape[0]}x{mask.shape[1]}, not {pair.shape[0]}x{pair.shape[1]}")
                if cache is not None:
                    cache[pair.lung_mask] = mask
            except BaseException as exc:  # noqa: BLE001
                if isinstance(exc, STOP_EXCEPTIONS):
                    raise
                reason = failure_reason(exc).rstrip(".")
                problems.append(DatasetProblem(
                    pair.case, f"lung mask {_rel(pair.lung_mask, root)} is unusable ({reason}); using the whole image",
                    False, pair.split,
                ))
                pair.lung_mask = None
        sizes[f"{pair.shape[0]}x{pair.shape[1]}"] += 1
        good.append(pair)
    report = DatasetReport(root, "manifest" if manifest else "folders", good, problems, dict(formats), dict(sizes))
    if not found:
        problems.append(DatasetProblem("", "no image pairs found"))
    elif report.splits["train"] == 0:
        problems.append(DatasetProblem("", "no usable pairs in the train split", blocking=False))
    if found and report.splits["val"] == 0:
        problems.append(DatasetProblem("", "no validation pairs: the best checkpoint is chosen on the last epoch", False))
    return report


def _rel(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


# --- geometry shared with the predictor --------------------------------------------------
