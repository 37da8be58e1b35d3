"""``read_radiograph``: one entry point for DICOM, PNG, JPEG, TIFF and NPY files."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import numpy as np

from dfviewer.errors import cause
from dfviewer.io.errors import RadiographError
from dfviewer.io.images import NPY_SUFFIXES, PLAIN_IMAGE_SUFFIXES, TIFF_SUFFIXES, read_npy, read_pil, read_tiff
from dfviewer.io.limits import MAX_FILE_BYTES
from dfviewer.io.radiograph import Radiograph

log = logging.getLogger(__name__)

DICOM_SUFFIXES = {".dcm", ".dicom", ".dic", ".ima", ""}
#: the formats named when a file is none of them
READABLE_FORMATS = "DICOM, PNG, JPEG, TIFF or NPY"
#: every suffix a radiograph file may have ("" for DICOM files without one)
RADIOGRAPH_SUFFIXES = frozenset(DICOM_SUFFIXES | PLAIN_IMAGE_SUFFIXES)

_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "pil"),
    (b"\xff\xd8\xff", "pil"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
    (b"II+\x00", "tiff"),
    (b"MM\x00+", "tiff"),
    (b"\x93NUMPY", "npy"),
    (b"BM", "pil"),
    (b"GIF8", "pil"),
)


def sniff(path: Path) -> str:
    """'dicom', 'pil', 'tiff', 'npy' or '' from the first bytes (the suffix decides ties)."""
    with open(path, "rb") as handle:
        head = handle.read(132)
    if len(head) >= 132 and head[128:132] == b"DICM":
        return "dicom"
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    if head.startswith(b"RIFF") and b"WEBP" in head[:16]:
        return "pil"
    return ""


def _starts_like_bare_dicom(path: Path) -> bool:
    """A data set without preamble and file meta starts with group 0008 (read as DICOM, see open_dataset)."""
    with open(path, "rb") as handle:
        return handle.read(2) == b"\x08\x00"


def read_radiograph(path: str | os.PathLike, frame: int = 0, force: bool = False) -> Radiograph:
    """Read one frame of a radiograph file into a :class:`Radiograph` (see its docstring).

    DICOM (any transfer syntax pydicom and the pylibjpeg plugins decode), PNG (8/16-bit), JPEG,
    TIFF (integer or float32; pages are frames) and NPY (2-D, or frames first). ``frame`` picks
    a frame of a multi-frame file (negative counts from the end). ``force=True`` also reads DICOM
    data sets without the 128-byte preamble and file meta header. Any file that cannot be used
    raises :class:`RadiographError` with one sentence naming the file and the reason: this is the
    boundary, so any other failure of a decoder (a Rust panic included) becomes that sentence too,
    with its traceback in the log.
    """
    path = Path(path)
    try:
        return _read(path, frame, force)
    except (RadiographError, KeyboardInterrupt, SystemExit, GeneratorExit):
        raise
    except MemoryError:
        raise RadiographError(path, "decoding it needs more memory than is available") from None
    except RecursionError:
        raise RadiographError(path, "its structure is nested too deeply to read") from None
    except BaseException as exc:  # noqa: BLE001 - the last-resort guard of the boundary
        log.debug("unexpected failure reading %s", path, exc_info=True)  # shown when debug logging is on
        raise RadiographError(path, f"it could not be read ({cause(exc)})") from None


def read_pixels(path: str | os.PathLike) -> np.ndarray:
    """The values of an image file as a 2-D float32 array: the one reader of dark-fields, masks and
    paired inputs (``evaluate``, training, the viewer's real dark-field). Raises :class:`RadiographError`."""
    pixels = np.asarray(read_radiograph(path).pixels)
    if pixels.ndim == 3 and pixels.shape[-1] in (3, 4):  # colour: the mean of the colour channels
        pixels = pixels[..., :3].mean(axis=-1)
    pixels = np.squeeze(pixels)
    if pixels.ndim != 2:
        raise RadiographError(Path(path), f"it holds an image of shape {pixels.shape}, not a 2-D image")
    return pixels.astype(np.float32, copy=False)


def _read(path: Path, frame: int, force: bool) -> Radiograph:
    try:
        info = path.stat()
        if stat.S_ISDIR(info.st_mode):
            raise RadiographError(path, "it is a folder, not a file")
        if not stat.S_ISREG(info.st_mode):
            raise RadiographError(path, "it is not a regular file (a pipe, socket or device)")
        if info.st_size == 0:
            raise RadiographError(path, "the file is empty")
        if info.st_size > MAX_FILE_BYTES:
            raise RadiographError(path, f"the file is {info.st_size / 1e9:.1f} GB, larger than this viewer accepts")
        kind = sniff(path)
    except FileNotFoundError:
        raise RadiographError(path, "the file does not exist") from None
    except PermissionError:
        raise RadiographError(path, "permission to read it was denied") from None
    except OSError as exc:
        raise RadiographError(path, f"it could not be opened ({exc.strerror or exc})") from None
    suffix = path.suffix.lower()
    if not kind:
        if suffix in NPY_SUFFIXES:
            kind = "npy"
        elif suffix in TIFF_SUFFIXES:
            kind = "tiff"
        elif suffix in PLAIN_IMAGE_SUFFIXES:
            kind = "pil"
        elif force or suffix in DICOM_SUFFIXES - {""} or _starts_like_bare_dicom(path):
            kind = "dicom"
        else:  # notes.txt, a PDF, an extension-less text: pydicom would only say "not a DICOM file"
            raise RadiographError(path, f"it is not an image dfviewer reads ({READABLE_FORMATS})")
    if kind == "pil":
        return read_pil(path, frame)
    if kind == "tiff":
        return read_tiff(path, frame)
    if kind == "npy":
        return read_npy(path, frame)
    from dfviewer.io.dicom_reader import read_dicom

    return read_dicom(path, frame=frame, force=force)
