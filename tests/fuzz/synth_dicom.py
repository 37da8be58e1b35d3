"""Consistent DICOM files with their expected image, computed from the standard, not by the reader.

Each case draws a photometric interpretation (MONOCHROME1/2, RGB, YBR_FULL, YBR_FULL_422, PALETTE
COLOR), a bit depth (8, 12 in 16, 16, 32), a signedness, a Modality LUT (Rescale Slope/Intercept
or a Modality LUT Sequence), a VOI (windows or a VOI LUT Sequence) and a transfer syntax with an
encoder here (explicit/implicit little endian, big endian, deflated, RLE, JPEG baseline through
Pillow, JPEG 2000 lossless and lossy). The expectation follows the contract of ``Radiograph``:
modality values, reflected about the modality output range for MONOCHROME1; colour as BT.601 luma.
"""

from __future__ import annotations

import io
import random
import warnings
from pathlib import Path

import numpy as np
from expectation import Expect

PHOTOMETRICS = ("MONOCHROME2", "MONOCHROME1", "RGB", "YBR_FULL", "YBR_FULL_422", "PALETTE COLOR")
#: (bits allocated, bits stored)
DEPTHS = ((8, 8), (16, 12), (16, 16), (32, 32))
NATIVE = ("explicit", "implicit", "big", "deflated")


def luma(rgb: np.ndarray) -> np.ndarray:
    rgb = rgb.astype(np.float64)
    return 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]


def _stored(rng: random.Random, shape: tuple[int, ...], bits: int, signed: bool) -> np.ndarray:
    """Smooth-plus-noise stored values spanning most of the range of ``bits`` (a real image is not white noise)."""
    gen = np.random.default_rng(rng.randrange(2**32))
    lo, hi = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]] / max(shape)
    base = 0.5 + 0.35 * np.sin(7 * xx + rng.random() * 6) * np.cos(5 * yy)
    if len(shape) == 3:
        base = np.stack([np.roll(base, k * 3, axis=1) for k in range(shape[2])], axis=-1)
    values = base + gen.normal(0, 0.03, shape)
    values = np.clip(lo + values * (hi - lo), lo, hi)
    return np.round(values).astype(np.int64)


def _dataset(rows: int, cols: int):
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import generate_uid

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.Modality, ds.PatientID, ds.PatientName = "DX", "DIFF", "Differential^Case"
    ds.Rows, ds.Columns = rows, cols
    return ds


def _dtype(bits_allocated: int, signed: bool, big: bool = False) -> np.dtype:
    return np.dtype(f"{'>' if big else '<'}{'i' if signed else 'u'}{bits_allocated // 8}")


def _jpeg_baseline(image: np.ndarray, quality: int) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image.astype(np.uint8)).save(buffer, format="JPEG", quality=quality, subsampling=0)
    return buffer.getvalue()


def _write(path: Path, ds, syntax: str) -> None:
    import pydicom

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if syntax == "big":
            pydicom.dcmwrite(path, ds, implicit_vr=False, little_endian=False, enforce_file_format=True)
        elif syntax == "implicit":
            pydicom.dcmwrite(path, ds, implicit_vr=True, little_endian=True, enforce_file_format=True)
        else:
            pydicom.dcmwrite(path, ds, implicit_vr=False, little_endian=True, enforce_file_format=True)


