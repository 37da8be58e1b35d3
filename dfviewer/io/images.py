"""Plain image files as radiographs: PNG (8/16-bit), JPEG, TIFF (integer or float) and NPY.

These formats carry no photometric tag a viewer can trust, so the values are taken as shown:
a bright pixel is a strongly attenuating one, as on every exported chest X-ray.
"""

from __future__ import annotations

import struct
import warnings
from pathlib import Path

import numpy as np

from dfviewer.errors import first_line
from dfviewer.io import tiff_photometric as tp
from dfviewer.io.errors import RadiographError
from dfviewer.io.limits import check_declared
from dfviewer.io.radiograph import Radiograph, auto_window

PIL_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"}
TIFF_SUFFIXES = {".tif", ".tiff"}
NPY_SUFFIXES = {".npy"}
PLAIN_IMAGE_SUFFIXES = PIL_SUFFIXES | TIFF_SUFFIXES | NPY_SUFFIXES
#: a trailing NPY axis this short holds channels (gray, gray + alpha, RGB, RGBA), not columns
NPY_MAX_CHANNELS = 4


def check_size(path: Path, shape: tuple[int, ...], itemsize: int = 1) -> None:
    """Refuse an empty, absurdly large or many-channelled array shape, every axis counted."""
    shape = tuple(int(n) for n in shape)
    if len(shape) < 2 or min(shape) < 1:
        raise RadiographError(path, f"the image has no pixels (shape {shape})")
    if len(shape) > 3:
        squeezed = tuple(n for n in shape if n != 1)
        if len(squeezed) > 3:
            raise RadiographError(path, f"the image has shape {shape}, not a 2-D gray or colour image")
        shape = squeezed if len(squeezed) >= 2 else shape[-2:]
    if len(shape) == 3:
        channel_first = shape[0] <= 4 < shape[-1]
        samples = shape[0] if channel_first else shape[2]
        rows, cols = (shape[1], shape[2]) if channel_first else (shape[0], shape[1])
    else:
        (rows, cols), samples = shape, 1
    check_declared(path, rows, cols, samples, 8 * itemsize)


def to_gray(array: np.ndarray, path: Path, warn: list[str], channel_axis: int = -1) -> np.ndarray:
    """A 2-D float32 image from gray, gray+alpha, RGB or RGBA data (luma, ITU-R BT.601 weights)."""
    array = np.asarray(array)
    if array.ndim == 2:
        return array.astype(np.float32)
    if array.ndim == 3:
        if channel_axis != -1:
            array = np.moveaxis(array, channel_axis, -1)
        channels = array.shape[-1]
        if channels == 1:
            return array[..., 0].astype(np.float32)
        if channels == 2:  # gray + alpha
            return array[..., 0].astype(np.float32)
        if channels in (3, 4):
            red, green, blue = array[..., 0], array[..., 1], array[..., 2]
            if np.array_equal(red, green) and np.array_equal(green, blue):
                return red.astype(np.float32)
            warn.append("The image is in colour; it was converted to gray (luma).")
            return luma(red, green, blue)
    raise RadiographError(path, f"the image has shape {tuple(array.shape)}, not a 2-D gray or colour image")


def luma(red: np.ndarray, green: np.ndarray, blue: np.ndarray) -> np.ndarray:
    """ITU-R BT.601 luma as float32, one channel at a time (no full-size float RGB copy)."""
    gray = np.multiply(red, np.float32(0.299), dtype=np.float32)
    gray += np.multiply(green, np.float32(0.587), dtype=np.float32)
    gray += np.multiply(blue, np.float32(0.114), dtype=np.float32)
    return gray


def finish(path: Path, pixels: np.ndarray, fmt: str, warn: list[str], frame: int, n_frames: int,
           extra: dict[str, str] | None = None) -> Radiograph:
    pixels = np.ascontiguousarray(pixels, dtype=np.float32)
    if not np.isfinite(pixels).any():
        raise RadiographError(path, "the image has no finite pixel values")
    window = auto_window(pixels)
    metadata = {"format": fmt, "frames": str(n_frames)}
    metadata.update(extra or {})
    return Radiograph(
        pixels=pixels, window=window, window_presets=[("Auto (0.5-99.5 %)", *window)],
        pixel_spacing=None, spacing_known=False, metadata=metadata, warnings=warn,
        source=path, dataset=None, frame=frame, n_frames=n_frames,
    )


