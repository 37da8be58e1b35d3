"""What a plain image file is (for the viewer's File Info panel): size, bit depth, mode, EXIF orientation. Qt-free."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

#: EXIF Orientation (tag 0x0112) values as words
EXIF_ORIENTATIONS = {
    1: "normal", 2: "mirrored left-right", 3: "rotated 180°", 4: "mirrored top-bottom",
    5: "mirrored and rotated 90° counter-clockwise", 6: "rotated 90° clockwise",
    7: "mirrored and rotated 90° clockwise", 8: "rotated 90° counter-clockwise",
}
_PIL_MODES = {"1": "1-bit black and white", "L": "grey, 8 bit", "P": "palette colour, 8 bit", "RGB": "colour (RGB)",
              "RGBA": "colour with transparency (RGBA)", "LA": "grey with transparency", "I": "grey, 32-bit integer",
              "F": "grey, 32-bit float", "CMYK": "colour (CMYK)", "YCbCr": "colour (YCbCr)"}


def file_size_text(n_bytes: int) -> str:
    """``n_bytes`` in B, kB, MB or GB (powers of 1000)."""
    size = float(n_bytes)
    for unit in ("B", "kB", "MB"):
        if size < 1000:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"


def _pil_rows(path: Path) -> list[tuple[str, str]]:
    from PIL import Image

    with Image.open(path) as img:
        mode = img.mode
        bits = 16 if mode.startswith("I;16") else 32 if mode in ("I", "F") else 1 if mode == "1" else 8
        bands = len(img.getbands())
        rows = [("Bit depth", f"{bits} bit" + (f" x {bands} channels" if bands > 1 else "")),
                ("Mode", f"{mode} ({_PIL_MODES.get(mode, 'grey, 16 bit' if bits == 16 else mode)})")]
        orientation = img.getexif().get(0x0112)
        if orientation is not None:
            words = EXIF_ORIENTATIONS.get(int(orientation), "unknown value")
            rows.append(("EXIF orientation", f"{orientation} ({words})"))
    return rows


def _tiff_rows(path: Path) -> list[tuple[str, str]]:
    import tifffile

    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        dtype = np.dtype(page.dtype)
        kind = "float" if dtype.kind == "f" else "integer"
        rows = [("Bit depth", f"{dtype.itemsize * 8} bit {kind}"),
                ("Samples per pixel", str(getattr(page, "samplesperpixel", 1)))]
        photometric = getattr(page, "photometric", None)
        if photometric is not None:
            rows.append(("Photometric", getattr(photometric, "name", str(photometric))))
    return rows


def _npy_rows(path: Path) -> list[tuple[str, str]]:
    array = np.load(path, allow_pickle=False, mmap_mode="r")
    return [("Data type", str(array.dtype)), ("Array shape", " x ".join(map(str, array.shape)))]


def file_info(radiograph: Any, path: Path | None = None) -> list[tuple[str, str]]:
    """(name, value) rows describing a non-DICOM image file: format, file and pixel size, bit depth, mode,
    EXIF orientation (when the file has one), then the reader's other metadata.

    The file's header is read again for what the reader does not keep; a file that changed or vanished
    meanwhile only loses those rows.
    """
    path = Path(path) if path is not None else getattr(radiograph, "source", None)
    metadata = dict(getattr(radiograph, "metadata", {}) or {})
    h, w = np.shape(radiograph.pixels)
    rows = [("File", path.name if path is not None else "?"), ("Format", metadata.pop("format", "?")),
            ("Image size", f"{w} x {h} px")]
    extra: list[tuple[str, str]] = []
    if path is not None:
        try:
            rows.append(("File size", file_size_text(path.stat().st_size)))
            suffix = path.suffix.lower()
            if suffix in (".tif", ".tiff"):
                extra = _tiff_rows(path)
            elif suffix == ".npy":
                extra = _npy_rows(path)
            else:
                extra = _pil_rows(path)
        except Exception:  # noqa: BLE001 - the panel describes what it can
            extra = []
    rows += extra
    applied = metadata.pop("exif_orientation", None)  # the reader turned the pixels upright
    for i, (name, value) in enumerate(rows):
        if name == "EXIF orientation" and applied:
            rows[i] = (name, f"{value}, applied: the image is shown upright")
    if extra:
        metadata.pop("mode", None)  # described above with its meaning
    frames = metadata.pop("frames", "1")
    if frames != "1":
        rows.append(("Frames", f"{frames} (showing frame {getattr(radiograph, 'frame', 0) + 1})"))
    rows += [(str(k).replace("_", " ").capitalize(), str(v)) for k, v in metadata.items()]
    return rows