def _mono(rng: random.Random, ds, rows: int, cols: int, photometric: str) -> tuple[np.ndarray, np.ndarray, dict]:
    """Stored values and the expected pixels of a gray image with a random Modality LUT and VOI."""
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    allocated, bits = rng.choice(DEPTHS)
    signed = rng.random() < 0.4
    stored = _stored(rng, (rows, cols), bits, signed)
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, photometric
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = allocated, bits, bits - 1, int(signed)
    lo, hi = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    choice = rng.random()
    notes = {"bits": f"{bits}/{allocated}{'s' if signed else 'u'}"}
    if choice < 0.25 and allocated == 16:
        count = rng.choice((256, 1024, 4096))
        first = rng.randrange(lo, max(lo + 1, hi - count // 2))
        table = np.round(np.linspace(0, 1, count) ** rng.choice((0.5, 1.0, 2.0)) * rng.choice((4095, 65535)))
        table = table.astype(np.int64)
        item = Dataset()
        item.add_new(0x00283002, "SS" if signed else "US", [count % 65536, first, 16])
        item.ModalityLUTType = "US"
        item.add_new(0x00283006, "US", [int(v) for v in table])
        ds.ModalityLUTSequence = Sequence([item])
        modality = table[np.clip(stored - first, 0, count - 1)].astype(np.float64)
        out_lo, out_hi = float(table.min()), float(table.max())
        notes["lut"] = f"modality LUT {count} from {first}"
    else:
        slope, intercept = 1.0, 0.0
        if choice < 0.8:
            slope = rng.choice((1.0, 0.5, 2.0, -1.0, 0.001, 1e3)) * rng.choice((1.0, 1.25))
            intercept = rng.choice((0.0, -1024.0, 100.5, 1e4))
            ds.RescaleSlope, ds.RescaleIntercept = f"{slope:g}", f"{intercept:g}"
            slope, intercept = float(ds.RescaleSlope), float(ds.RescaleIntercept)
            notes["rescale"] = f"{slope:g}/{intercept:g}"
        modality = stored.astype(np.float64) * slope + intercept
        a, b = lo * slope + intercept, hi * slope + intercept
        out_lo, out_hi = min(a, b), max(a, b)
    window = None
    voi = rng.random()
    if voi < 0.4:
        centre = float(np.round(np.percentile(modality, 50), 3))
        width = float(np.round(max(np.ptp(modality), 2.0), 3))
        ds.WindowCenter, ds.WindowWidth = f"{centre:g}", f"{width:g}"
        centre, width = float(ds.WindowCenter), float(ds.WindowWidth)
        if width >= 1:
            window = (centre - 0.5, width - 1.0)
    elif voi < 0.6 and allocated <= 16:
        span = rng.choice((64, 256, 1024))
        first = rng.randrange(lo, max(lo + 1, hi - span))
        item = Dataset()
        item.add_new(0x00283002, "SS" if signed else "US", [span, first, 16])
        item.add_new(0x00283006, "US", [int(v) for v in np.linspace(0, 65535, span)])
        ds.VOILUTSequence = Sequence([item])
        if "ModalityLUTSequence" not in ds and "RescaleSlope" not in ds:
            window = ((first + first + span - 1) / 2.0, float(span - 1))
    expected = modality
    if photometric == "MONOCHROME1":
        expected = (out_lo + out_hi) - modality
        if window is not None:
            window = ((out_lo + out_hi) - window[0], window[1])
    notes["window"] = window
    return stored, expected, notes


def _colour(rng: random.Random, ds, rows: int, cols: int, photometric: str) -> tuple[np.ndarray, np.ndarray, dict]:
    """Stored samples and the expected luma of an RGB, YBR or PALETTE COLOR image."""
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    if photometric == "PALETTE COLOR":
        entries = rng.choice((16, 256))
        depth = rng.choice((8, 16))
        gen = np.random.default_rng(rng.randrange(2**32))
        top = 2**depth - 1
        lut = gen.integers(0, top + 1, (3, entries))
        if rng.random() < 0.3:
            lut[1] = lut[2] = lut[0]
        index_bits = 8 if entries <= 256 and rng.random() < 0.6 else 16
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = index_bits, index_bits, index_bits - 1
        stored = _stored(rng, (rows, cols), 8, False) % entries
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, photometric
        for colour, values in zip(("Red", "Green", "Blue"), lut):
            ds.add_new({"Red": 0x00281101, "Green": 0x00281102, "Blue": 0x00281103}[colour], "US",
                       [entries % 65536, 0, depth])
            data = values.astype("<u2").tobytes() if depth == 16 else values.astype(np.uint8).tobytes()
            if len(data) % 2:
                data += b"\x00"
            ds.add_new({"Red": 0x00281201, "Green": 0x00281202, "Blue": 0x00281203}[colour], "OW", data)
        rgb = lut.T[stored]
        return stored, luma(rgb), {"palette": f"{entries}x{depth}"}
    rgb = _stored(rng, (rows, cols, 3), 8, False)
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, photometric, 0
    if photometric == "RGB":
        if rng.random() < 0.3:
            ds.PlanarConfiguration = 1
        return rgb, luma(rgb), {}
    # YBR_FULL (PS3.3 C.7.6.3.1.2): Y, Cb, Cr from RGB, stored as 8-bit; expected: RGB from the stored YBR
    r, g, b = (rgb[..., i].astype(np.float64) for i in range(3))
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cb = 128 - 0.168736 * r - 0.331264 * g + 0.5 * b
    cr = 128 + 0.5 * r - 0.418688 * g - 0.081312 * b
    ybr = np.clip(np.round(np.stack([y, cb, cr], axis=-1)), 0, 255).astype(np.int64)
    if photometric == "YBR_FULL_422":
        ybr[:, 1::2, 1:] = ybr[:, 0::2, 1:]  # one chroma pair for two pixels
    yy, cb, cr = (ybr[..., i].astype(np.float64) for i in range(3))
    back = np.stack([yy + 1.402 * (cr - 128), yy - 0.344136 * (cb - 128) - 0.714136 * (cr - 128),
                     yy + 1.772 * (cb - 128)], axis=-1)
    return ybr, luma(np.clip(back, 0, 255)), {"tolerance": 1.5}


def _native_bytes(stored: np.ndarray, ds, big: bool) -> bytes:
    allocated = int(ds.BitsAllocated)
    dtype = _dtype(allocated, bool(ds.PixelRepresentation), big)
    array = stored.astype(dtype)
    photometric = str(ds.PhotometricInterpretation)
    if photometric == "YBR_FULL_422":
        y, cb, cr = array[..., 0], array[:, 0::2, 1], array[:, 0::2, 2]
        packed = np.stack([y[:, 0::2], y[:, 1::2], cb, cr], axis=-1)  # Y1 Y2 Cb Cr per pair
        return packed.tobytes()
    if stored.ndim == 3 and int(ds.get("PlanarConfiguration", 0)) == 1:
        array = np.moveaxis(array, -1, 0)
    data = array.tobytes()
    return data + b"\x00" if len(data) % 2 else data


def dicom_case(rng: random.Random, path: Path) -> Expect:
    """Write one consistent DICOM file at ``path`` and return what reading it must give."""
    from pydicom.encaps import encapsulate
    from pydicom.uid import (
        JPEG2000,
        DeflatedExplicitVRLittleEndian,
        ExplicitVRBigEndian,
        ExplicitVRLittleEndian,
        ImplicitVRLittleEndian,
        JPEG2000Lossless,
        JPEGBaseline8Bit,
        RLELossless,
    )

    photometric = rng.choice(PHOTOMETRICS)
    rows, cols = rng.randrange(1, 48), rng.randrange(1, 48)
    if photometric == "YBR_FULL_422":
        cols += cols % 2
    ds = _dataset(rows, cols)
    if photometric.startswith("MONO"):
        stored, expected, notes = _mono(rng, ds, rows, cols, photometric)
    else:
        stored, expected, notes = _colour(rng, ds, rows, cols, photometric)
    allocated = int(ds.BitsAllocated)
    mono = photometric.startswith("MONO")
    syntaxes = list(NATIVE) + ["rle"] * (photometric != "YBR_FULL_422")
    if allocated == 8 and (mono or photometric in ("RGB", "YBR_FULL_422")) and not int(ds.PixelRepresentation):
        syntaxes.append("jpeg")
    if mono and allocated == 16 and "ModalityLUTSequence" not in ds:
        syntaxes += ["j2k", "j2k-lossy"]
    syntax = rng.choice(syntaxes)
    tolerance, lossy = float(notes.pop("tolerance", 0.0)), False
    window = notes.pop("window", None)
    uids = {"explicit": ExplicitVRLittleEndian, "implicit": ImplicitVRLittleEndian, "big": ExplicitVRBigEndian,
            "deflated": DeflatedExplicitVRLittleEndian}
    if syntax in uids:
        ds.file_meta.TransferSyntaxUID = uids[syntax]
        ds.PixelData = _native_bytes(stored, ds, big=syntax == "big")
        if syntax == "big" and allocated > 8:
            ds["PixelData"].VR = "OW"
    elif syntax == "rle":
        if "PlanarConfiguration" in ds:
            ds.PlanarConfiguration = 0
        ds.file_meta.TransferSyntaxUID = RLELossless
        ds.PixelData = encapsulate([rle_frame(stored.astype(_dtype(allocated, bool(ds.PixelRepresentation))))])
        ds["PixelData"].VR = "OB"
    elif syntax == "jpeg":
        quality = rng.choice((90, 95, 100))
        if mono:
            ds.PixelData = encapsulate([_jpeg_baseline(stored, quality)])
        else:
            rgb = stored if photometric == "RGB" else None
            if rgb is None:  # a YBR case: encode the RGB the stored YBR stands for
                rgb = np.clip(np.round(_ybr_to_rgb(stored)), 0, 255)
            ds.PixelData = encapsulate([_jpeg_baseline(rgb, quality)])
            ds.PhotometricInterpretation = "YBR_FULL_422"
            ds.PlanarConfiguration = 0
            expected = luma(rgb)
        ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
        ds["PixelData"].VR = "OB"
        slope = abs(float(ds.get("RescaleSlope", 1.0))) if mono else 1.0
        tolerance, lossy = (2.5 + (100 - quality) * 0.2) * slope, True
        notes["quality"] = quality
    else:
        lossy = syntax == "j2k-lossy"
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.PixelData = _native_bytes(stored, ds, big=False)
        options = {"j2k_psnr": [80]} if lossy else {}
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds.compress(JPEG2000 if lossy else JPEG2000Lossless, **options)
        except RuntimeError:  # openjpeg refuses some tiny or signed images: keep them native
            lossy, syntax = False, "explicit"
            ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        if lossy:
            slope = abs(float(ds.get("RescaleSlope", 1.0)))
            tolerance = slope * (2 ** int(ds.BitsStored)) * 3e-4
    _write(path, ds, syntax if syntax in uids else "explicit")
    notes.update(photometric=photometric, syntax=syntax, shape=f"{rows}x{cols}")
    return Expect(pixels=expected, tolerance=tolerance, lossy=lossy, window=window, what=_label(notes))


def rle_frame(array: np.ndarray) -> bytes:
    """One DICOM RLE frame (PS3.5 Annex G) of our own: a segment per sample and byte, most significant
    byte first, each row packed as literal runs of up to 128 bytes."""
    import struct

    if array.ndim == 2:
        array = array[..., None]
    big = array.astype(array.dtype.newbyteorder(">"))
    planes = big.view(np.uint8).reshape(array.shape[0], array.shape[1], array.shape[2], array.dtype.itemsize)
    segments = []
    for sample in range(array.shape[2]):
        for byte in range(array.dtype.itemsize):
            out = bytearray()
            for row in planes[:, :, sample, byte]:
                data = row.tobytes()
                for start in range(0, len(data), 128):
                    chunk = data[start:start + 128]
                    out += bytes([len(chunk) - 1]) + chunk
            if len(out) % 2:
                out += b"\x80"  # a no-op run byte (-128) pads the segment to even length
            segments.append(bytes(out))
    offsets, position = [], 64
    for segment in segments:
        offsets.append(position)
        position += len(segment)
    header = struct.pack("<16I", len(segments), *offsets, *([0] * (15 - len(offsets))))
    return header + b"".join(segments)


def _ybr_to_rgb(ybr: np.ndarray) -> np.ndarray:
    yy, cb, cr = (ybr[..., i].astype(np.float64) for i in range(3))
    return np.stack([yy + 1.402 * (cr - 128), yy - 0.344136 * (cb - 128) - 0.714136 * (cr - 128),
                     yy + 1.772 * (cb - 128)], axis=-1)


def _label(notes: dict) -> str:
    return " ".join(f"{k}={v}" for k, v in notes.items())
