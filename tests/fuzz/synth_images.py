"""Consistent TIFF, PNG/JPEG (with EXIF orientation) and NPY files, and decoder bombs, with what they must give.

The expected images follow the documented contract of the plain-image readers (docs/file_formats.md,
"File formats"), computed here from the format's definition: TIFF MinIsWhite reflected over the sample
range (unsigned up to 16 bits), ``-1 - x`` (signed) or the data's range (32/64-bit unsigned and
floats); a palette applied; CMYK as R = (1 - C)(1 - K) and so on; colour as BT.601 luma; EXIF
orientations 2-8 undone; NPY by its shape (frames first, channels last when 1 to 4).
"""

from __future__ import annotations

import io
import random
import struct
import zlib
from pathlib import Path

import numpy as np
from expectation import Expect
from synth_dicom import luma

TIFF_DTYPES = ("uint8", "uint16", "uint32", "uint64", "int8", "int16", "int32", "int64", "float16", "float32", "float64")
TIFF_PHOTOMETRICS = ("minisblack", "miniswhite", "rgb", "palette", "separated")
TIFF_COMPRESSIONS = (None, "zlib", "lzma", "adobe_deflate")


def _values(rng: random.Random, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """A smooth image with noise over most of ``dtype``'s range (or a float scale that varies)."""
    gen = np.random.default_rng(rng.randrange(2**32))
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]] / max(shape[:2])
    base = 0.5 + 0.4 * np.sin(6 * xx + rng.random() * 6) * np.cos(4 * yy + 1)
    if len(shape) == 3:
        base = np.stack([np.roll(base, 2 * k, axis=0) for k in range(shape[2])], axis=-1)
    unit = np.clip(base + gen.normal(0, 0.02, shape), 0, 1)
    if dtype.kind in "ui":
        info = np.iinfo(dtype)
        lo, hi = (int(info.min), int(info.max)) if rng.random() < 0.5 else (0, min(int(info.max), 4095))
        if dtype.itemsize == 8:  # keep the float64 arithmetic below exact enough: 2**62 at most
            lo, hi = max(lo, -(2**62)), min(hi, 2**62)
        return np.round(lo + unit * float(hi - lo)).astype(np.float64).clip(lo, hi).astype(dtype)
    scale = rng.choice((1.0, 1000.0, 1e-3, 6e4 if dtype.itemsize == 2 else 1e30))
    values = ((unit - rng.choice((0.0, 0.5))) * scale).astype(dtype)
    if rng.random() < 0.15 and values.size > 1:
        values.flat[0] = np.nan  # a few NaN samples are kept as NaN
    return values


def _minisblack_expected(stored: np.ndarray) -> np.ndarray:
    return stored.astype(np.float64)


def _miniswhite_expected(stored: np.ndarray) -> np.ndarray:
    values = stored.astype(np.float64)
    if stored.dtype.kind == "u" and stored.dtype.itemsize <= 2:
        return float(2 ** (8 * stored.dtype.itemsize) - 1) - values
    if stored.dtype.kind == "i":
        return -1.0 - values
    finite = values[np.isfinite(values)]
    return float(finite.min()) + float(finite.max()) - values


