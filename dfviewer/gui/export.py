"""Export what the panels show: PNG with colorbar, float32 TIFF, derived DICOM. Qt-free.

A single map goes through the IO layer's ``render_png`` with the panel's colormap, window and
crop, so the file's image area holds exactly the panel's pixels. A blended overlay (map over
dark-field or attenuation) is written in the same layout from the panel's composed pixels,
with the map's colorbar beside it. Nothing here asks about overwriting; :func:`plan_all_maps` lists the files
first so the GUI can ask.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dfviewer.atomic import atomic_path
from dfviewer.gui.layers import Layer, crop_rgba
from dfviewer.gui.maps import MAPS

STAGE_MAPS = ("mean", "alpha", "beta", "aleatoric", "epistemic", "total", "error")


def crop_array(array: np.ndarray, box: tuple[int, int, int, int] | None) -> np.ndarray:
    if box is None:
        return array
    r0, r1, c0, c1 = box
    return array[r0:r1, c0:c1]


def _mask(array: np.ndarray) -> np.ndarray | None:
    """Finite pixels (None when all are): NaN pixels are transparent on screen and in files."""
    finite = np.isfinite(array)
    return None if finite.all() else finite


def export_layer(path: str | Path, layer: Layer, box: tuple[int, int, int, int] | None) -> Path:
    """Write the panel ``layer`` (cropped to ``box``) as a PNG with a colorbar.

    A single map goes through the IO layer's ``render_png``; a blended overlay uses the same
    layout (``render_rgba`` of the map, for title and colorbar) with the panel's composed pixels
    pasted into the image area.
    """
    from dfviewer.io.png_export import render_rgba

    path = Path(path)
    array = crop_array(layer.array, box)
    if layer.base_key is None:
        from dfviewer.io import render_png

        render_png(path, array, colormap=layer.colormap, window=layer.window, colorbar=True,
                   title=layer.title, units=layer.units, mask=_mask(array))
        return path
    from PIL import Image

    canvas, layout = render_rgba(array, colormap=layer.colormap, window=layer.window, colorbar=True,
                                 title=layer.title, units=layer.units)
    rgba = np.ascontiguousarray(crop_rgba(layer.rgba, box))
    pixels = Image.fromarray(rgba, "RGBA")
    if canvas.mode == "RGB":
        pixels = pixels.convert("RGB")
    canvas.paste(pixels, layout.image_box[:2])
    with atomic_path(path) as tmp:
        canvas.save(tmp, format="PNG")
    return path


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


def plan_all_maps(folder: str | Path, stem: str, stages: list[int], has_truth: bool,
                  options: ExportOptions, dicom_source: bool) -> list[PlannedFile]:
    """Every file an "export all maps" writes, with clear names."""
    folder = Path(folder)
    files: list[PlannedFile] = []
    singles = ["attenuation"] + (["truth"] if has_truth else [])
    for key in singles:
        if options.png:
            files.append(PlannedFile(folder / f"{stem}_{key}.png", "png", key, None))
    for stage in stages:
        for key in STAGE_MAPS:
            if key == "error" and not has_truth:
                continue
            name = "darkfield" if key == "mean" else key
            if options.png:
                files.append(PlannedFile(folder / f"{stem}_stage{stage}_{name}.png", "png", key, stage))
            if options.tiff:
                files.append(PlannedFile(folder / f"{stem}_stage{stage}_{name}.tiff", "tiff", key, stage))
        if options.dicom and dicom_source:
            files.append(PlannedFile(folder / f"{stem}_stage{stage}_darkfield.dcm", "dicom", "mean", stage))
    return files


def write_planned(files: list[PlannedFile], state: Any, model_name: str) -> list[Path]:
    """Write the planned files from the viewer state (windows and crop as shown)."""
    from dfviewer.io import render_png, write_tiff

    box = state.active_crop
    written = []
    for item in files:
        array = state.array(item.key, item.stage)
        if array is None:
            continue
        info = MAPS[item.key]
        stage_text = f", stage {item.stage}" if item.stage else ""
        if item.kind == "png":
            cropped = crop_array(array, box)
            render_png(item.path, cropped, colormap=info.colormap, window=state.window(item.key),
                       colorbar=True, title=f"{info.label}{stage_text}", units=info.units, mask=_mask(cropped))
        elif item.kind == "tiff":
            write_tiff(item.path, crop_array(array, box).astype(np.float32),
                       description=f"{info.label}{stage_text}; units {info.units or 'none'}; model {model_name}")
        elif item.kind == "dicom":
            from dfviewer.io import write_derived_dicom

            write_derived_dicom(item.path, array.astype(np.float32), state.radiograph, item.stage, model_name,
                                window=state.window("mean"), units=info.units)
        written.append(item.path)
    return written
