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
Finding the pairs is :mod:`~dfviewer.core.dataset_pairs`; :func:`~dfviewer.core.dataset_combine.combine_datasets`
writes one manifest over several datasets (``dfviewer combine``).
The wizard checks data with this module in its GUI process, without loading torch.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dfviewer.core.dataset_pairs import (  # re-exported: the names callers use with check_dataset
    SPLITS,
    DatasetError,
    DatasetProblem,
    Pair,
    hash_split,
    locate,
    pairs_from_folders,
    pairs_from_manifest,
)
from dfviewer.errors import STOP_EXCEPTIONS, failure_reason
from dfviewer.io.reader import read_pixels

# --- the report ------------------------------------------------------------------------


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


def check_dataset(path: str | Path, cache: dict[Path, np.ndarray] | None = None) -> DatasetReport:
    """Find every pair under ``path`` and read each file once; list all problems.

    Reports missing partners or files, unreadable files and size mismatches as blocking
    problems (those pairs are left out of ``report.pairs``) and a missing validation split
    or unusable lung masks as notes. Pass ``cache`` (a dict) to keep the decoded pixels.
    Raises :class:`DatasetError` only when nothing can be listed at all.
    """
    root, manifest = locate(path)
    problems: list[DatasetProblem] = []
    found = pairs_from_manifest(manifest, problems) if manifest else pairs_from_folders(root, problems)
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


__all__ = ["SPLITS", "DatasetError", "DatasetProblem", "DatasetReport", "Pair", "check_dataset", "hash_split",
           "locate", "read_pixels"]