def tiff_case(rng: random.Random, path: Path) -> Expect:
    import tifffile

    photometric = rng.choice(TIFF_PHOTOMETRICS)
    dtype = np.dtype(rng.choice(("uint8", "uint16")) if photometric == "palette" else rng.choice(TIFF_DTYPES))
    rows, cols = rng.randrange(1, 40), rng.randrange(1, 40)
    options: dict = {"photometric": photometric}
    compression = rng.choice(TIFF_COMPRESSIONS)
    if compression:
        options["compression"] = compression
    if rng.random() < 0.3:
        options["tile"] = (16, 16)
    elif rng.random() < 0.5:
        options["rowsperstrip"] = rng.randrange(1, rows + 1)
    notes = f"tiff {photometric} {dtype} {rows}x{cols} {compression} {'tiles' if 'tile' in options else 'strips'}"
    if photometric in ("minisblack", "miniswhite"):
        stored = _values(rng, (rows, cols), dtype)
        expected = _minisblack_expected(stored) if photometric == "minisblack" else _miniswhite_expected(stored)
        if photometric == "miniswhite" and dtype.kind == "f" and np.isnan(stored).all():
            expected = None
        data = stored
    elif photometric == "palette":
        entries = rng.choice((16, 256)) if dtype == np.uint8 else rng.choice((256, 4096))
        gen = np.random.default_rng(rng.randrange(2**32))
        size = 256 if dtype == np.uint8 else 65536
        colormap = gen.integers(0, 65536, (3, size)).astype(np.uint16)
        if rng.random() < 0.4:
            colormap[1] = colormap[2] = colormap[0]
        data = (_values(rng, (rows, cols), np.dtype("uint16")).astype(np.int64) % entries).astype(dtype)
        options["colormap"] = colormap
        rgb = colormap.T[data].astype(np.float64)
        gray = np.array_equal(colormap[0], colormap[1]) and np.array_equal(colormap[1], colormap[2])
        expected = rgb[..., 0] if gray else luma(rgb)
    else:
        channels = 3 if photometric == "rgb" else 4
        stored = _values(rng, (rows, cols, channels), dtype)
        if photometric == "rgb":
            if rng.random() < 0.2:
                stored[..., 1] = stored[..., 2] = stored[..., 0]
            rgb = stored.astype(np.float64)
            same = np.array_equal(stored[..., 0], stored[..., 1], equal_nan=dtype.kind == "f") and \
                np.array_equal(stored[..., 1], stored[..., 2], equal_nan=dtype.kind == "f")
            expected = rgb[..., 0] if same else luma(rgb)
        else:
            if dtype.kind == "f":
                stored = np.clip(np.nan_to_num(stored.astype(np.float64)) / max(1.0, float(np.nanmax(np.abs(stored.astype(np.float64))))), 0, 1).astype(dtype)
                top = 1.0
            elif dtype.kind == "i":
                stored = np.abs(stored.astype(np.float64)).clip(0, np.iinfo(dtype).max).astype(dtype)
                top = float(2 ** (8 * dtype.itemsize) - 1)
            else:
                top = float(2 ** (8 * dtype.itemsize) - 1)
            ink = stored.astype(np.float64) / top
            expected = luma((1 - ink[..., :3]) * (1 - ink[..., 3:4])) * top
        data = stored
        if rng.random() < 0.4:
            data = np.ascontiguousarray(np.moveaxis(stored, -1, 0))
            options["planarconfig"] = "separate"
        else:
            options["planarconfig"] = "contig"
        notes += f" {options['planarconfig']}"
    tifffile.imwrite(path, data, **options)
    tolerance = 0.0
    if expected is not None and dtype.kind == "f" or photometric in ("rgb", "separated", "palette"):
        finite = np.asarray(expected)[np.isfinite(expected)] if expected is not None else np.zeros(1)
        tolerance = 1e-5 * max(1.0, float(np.abs(finite).max()) if finite.size else 1.0)
    if dtype.kind in "ui" and dtype.itemsize >= 4:  # float32 result of a 32/64-bit integer
        tolerance = max(tolerance, 2e-7 * max(1.0, float(np.nanmax(np.abs(expected)))) if expected is not None else 0)
    if expected is not None and not np.isfinite(expected).any():
        return Expect(what=notes)  # all NaN: refused or not, only crashes count
    return Expect(pixels=expected, tolerance=tolerance, what=notes)


def tiff_complex_case(rng: random.Random, path: Path) -> Expect:
    import tifffile

    data = (np.random.default_rng(rng.randrange(2**32)).normal(size=(8, 9)) * (1 + 1j)).astype(rng.choice(("complex64", "complex128")))
    tifffile.imwrite(path, data)
    return Expect(refuse=True, what=f"tiff {data.dtype}")


# --- PNG / JPEG with EXIF orientation ---------------------------------------------------------------

def orient(stored: np.ndarray, orientation: int) -> np.ndarray:
    """The displayed image of stored pixels with EXIF ``orientation`` (TIFF/EXIF tag 274's definition)."""
    ops = {
        1: lambda a: a,
        2: lambda a: a[:, ::-1],  # mirrored left-right
        3: lambda a: a[::-1, ::-1],  # rotated 180
        4: lambda a: a[::-1, :],  # mirrored top-bottom
        5: lambda a: np.swapaxes(a, 0, 1),  # row 0 is the left column: transpose
        6: lambda a: np.swapaxes(a, 0, 1)[:, ::-1],  # rotate 90 clockwise to view
        7: lambda a: np.swapaxes(a, 0, 1)[::-1, ::-1],  # transverse
        8: lambda a: np.swapaxes(a, 0, 1)[::-1, :],  # rotate 90 counter-clockwise to view
    }
    return ops[orientation](stored)