def pick_frame(path: Path, frame: int, n_frames: int) -> int:
    if not -n_frames <= frame < n_frames:
        raise RadiographError(path, f"frame {frame} was asked for but the file has {n_frames} frame(s)")
    return frame % n_frames


def read_pil(path: Path, frame: int = 0) -> Radiograph:
    """PNG, JPEG (and BMP/GIF/WebP) through Pillow; 16-bit PNGs keep their full range."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    warn: list[str] = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own size limit applies
            with Image.open(path) as img:
                check_declared(path, int(img.height), int(img.width), max(len(img.getbands()), 1),
                               _pil_bits(img.mode))
                n_frames = int(getattr(img, "n_frames", 1) or 1)
                index = pick_frame(path, frame, n_frames)
                if index:
                    img.seek(index)
                    check_declared(path, int(img.height), int(img.width), max(len(img.getbands()), 1),
                                   _pil_bits(img.mode))
                fmt = img.format or path.suffix.lstrip(".").upper()
                mode = img.mode
                pil: Image.Image = img
                orientation = _orientation(img)
                if orientation != 1:  # a camera's EXIF rotation / mirroring of the stored pixels
                    pil = ImageOps.exif_transpose(img)
                if mode == "P":
                    pil = pil.convert("RGBA" if "transparency" in img.info else "RGB")
                elif mode in ("CMYK", "YCbCr", "LAB", "HSV"):
                    pil = pil.convert("RGB")
                elif mode == "1":
                    pil = pil.convert("L")
                array = np.array(pil)
    except RadiographError:
        raise
    except Image.DecompressionBombError:
        raise RadiographError(path, "the image is larger than this viewer accepts") from None
    except UnidentifiedImageError as exc:
        raise RadiographError(path, f"it is not an image Pillow can decode ({type(exc).__name__})") from None
    except (OSError, ValueError, SyntaxError, EOFError, IndexError, TypeError, struct.error) as exc:
        raise RadiographError(path, f"the image data is damaged or truncated ({first_line(exc)})") from None
    pixels = to_gray(array, path, warn)
    extra = {"mode": mode}
    if orientation != 1:
        extra["exif_orientation"] = str(orientation)
    return finish(path, pixels, fmt, warn, index, n_frames, extra)


def read_tiff(path: Path, frame: int = 0) -> Radiograph:
    """TIFF through tifffile (float32, 16-bit, multi-page); the page index is the frame."""
    import tifffile

    warn: list[str] = []
    try:
        with tifffile.TiffFile(path) as tif:
            pages = tif.pages
            n_frames = len(pages)
            if n_frames == 0:
                raise RadiographError(path, "the TIFF file has no pages")
            index = pick_frame(path, frame, n_frames)
            page = pages[index]
            check_size(path, tuple(page.shape) if page.shape else (0, 0), int(np.dtype(page.dtype).itemsize)
                       if page.dtype is not None else 1)
            if page.dtype is not None and np.dtype(page.dtype).kind == "c":
                raise RadiographError(path, "its samples are complex numbers, which are not an image of intensities")
            photometric = getattr(page, "photometric", None)
            photometric = None if photometric is None else int(photometric)
            bits = int(getattr(page, "bitspersample", 0) or 0)
            colormap = getattr(page, "colormap", None) if photometric == tp.PALETTE else None
            inkset = int(_tag(page, "InkSet", 1))
            declared = (_tag(page, "SMinSampleValue", None), _tag(page, "SMaxSampleValue", None))
            array = page.asarray()
            axes = str(getattr(page, "axes", "") or "")
            description = str(getattr(page, "description", "") or "")
    except RadiographError:
        raise
    except Exception as exc:  # noqa: BLE001 - tifffile raises many types for damaged files
        raise RadiographError(path, f"it is not a readable TIFF image ({first_line(exc)})") from None
    array = np.asarray(array)
    if array.dtype.kind == "c":
        raise RadiographError(path, "its samples are complex numbers, which are not an image of intensities")
    if "S" in axes and array.ndim == len(axes) and axes.index("S") != array.ndim - 1:
        # planar (separate) samples: the page says which axis holds them; a 3- or 4-pixel-wide
        # image must not be taken for channels last
        array = np.moveaxis(array, axes.index("S"), -1)
    if photometric == tp.PALETTE:
        pixels = tp.palette_to_gray(path, array, colormap, warn)
    elif photometric == tp.SEPARATED:
        pixels = tp.cmyk_to_gray(path, array, bits, inkset, warn)
    elif array.ndim == 3 and array.shape[0] in (3, 4) and array.shape[-1] not in (3, 4):
        pixels = to_gray(array, path, warn, channel_axis=0)
    else:
        pixels = to_gray(np.squeeze(array) if array.ndim > 3 else array, path, warn)
    if photometric == tp.MINISWHITE:
        pivot_range = _range(declared)
        pixels = tp.invert_min_is_white(pixels, array.dtype, bits, pivot_range)
        warn.append("The TIFF is stored white-is-zero (MinIsWhite); it was inverted.")
    extra = {"description": description[:200]} if description else {}
    return finish(path, pixels, "TIFF", warn, index, n_frames, extra)


def read_npy(path: Path, frame: int = 0) -> Radiograph:
    """A NumPy ``.npy`` array, by its shape.

    (H, W): gray. (H, W, C) with C of 1 to 4: one image, C channels last (gray, gray + alpha, RGB,
    RGBA), so (1, W, 3) is a one-row colour image. Any other 3-D shape (N, H, W): N frames, frames
    first. (N, H, W, C) with C of 1 to 4: N frames of C channels. Anything else is refused.
    """
    warn: list[str] = []
    try:
        array = np.load(path, allow_pickle=False, mmap_mode="r")
    except Exception as exc:  # noqa: BLE001 - np.load raises ValueError/OSError/EOFError/...
        raise RadiographError(path, f"it is not a readable NumPy array file ({first_line(exc)})") from None
    if array.dtype.kind not in "biuf":
        raise RadiographError(path, f"the array holds {array.dtype} values, not numbers")
    n_frames = 1
    index = 0
    channels_last = array.ndim >= 3 and 1 <= array.shape[-1] <= NPY_MAX_CHANNELS
    if (array.ndim == 3 and not channels_last) or (array.ndim == 4 and channels_last):
        n_frames = array.shape[0]
        index = pick_frame(path, frame, n_frames)
        array = array[index]
    if array.ndim not in (2, 3):
        raise RadiographError(path, f"the array has shape {tuple(array.shape)}, not a 2-D image")
    check_size(path, array.shape, array.dtype.itemsize)
    pixels = to_gray(np.asarray(array), path, warn)
    return finish(path, pixels, "NPY", warn, index, n_frames)


def _orientation(img) -> int:
    """The EXIF Orientation (1-8) of a Pillow image; 1 when absent or invalid."""
    try:
        value = int(img.getexif().get(0x0112, 1))
    except Exception:  # noqa: BLE001 - a damaged EXIF block is ignored, as every viewer does
        return 1
    return value if 1 <= value <= 8 else 1


def _tag(page, name: str, default):
    """A TIFF tag's single value, or ``default`` when it is absent or not a single number."""
    tag = page.tags.get(name)
    value = getattr(tag, "value", None)
    if isinstance(value, (tuple, list)):
        value = value[0] if len(value) == 1 or len(set(value)) == 1 else None
    try:
        return float(value) if name.startswith("SM") else int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return default


def _range(declared: tuple[float | None, float | None]) -> tuple[float, float] | None:
    low, high = declared
    if low is None or high is None or not low < high:
        return None
    return float(low), float(high)


def _pil_bits(mode: str) -> int:
    """Bits per band of a Pillow mode (16 for "I;16" and friends, 32 for "I" and "F")."""
    if mode.startswith("I;16"):
        return 16
    if mode in ("I", "F"):
        return 32
    return 8
