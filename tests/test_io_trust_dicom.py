"""Right pixels or a refusal for DICOM: LUT arithmetic, rescale, spacing, compressed-frame headers, bombs.

Files are synthesised with pydicom; expected images are computed from the standard's definitions.
The bombs are a few kilobytes; each is read in a fresh process whose peak memory is measured.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_file_meta_info
from pydicom.sequence import Sequence
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGLSLossless,
    generate_uid,
)

from dfviewer.io import RadiographError, read_radiograph

RNG = np.random.default_rng(23)


def dicom(path: Path, pixels: np.ndarray | None = None, syntax=ExplicitVRLittleEndian, frame: bytes | None = None,
          rows: int | None = None, cols: int | None = None, **attributes) -> Path:
    """A DX image file: native ``pixels`` or one encapsulated ``frame`` declared as rows x cols."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = syntax
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.SOPClassUID, ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPClassUID, ds.file_meta.MediaStorageSOPInstanceUID
    ds.Modality = "DX"
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.SamplesPerPixel = 1
    if pixels is not None:
        ds.Rows, ds.Columns = pixels.shape
        ds.BitsAllocated = ds.BitsStored = pixels.dtype.itemsize * 8
        ds.HighBit = ds.BitsStored - 1
        ds.PixelRepresentation = int(pixels.dtype.kind == "i")
        ds.PixelData = pixels.tobytes()
    else:
        ds.Rows, ds.Columns = rows, cols
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
        ds.PixelData = encapsulate([frame])
        ds["PixelData"].VR = "OB"
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    ds.save_as(path, enforce_file_format=True)
    return path


# --- Modality LUT and rescale -----------------------------------------------------------------------

@pytest.mark.parametrize("first_as_stored", [-2048, 65536 - 2048])
def test_modality_lut_on_signed_values_indexes_without_wrapping(tmp_path, first_as_stored):
    stored = np.array([[-32768, -3000, -2048, -2047], [0, 1000, 2047, 30000], [32767, 2040, -1, 5]], np.int16)
    table = (np.arange(4096) * 13 + 7) % 65536
    item = Dataset()
    item.add_new(0x00283002, "SS" if first_as_stored < 0 else "US", [4096, first_as_stored, 16])  # LUT Descriptor
    item.add_new(0x00283006, "OW", table.astype("<u2").tobytes())  # LUT Data
    path = dicom(tmp_path / "lut.dcm", stored, ModalityLUTSequence=Sequence([item]))
    expected = table[np.clip(stored.astype(np.int64) + 2048, 0, 4095)]
    np.testing.assert_array_equal(read_radiograph(path).pixels, expected)


def test_ordinary_rescale_is_exact(tmp_path):
    stored = RNG.integers(0, 4096, (16, 16)).astype(np.uint16)
    path = dicom(tmp_path / "ok.dcm", stored, RescaleSlope="0.001", RescaleIntercept="-2")
    np.testing.assert_allclose(read_radiograph(path).pixels, stored * 0.001 - 2, rtol=1e-6)


@pytest.mark.parametrize("slope, intercept, reason", [
    ("1e308", "0", "beyond the range"),      # inf in float64 already
    ("1e38", "0", "beyond the range"),       # finite in float64, inf as float32 pixels
    ("1", "-1e300", "beyond the range"),
    ("1e-320", "0", "the same value"),       # subnormal slope: every pixel 0
    ("1", "1e20", "the same value"),         # 1e20 + k rounds to one float32
])
def test_extreme_rescale_is_refused_naming_the_rescale(tmp_path, slope, intercept, reason):
    stored = np.arange(64, dtype=np.uint16).reshape(8, 8)
    path = dicom(tmp_path / "rescale.dcm", stored, RescaleSlope=slope, RescaleIntercept=intercept)
    with pytest.raises(RadiographError, match=f"Rescale Slope .*{reason}"):
        read_radiograph(path)


# --- pixel spacing ------------------------------------------------------------------------------------

@pytest.mark.parametrize("attributes", [
    {"PixelSpacing": ["1e308", "1e308"]},
    {"PixelSpacing": ["5e-324", "5e-324"]},
    {"PixelSpacing": ["0.001", "0.2"]},
    {"ImagerPixelSpacing": ["0.2", "0.2"], "EstimatedRadiographicMagnificationFactor": "1e-310"},
])
def test_absurd_pixel_spacing_is_unknown_with_a_warning(tmp_path, attributes):
    path = dicom(tmp_path / "spacing.dcm", np.zeros((8, 8), np.uint16) + np.arange(8, dtype=np.uint16), **attributes)
    rg = read_radiograph(path)
    assert rg.pixel_spacing is None and not rg.spacing_known
    assert any("was ignored" in w and "mm" in w for w in rg.warnings)


def test_plausible_spacing_and_magnification_are_kept(tmp_path):
    path = dicom(tmp_path / "spacing.dcm", np.zeros((8, 8), np.uint16),
                 ImagerPixelSpacing=["0.15", "0.15"], EstimatedRadiographicMagnificationFactor="1.2")
    rg = read_radiograph(path)
    assert rg.spacing_known and rg.pixel_spacing == pytest.approx((0.125, 0.125))


# --- compressed frames: their own header against the data set ---------------------------------------