def exif_case(rng: random.Random, path: Path) -> Expect:
    from PIL import Image

    fmt = "JPEG" if path.suffix == ".jpg" else "PNG"
    rows, cols = rng.randrange(8, 48), rng.randrange(8, 48)
    mode = rng.choice(("L", "RGB") if fmt == "JPEG" else ("L", "RGB", "I;16"))
    dtype = np.dtype("uint16") if mode == "I;16" else np.dtype("uint8")
    stored = _values(rng, (rows, cols, 3) if mode == "RGB" else (rows, cols), dtype)
    if dtype.itemsize == 1:
        stored = (stored.astype(np.float64) * (255 / max(1, int(stored.max())))).astype(np.uint8)
    orientation = rng.randrange(1, 9)
    image = Image.fromarray(stored)
    exif = Image.Exif()
    exif[0x0112] = orientation
    buffer = io.BytesIO()
    if fmt == "JPEG":
        quality = rng.choice((90, 95, 100))
        image.save(buffer, format="JPEG", quality=quality, subsampling=0, exif=exif.tobytes())
    else:
        image.save(buffer, format="PNG", exif=exif.tobytes())
    path.write_bytes(buffer.getvalue())
    gray = luma(stored) if mode == "RGB" and not (np.array_equal(stored[..., 0], stored[..., 1]) and
                                                   np.array_equal(stored[..., 1], stored[..., 2])) else \
        (stored[..., 0] if mode == "RGB" else stored).astype(np.float64)
    expected = orient(gray, orientation)
    what = f"{fmt.lower()} {mode} {rows}x{cols} orientation {orientation}"
    if fmt == "JPEG":
        return Expect(pixels=expected, tolerance=2.5 + (100 - quality) * 0.2, lossy=True, what=what)
    return Expect(pixels=expected, tolerance=1e-3 if mode == "RGB" else 0.0, what=what)


# --- NPY shapes and dtypes ----------------------------------------------------------------------------

NPY_DTYPES = ("bool", "uint8", "int8", "uint16", "int16", "uint32", "int32", "uint64", "int64",
              "float16", "float32", "float64", ">f4", ">i2", ">u8")


def npy_case(rng: random.Random, path: Path) -> Expect:
    dtype = np.dtype(rng.choice(NPY_DTYPES))
    h, w = rng.randrange(1, 30), rng.randrange(5, 30)
    layout = rng.choice(("hw", "hwc", "nhw", "nhwc", "1w3", "refuse"))
    c, n = rng.randrange(1, 5), rng.randrange(1, 4)
    if layout == "1w3":
        h, c, layout = 1, 3, "hwc"
    frames = n if layout.startswith("n") else 1
    channels = c if layout.endswith("c") else 0
    if layout == "refuse":
        shape = rng.choice(((w,), (n, h, w, 7), (2, 2, h, w, 1), (0, w)))
        array = np.zeros(shape, dtype=dtype)
    else:
        if dtype.kind == "b":
            plane = np.random.default_rng(rng.randrange(2**32)).random((h, w)) < 0.5
        else:
            plane = _values(rng, (h, w), dtype)
        stack = [[np.roll(plane, 3 * ch + f, axis=1) for ch in range(max(channels, 1))] for f in range(frames)]
        array = np.stack([np.stack(chs, axis=-1) for chs in stack])  # (frames, h, w, channels)
        if not channels:
            array = array[..., 0]
        if frames == 1 and not layout.startswith("n"):
            array = array[0]
        shape = array.shape
    if rng.random() < 0.3:
        array = np.asfortranarray(array)
    np.save(path, array)
    what = f"npy {dtype.str} {shape} {'F' if array.flags.f_contiguous and array.ndim > 1 else 'C'}"
    if layout == "refuse":
        return Expect(refuse=True, what=what)
    image = array[0] if layout.startswith("n") else array
    if image.ndim == 3:
        values = image.astype(np.float64)
        gray = image.shape[-1] <= 2 or (np.array_equal(image[..., 0], image[..., 1]) and
                                       np.array_equal(image[..., 1], image[..., 2]))
        expected = values[..., 0] if gray else luma(values)
    else:
        expected = image.astype(np.float64)
    finite = expected[np.isfinite(expected)]
    if not finite.size:
        return Expect(what=what)
    top = max(1.0, float(np.abs(finite).max()))
    tolerance = 2e-7 * top if dtype.kind == "f" or dtype.itemsize >= 4 else 0.0
    if image.ndim == 3 and image.shape[-1] >= 3:
        tolerance = max(tolerance, 1e-5 * top)
    return Expect(pixels=expected, tolerance=tolerance, what=what)


# --- decoder bombs: sizes declared far beyond the data -------------------------------------------------

