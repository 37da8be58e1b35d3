"""Export what the panels show: PNG with colorbar, float32 TIFF, derived DICOM. Qt-free.

A single map goes through the IO layer's ``render_png`` with the panel's colormap, window and
crop, so the file's image area holds exactly the panel's pixels. A blended overlay (map over
dark-field or attenuation) is written in the same layout from the panel's composed pixels,
with the map's colorbar beside it. Nothing here asks about overwriting:
:mod:`dfviewer.display.export_plan` lists the files first so the GUI can ask.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from dfviewer.atomic import atomic_path
from dfviewer.display.crop import Box, crop
from dfviewer.display.export_plan import PlannedFile
from dfviewer.display.layers import Layer
from dfviewer.display.maps import MAPS


def _mask(array: np.ndarray) -> np.ndarray | None:
    """Finite pixels (None when all are): NaN pixels are transparent on screen and in files."""
    finite = np.isfinite(array)
    return None if finite.all() else finite


def export_layer(path: str | Path, layer: Layer, box: Box | None) -> Path:
    """Write the panel ``layer`` (cropped to ``box``) as a PNG with a colorbar.

    A single map goes through the IO layer's ``render_png``; a blended overlay uses the same
    layout (``render_rgba`` of the map, for title and colorbar) with the panel's composed pixels
    pasted into the image area.
    """
    from dfviewer.io.png_export import render_rgba

    path = Path(path)
    array = crop(layer.array, box)
    if layer.base_key is None:
        from dfviewer.io import render_png

        render_png(path, array, colormap=layer.colormap, window=layer.window, colorbar=True,
                   title=layer.title, units=layer.units, mask=_mask(array))
        return path
    from PIL import Image

    canvas, layout = render_rgba(array, colormap=layer.colormap, window=layer.window, colorbar=True,
                                 title=layer.title, units=layer.units)
    rgba = np.ascontiguousarray(crop(layer.rgba, box))
    pixels = Image.fromarray(rgba, "RGBA")
    if canvas.mode == "RGB":
        pixels = pixels.convert("RGB")
    canvas.paste(pixels, layout.image_box[:2])
    with atomic_path(path) as tmp:
        canvas.save(tmp, format="PNG")
    return path


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
            cropped = crop(array, box)
            render_png(item.path, cropped, colormap=info.colormap, window=state.window(item.key),
                       colorbar=True, title=f"{info.label}{stage_text}", units=info.units, mask=_mask(cropped))
        elif item.kind == "tiff":
            write_tiff(item.path, crop(array, box).astype(np.float32),
                       description=f"{info.label}{stage_text}; units {info.units or 'none'}; model {model_name}")
        elif item.kind == "dicom":
            from dfviewer.io import write_derived_dicom

            write_derived_dicom(item.path, array.astype(np.float32), state.radiograph, item.stage, model_name,
                                window=state.window("mean"), units=info.units)
        written.append(item.path)
    return written