def jpeg_bytes(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


def with_jpeg_size(data: bytes, rows: int, cols: int) -> bytes:
    """The JPEG with its SOF0 declaring rows x cols (the scan data left as it is)."""
    at = data.index(b"\xff\xc0")
    return data[:at + 5] + rows.to_bytes(2, "big") + cols.to_bytes(2, "big") + data[at + 9:]


def test_jpeg_frame_matching_the_data_set_is_read(tmp_path):
    image = np.kron(RNG.integers(0, 256, (4, 6)).astype(np.uint8), np.ones((8, 8), np.uint8))
    path = dicom(tmp_path / "ok.dcm", syntax=JPEGBaseline8Bit, frame=jpeg_bytes(image), rows=32, cols=48)
    rg = read_radiograph(path)
    assert rg.pixels.shape == (32, 48) and np.abs(rg.pixels - image).max() <= 4


def test_jpeg_frame_smaller_than_the_data_set_is_refused(tmp_path):
    small = jpeg_bytes(np.full((16, 16), 90, np.uint8))
    path = dicom(tmp_path / "small.dcm", syntax=JPEGBaseline8Bit, frame=small, rows=64, cols=64)
    with pytest.raises(RadiographError, match=r"16 x 16 pixels .* data set says 64 x 64"):
        read_radiograph(path)


def jpeg_ls_header(rows: int, cols: int) -> bytes:
    """SOI and a JPEG-LS SOF55 frame header for one 8-bit component, then a start of scan and junk."""
    sof = b"\xff\xf7" + (11).to_bytes(2, "big") + bytes([8]) + rows.to_bytes(2, "big") + cols.to_bytes(2, "big")
    sof += bytes([1, 1, 0x11, 0])
    sos = b"\xff\xda" + (8).to_bytes(2, "big") + bytes([1, 1, 0, 0, 0, 0])
    return b"\xff\xd8" + sof + sos + bytes(range(256)) * 4 + b"\xff\xd9"


def j2k_header(rows: int, cols: int) -> bytes:
    """A JPEG 2000 codestream's SOC and SIZ for one 8-bit component, then junk."""
    siz = (41).to_bytes(2, "big") + (0).to_bytes(2, "big")
    for value in (cols, rows, 0, 0, cols, rows, 0, 0):
        siz += value.to_bytes(4, "big")
    siz += (1).to_bytes(2, "big") + bytes([7, 1, 1])
    return b"\xff\x4f\xff\x51" + siz + bytes(range(256)) * 4 + b"\xff\xd9"


BOMBS = {
    "jpeg": (JPEGBaseline8Bit, lambda: with_jpeg_size(jpeg_bytes(np.full((64, 64), 7, np.uint8)), 20000, 20000)),
    "jpeg-ls": (JPEGLSLossless, lambda: jpeg_ls_header(20000, 20000)),
    "j2k": (JPEG2000Lossless, lambda: j2k_header(20000, 20000)),
    "jpeg-ls-consistent-size": (JPEGLSLossless, lambda: jpeg_ls_header(40000, 40000)),
}


def read_in_child(path: Path) -> dict:
    """Read ``path`` in a fresh interpreter; its error sentence, peak RSS (MB) and seconds.

    Peak RSS is VmHWM, which starts afresh at exec; ru_maxrss would carry over the forking parent's
    (pytest's, over 1 GB once torch is loaded).
    """
    code = (
        "import json, sys, time\n"
        "from dfviewer.io import RadiographError, read_radiograph\n"
        "start = time.perf_counter(); error = ''\n"
        "try:\n    read_radiograph(sys.argv[1])\n"
        "except RadiographError as exc:\n    error = str(exc)\n"
        "hwm = [line for line in open('/proc/self/status') if line.startswith('VmHWM:')][0]\n"
        "print(json.dumps({'error': error, 'seconds': time.perf_counter() - start,\n"
        "                  'peak_mb': int(hwm.split()[1]) / 1024}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("name", sorted(BOMBS))
def test_compressed_frame_bomb_is_refused_before_decoding(tmp_path, name):
    syntax, make = BOMBS[name]
    frame = make()
    declared = 40000 if "consistent" in name else 64
    path = dicom(tmp_path / f"{name}.dcm", syntax=syntax, frame=frame, rows=min(declared, 65535), cols=declared)
    assert path.stat().st_size < 8000
    result = read_in_child(path)
    assert result["error"].startswith(f"Cannot read {path.name}: ") and result["error"].count(". ") == 0
    assert "pixels" in result["error"] or "megapixels" in result["error"]
    assert result["peak_mb"] < 300, result


# --- deflated data sets ------------------------------------------------------------------------------

def deflate_bomb(path: Path, inflated_mb: int) -> Path:
    """A valid file meta header, then a raw deflate stream of a data set holding ``inflated_mb`` MB of zeros."""
    meta = FileMetaDataset()
    meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    header = DicomBytesIO()
    header.is_little_endian, header.is_implicit_VR = True, False
    header.write(bytes(128) + b"DICM")
    write_file_meta_info(header, meta, enforce_standard=True)
    size = inflated_mb * 1_000_000
    element = b"\xe0\x7f\x10\x00OB\x00\x00" + size.to_bytes(4, "little")
    packer = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    zeros = bytes(16_000_000)
    body = [packer.compress(b"\x08\x00\x60\x00CS\x02\x00DX" + element)]
    for _ in range(size // len(zeros)):
        body.append(packer.compress(zeros))
    body.append(packer.flush())
    path.write_bytes(header.getvalue() + b"".join(body))
    return path


def test_deflated_bomb_is_refused_in_bounded_memory(tmp_path):
    path = deflate_bomb(tmp_path / "deflate.dcm", 1000)
    assert path.stat().st_size < 2_000_000
    result = read_in_child(path)
    assert "inflates to more than 400 MB" in result["error"], result
    assert result["peak_mb"] < 300, result


def test_small_deflated_data_set_is_read(tmp_path):
    stored = RNG.integers(0, 4096, (20, 30)).astype(np.uint16)
    path = dicom(tmp_path / "deflated.dcm", stored, syntax=DeflatedExplicitVRLittleEndian)
    np.testing.assert_array_equal(read_radiograph(path).pixels, stored)