def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def bomb_case(rng: random.Random, path: Path) -> Expect:
    """A few kilobytes that declare a frame far beyond the 36-megapixel limit (or beyond their data)."""
    side = rng.choice((7000, 20000, 65535, 1 << 20))
    kind = rng.choice(("png", "png-zeros", "tiff", "jpeg", "gif", "npy", "dicom-native", "dicom-jpeg", "dicom-j2k",
                       "dicom-rle"))
    what = f"bomb {kind} {side}"
    if kind.startswith("png"):
        ihdr = struct.pack(">IIBBBBB", side, side, rng.choice((8, 16)), 0, 0, 0, 0)
        body = zlib.compress(b"\x00" * (rng.randrange(1, 64) * 1024), 9) if kind == "png-zeros" else b"\x78\x9c\x03\x00"
        data = b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", body) + _png_chunk(b"IEND", b"")
        path.write_bytes(data)
    elif kind == "tiff":
        import tifffile

        tifffile.imwrite(path, np.zeros((4, 4), np.uint8))
        data = bytearray(path.read_bytes())
        _patch_tiff_size(data, min(side, 2**31), min(side, 2**31))
        path.write_bytes(bytes(data))
    elif kind == "jpeg":
        path.write_bytes(jpeg_with_size(_small_jpeg(), min(side, 65535), min(side, 65535)))
    elif kind == "gif":
        from PIL import Image

        buffer = io.BytesIO()
        Image.fromarray(np.zeros((4, 4), np.uint8)).save(buffer, format="GIF")
        data = bytearray(buffer.getvalue())
        data[6:10] = struct.pack("<HH", min(side, 65535), min(side, 65535))
        position = data.index(b"\x2c")  # the image descriptor
        data[position + 5:position + 9] = struct.pack("<HH", min(side, 65535), min(side, 65535))
        path.write_bytes(bytes(data))
    elif kind == "npy":
        header = f"{{'descr': '<f4', 'fortran_order': False, 'shape': ({side}, {side}), }}"
        header = header + " " * (63 - (len(header) + 10) % 64) + "\n"
        path.write_bytes(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + b"\x00" * 4096)
    else:
        _dicom_bomb(path, kind, min(side, 65535))
    return Expect(refuse=True, what=what)


def _small_jpeg() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.full((8, 8), 100, np.uint8)).save(buffer, format="JPEG")
    return buffer.getvalue()


def jpeg_with_size(data: bytes, rows: int, cols: int) -> bytes:
    """The JPEG with its SOF0 frame size replaced (the scan data stays that of the small image)."""
    at = data.index(b"\xff\xc0")
    return data[:at + 5] + struct.pack(">HH", rows, cols) + data[at + 9:]


def _patch_tiff_size(data: bytearray, width: int, height: int) -> None:
    """Set ImageWidth (256) and ImageLength (257) of the first IFD of a little-endian classic TIFF."""
    ifd = struct.unpack_from("<I", data, 4)[0]
    count = struct.unpack_from("<H", data, ifd)[0]
    for i in range(count):
        entry = ifd + 2 + 12 * i
        tag, kind = struct.unpack_from("<HH", data, entry)
        if tag in (256, 257):
            value = width if tag == 256 else height
            struct.pack_into("<HHI", data, entry, tag, 4, 1)
            struct.pack_into("<I", data, entry + 8, value)


def _dicom_bomb(path: Path, kind: str, side: int) -> None:
    import pydicom
    from pydicom.encaps import encapsulate
    from pydicom.uid import ExplicitVRLittleEndian, JPEG2000Lossless, JPEGBaseline8Bit, RLELossless
    from synth_dicom import _dataset

    ds = _dataset(side, side)
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    if kind == "dicom-native":
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.PixelData = b"\x00" * 4096
    elif kind == "dicom-jpeg":
        ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
        ds.PixelData = encapsulate([jpeg_with_size(_small_jpeg(), side, side)])
    elif kind == "dicom-rle":
        ds.file_meta.TransferSyntaxUID = RLELossless
        ds.PixelData = encapsulate([struct.pack("<16I", 1, 64, *([0] * 14)) + b"\x81\x00" * 64])
    else:
        ds.file_meta.TransferSyntaxUID = JPEG2000Lossless
        siz = struct.pack(">HIIIIIIIIH", 0, side, side, 0, 0, side, side, 0, 0, 1) + b"\x07\x01\x01"
        cod = bytes.fromhex("ff52000c00000001000504040000")
        stream = b"\xff\x4f" + b"\xff\x51" + struct.pack(">H", len(siz) + 2) + siz + cod + b"\xff\x90" + b"\x00" * 64 + b"\xff\xd9"
        ds.PixelData = encapsulate([stream])
    if kind != "dicom-native":
        ds["PixelData"].VR = "OB"
    pydicom.dcmwrite(path, ds, enforce_file_format=True)
