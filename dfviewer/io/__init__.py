"""Radiograph IO, headless (numpy, pydicom, Pillow, tifffile; never Qt or torch).

Reading: :func:`read_radiograph` (DICOM with the full grayscale pipeline, PNG, JPEG, TIFF, NPY).
Writing: :func:`render_png` (colormapped PNG with colorbar), :func:`write_tiff` (float32),
:func:`write_derived_dicom` and :func:`write_dx_dicom`. Re-exported from :mod:`dfviewer.imaging`
for callers of the IO layer: :func:`apply_colormap`, :func:`lung_mask`, :func:`lung_bbox`.
Which files in a folder are radiographs: :mod:`dfviewer.io.file_filters`.
"""

from dfviewer.imaging.colormaps import COLORMAPS, apply_colormap, colormap_lut, window_indices, window_limits
from dfviewer.imaging.lungs import LungBox, LungMaskResult, lung_bbox, lung_mask
from dfviewer.io.dicom_writer import quantization_step, write_derived_dicom, write_dx_dicom
from dfviewer.io.errors import RadiographError
from dfviewer.io.png_export import PngLayout, render_png
from dfviewer.io.radiograph import Radiograph, auto_window
from dfviewer.io.reader import read_pixels, read_radiograph
from dfviewer.io.tiff_export import tiff_description, write_tiff

__all__ = [
    "COLORMAPS", "LungBox", "LungMaskResult", "PngLayout", "Radiograph", "RadiographError", "apply_colormap", "auto_window",
    "colormap_lut", "lung_bbox", "lung_mask", "quantization_step", "read_pixels", "read_radiograph", "render_png", "tiff_description", "window_indices",
    "window_limits", "write_derived_dicom", "write_dx_dicom", "write_tiff",
]
