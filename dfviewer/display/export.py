"""Export what the panels show: PNG with colorbar, float32 TIFF, derived DICOM. Qt-free.

A single map goes through the IO layer's ``render_png`` with the panel's colormap, window and
crop, so the file's image area holds exactly the panel's pixels. A blended overlay (map over
dark-field or attenuation) is written in the same layout from the panel's composed pixels,
with the map's colorbar beside it. Nothing here asks about overwriting:
:mod:`dfviewer.display.export_plan` lists the files first so the GUI can ask.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dfviewer.display.crop import Box, crop
from dfviewer.display.export_plan import PlannedFile
from dfviewer.display.layers import Layer
from dfviewer.display.maps import MAPS
from dfviewer.display.viewer_state import ViewerState


def _mask(array: np.ndarray) -> np.ndarray | None:
    """Finite pixels (None when all are): NaN pixels are transparent on screen and in files."""
    finite = np.isfinite(array)
    return None if finite.all() else finite


def export_layer(path: str | Path, layer: Layer, box: Box | None, title: str | None = None,
                 warning: str = "") -> Path:
    """Write the panel ``layer`` (cropped to ``box``) as a PNG with a colorbar.

    A single map goes through the IO layer's ``render_png``; a blended overlay uses the same
    layout (``render_rgba`` of the map, for title and colorbar) with the panel's composed pixels
    pasted into the image area. ``title`` (default: the layer's) heads the file; a ``warning``
    about the input is printed under it and kept in the PNG's text.
    """
    from dfviewer.io.png_export import render_rgba, save_png

    path = Path(path)
    title = layer.title if title is None else title
    array = crop(layer.array, box)
    if layer.base_key is None:
        from dfviewer.io import render_png

        render_png(path, array, colormap=layer.colormap, window=layer.window, colorbar=True,
                   title=title, units=layer.units, mask=_mask(array), warning=warning)
        return path
    from PIL import Image

    canvas, layout = render_rgba(array, colormap=layer.colormap, window=layer.window, colorbar=True,
                                 title=title, units=layer.units, warning=warning)
    rgba = np.ascontiguousarray(crop(layer.rgba, box))
    pixels = Image.fromarray(rgba, "RGBA")
    if canvas.mode == "RGB":
        pixels = pixels.convert("RGB")
    canvas.paste(pixels, layout.image_box[:2])
    return save_png(canvas, path, title, warning)


def export_title(stem: str, label: str, stage: int | None = None, window: str = "") -> str:
    """The title strip of an exported map: case, stage, map and where its window comes from."""
    parts = [stem] + ([f"stage {stage}"] if stage else []) + [label]
    return ", ".join(parts) + (f" (window: {window})" if window else "")


#: the array of one planned file (None: nothing to write for it)
ArrayOf = Callable[[PlannedFile], np.ndarray | None]


def write_map_files(files: Sequence[PlannedFile], array_of: ArrayOf,
                    png_args: Callable[[PlannedFile], dict[str, Any]],
                    tiff_description: Callable[[PlannedFile], str],
                    write_dicom: Callable[[PlannedFile, np.ndarray], None] | None = None) -> list[Path]:
    """The one export loop of the viewer and ``dfviewer predict``: every planned file from its array.

    One array at a time is asked for, written and let go (a big input's full-resolution maps are
    never all held). ``png_args`` gives :func:`~dfviewer.io.render_png`'s settings of a PNG,
    ``tiff_description`` a TIFF's description, ``write_dicom`` writes a derived DICOM. All PNGs get
    :func:`one_png_size`, so they tile. Returns the paths written, in the order of ``files``.
    """
    from dfviewer.io import render_png, write_tiff

    size = one_png_size(files, array_of, png_args)
    written = []
    for item in files:
        array = array_of(item)
        if array is None:
            continue
        if item.kind == "png":
            render_png(item.path, array, **png_args(item), size=size)
        elif item.kind == "tiff":
            write_tiff(item.path, array, tiff_description(item))
        elif item.kind == "dicom" and write_dicom is not None:
            write_dicom(item, array)
        else:
            raise ValueError(f"no writer for {item.kind} files")
        del array
        written.append(item.path)
    return written


def one_png_size(files: Sequence[PlannedFile], array_of: ArrayOf,
                 png_args: Callable[[PlannedFile], dict[str, Any]]) -> tuple[int, int] | None:
    """The one (width, height) of all PNGs among ``files``: the largest of each (the others are padded).

    Maps of one case differ by a few pixels (colorbar labels, data range), so without it they would
    not tile. Each array is asked for, measured and let go (nothing is drawn); None without PNGs.
    """
    from dfviewer.io.png_export import png_size

    sizes = []
    for item in files:
        if item.kind == "png":
            array = array_of(item)
            if array is not None:
                sizes.append(png_size(array, **png_args(item)))
            del array
    return (max(w for w, _ in sizes), max(h for _, h in sizes)) if sizes else None


def write_planned(files: list[PlannedFile], state: ViewerState, model_name: str, warning: str = "") -> list[Path]:
    """Write the planned files from the viewer state (windows and crop as shown).

    Every PNG of one call has the same pixel size (the largest, the others padded) so they tile;
    each stage's map has that stage's window (see :meth:`ViewerState.window`), named in its title.
    A ``warning`` about the input goes into every PNG (title strip and text), TIFF description and
    derived DICOM (Image Comments, SeriesDescription).
    """
    from dfviewer.io.png_export import warning_sentence

    box = state.active_crop
    stem = state.path.stem if state.path else "image"
    note = f"; warning: {warning_sentence(warning)}" if warning else ""
    pngs: dict[int, dict[str, Any]] = {}
    for item in files:
        array = state.array(item.key, item.stage)
        if item.kind == "png" and array is not None:
            info = MAPS[item.key]
            window_text = state.window_source(item.key, item.stage) if item.stage else ""
            title = export_title(stem, info.label, item.stage, window_text)
            cropped = crop(array, box)
            pngs[id(item)] = dict(colormap=info.colormap, window=state.window(item.key, item.stage), colorbar=True,
                                  title=title, units=info.units, mask=_mask(cropped), warning=warning)

    def array_of(item: PlannedFile) -> np.ndarray | None:
        array = state.array(item.key, item.stage)
        if array is None or item.kind == "dicom":  # a derived DICOM holds the whole image
            return None if array is None else array.astype(np.float32)
        cropped = crop(array, box)
        return cropped if item.kind == "png" else cropped.astype(np.float32)

    def tiff_description(item: PlannedFile) -> str:
        info = MAPS[item.key]
        stage_text = f", stage {item.stage}" if item.stage else ""
        return f"{info.label}{stage_text}; units {info.units or 'none'}; model {model_name}{note}"

    def write_dicom(item: PlannedFile, array: np.ndarray) -> None:
        from dfviewer.io import write_derived_dicom

        write_derived_dicom(item.path, array, state.radiograph, item.stage, model_name,
                            window=state.window("mean", item.stage), units=MAPS[item.key].units, warning=warning)

    return write_map_files(files, array_of, lambda item: pngs[id(item)], tiff_description, write_dicom)
