"""Finding the pairs of a paired dataset: a ``manifest.csv`` or ``attenuation/`` and ``darkfield/`` folders.

Nothing here reads pixels; :func:`~dfviewer.core.dataset_check.check_dataset` does, and reports.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from dfviewer.errors import UserError
from dfviewer.io.reader import RADIOGRAPH_SUFFIXES

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


def hash_split(stem: str) -> str:
    """Deterministic 80/10/10 split from the file name (without extension)."""
    bucket = int(hashlib.sha1(stem.encode("utf-8")).hexdigest(), 16) % 10
    return "train" if bucket < 8 else ("val" if bucket == 8 else "test")


def image_files(folder: Path) -> dict[str, list[Path]]:
    """The radiograph files of ``folder`` by name without extension (hidden files skipped)."""
    found: dict[str, list[Path]] = {}
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or not path.is_file():
            continue
        if path.suffix.lower() not in RADIOGRAPH_SUFFIXES:
            continue
        found.setdefault(path.stem, []).append(path)
    return found


def pairs_from_folders(root: Path, problems: list[DatasetProblem]) -> list[Pair]:
    """Pairs of ``attenuation/`` and ``darkfield/`` files with the same name; what does not pair goes to ``problems``."""
    att = image_files(root / "attenuation")
    dark = image_files(root / "darkfield")
    mask_dir = next((root / m for m in MASK_FOLDERS if (root / m).is_dir()), None)
    masks = image_files(mask_dir) if mask_dir else {}
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


def pairs_from_manifest(manifest: Path, problems: list[DatasetProblem]) -> list[Pair]:
    """The pairs a ``manifest.csv`` lists; bad rows go to ``problems``, an unusable manifest raises."""
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


__all__ = [
    "EXTRA_COLUMNS", "FLAG_COLUMNS", "MANIFEST_NAME", "MASK_FOLDERS", "REQUIRED_COLUMNS", "SPLITS", "DatasetError",
    "DatasetProblem", "Pair", "hash_split", "image_files", "locate", "pairs_from_folders", "pairs_from_manifest",
]
