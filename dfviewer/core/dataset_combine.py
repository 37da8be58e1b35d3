"""``dfviewer combine``: one manifest over the pairs of several datasets, no image copied."""

from __future__ import annotations

import csv
import io
import os
from collections import Counter
from pathlib import Path

from dfviewer.atomic import atomic_write_text
from dfviewer.core.dataset_pairs import (
    MANIFEST_NAME,
    SPLITS,
    DatasetError,
    DatasetProblem,
    locate,
    pairs_from_folders,
    pairs_from_manifest,
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
        pairs = pairs_from_manifest(src_manifest, problems) if src_manifest else pairs_from_folders(root, problems)
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


__all__ = ["combine_datasets"]
