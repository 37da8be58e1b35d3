"""The files an export writes and their names, for the viewer and ``dfviewer predict``. Qt-free.

One naming: ``<stem>_stage<k>_<map>.<ext>`` with the map's ``file_name`` from the table of maps
(the generated dark-field is ``darkfield``), and ``<stem>_<map>.<ext>`` for maps without a stage.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from dfviewer.display.maps import MAPS, PREDICTED_MAPS, STAGE_MAPS


def map_file_name(stem: str, key: str, stage: int | None, ext: str) -> str:
    """``<stem>_stage<k>_<map>.<ext>`` (``<stem>_<map>.<ext>`` when ``stage`` is None)."""
    name = MAPS[key].file_name
    middle = f"_stage{stage}_{name}" if stage is not None else f"_{name}"
    return f"{stem}{middle}.{ext.lstrip('.')}"


def panel_file_name(stem: str, key: str, stage: int | None, base: str | None = None) -> str:
    """The suggested PNG name of one panel: the map, its stage and what it is blended over."""
    over = f"_over_{base}" if base else ""
    return map_file_name(stem, key, stage, "png").removesuffix(".png") + over + ".png"


@dataclass
class ExportOptions:
    png: bool = True
    tiff: bool = False
    dicom: bool = False


@dataclass
class PlannedFile:
    path: Path
    kind: str  # png, tiff, dicom
    key: str  # map key
    stage: int | None


def plan_all_maps(folder: str | Path, stem: str, stages: Sequence[int], has_truth: bool,
                  options: ExportOptions, dicom_source: bool) -> list[PlannedFile]:
    """Every file an "export all maps" of the viewer writes."""
    folder = Path(folder)
    files: list[PlannedFile] = []
    if options.png:
        for key in ["attenuation"] + (["truth"] if has_truth else []):
            files.append(PlannedFile(folder / map_file_name(stem, key, None, "png"), "png", key, None))
    for stage in stages:
        for key in STAGE_MAPS:
            if key == "error" and not has_truth:
                continue
            for kind in ("png", "tiff"):
                if getattr(options, kind):
                    files.append(PlannedFile(folder / map_file_name(stem, key, stage, kind), kind, key, stage))
        if options.dicom and dicom_source:
            files.append(PlannedFile(folder / map_file_name(stem, "mean", stage, "dcm"), "dicom", "mean", stage))
    return files


def plan_predictions(folder: str | Path, stem: str, stages: Sequence[int], kind: str) -> list[PlannedFile]:
    """The files ``dfviewer predict`` writes for one input: every predicted map of every stage."""
    folder = Path(folder)
    return [PlannedFile(folder / map_file_name(stem, key, stage, kind), kind, key, stage)
            for stage in stages for key in PREDICTED_MAPS]
