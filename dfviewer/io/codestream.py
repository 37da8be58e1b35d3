"""The size a compressed DICOM frame declares in its own codestream header, read before decoding.

A decoder allocates what the codestream's header promises (JPEG SOF, JPEG-LS SOF55, JPEG 2000
SIZ), not what the data set's Rows and Columns say, so a few kilobytes can ask for gigabytes or
for a minute of work, and a frame smaller than the data set gets stretched into a wrong image.
:func:`check_compressed_frame` reads that header and refuses a frame that disagrees with the data
set or is beyond the limits, before any decoder runs.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from dfviewer.io.errors import RadiographError
from dfviewer.io.limits import check_declared

JPEG_SYNTAXES = {
    "1.2.840.10008.1.2.4.50": "JPEG", "1.2.840.10008.1.2.4.51": "JPEG", "1.2.840.10008.1.2.4.57": "JPEG",
    "1.2.840.10008.1.2.4.70": "JPEG", "1.2.840.10008.1.2.4.80": "JPEG-LS", "1.2.840.10008.1.2.4.81": "JPEG-LS",
}
J2K_SYNTAXES = {"1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91", "1.2.840.10008.1.2.4.201",
                "1.2.840.10008.1.2.4.202", "1.2.840.10008.1.2.4.203"}
#: start-of-frame markers: the JPEG process SOF0-SOF15 (less DHT, JPG and DAC) and JPEG-LS SOF55
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF, 0xF7}
_STANDALONE = {0x01, 0xD8} | set(range(0xD0, 0xD8))


@dataclass(frozen=True)
class FrameHeader:
    """What a codestream declares: rows, columns, components and bits per sample."""

    rows: int
    cols: int
    samples: int
    bits: int


def jpeg_header(data: bytes) -> FrameHeader | None:
    """The SOF (or JPEG-LS SOF55) frame header of a JPEG codestream; None when there is none."""
    if data[:2] != b"\xff\xd8":
        return None
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in _STANDALONE:
            pos += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image or scan data before any frame header
            return None
        (length,) = struct.unpack(">H", data[pos + 2:pos + 4])
        if marker in _SOF:
            if length < 8 or pos + 10 > len(data):
                return None
            bits, rows, cols, samples = struct.unpack(">BHHB", data[pos + 4:pos + 10])
            return FrameHeader(rows, cols, samples, bits)
        if length < 2:
            return None
        pos += 2 + length
    return None


def j2k_header(data: bytes) -> FrameHeader | None:
    """The SIZ marker segment of a JPEG 2000 codestream (raw, or inside a JP2 file); None if absent."""
    data = _jp2_codestream(data)
    if data[:4] != b"\xff\x4f\xff\x51" or len(data) < 42:
        return None
    xsiz, ysiz, xosiz, yosiz = struct.unpack(">IIII", data[8:24])
    (components,) = struct.unpack(">H", data[40:42])
    depths = data[42:42 + components]
    bits = max(((d & 0x7F) + 1 for d in depths), default=0)
    return FrameHeader(ysiz - yosiz, xsiz - xosiz, components, bits)


def _jp2_codestream(data: bytes) -> bytes:
    """The contiguous codestream box of a JP2 file, or ``data`` itself when it is not a JP2 file."""
    if data[4:8] != b"jP  ":
        return data
    pos = 0
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        header = 8
        if length == 1 and pos + 16 <= len(data):
            (length,) = struct.unpack(">Q", data[pos + 8:pos + 16])
            header = 16
        elif length == 0:
            length = len(data) - pos
        if kind == b"jp2c":
            return data[pos + header:pos + length]
        if length < header:
            break
        pos += length
    return b""


def check_compressed_frame(path: Path, ds, frame: int, frames: int, rows: int, cols: int, samples: int) -> None:
    """Refuse a JPEG / JPEG-LS / JPEG 2000 frame whose own header disagrees with the data set or the limits."""
    from pydicom.encaps import get_frame

    syntax = str(ds.file_meta.get("TransferSyntaxUID", ""))
    if syntax in JPEG_SYNTAXES:
        name, parse = JPEG_SYNTAXES[syntax], jpeg_header
    elif syntax in J2K_SYNTAXES:
        name, parse = "JPEG 2000", j2k_header
    else:
        return
    try:
        data = get_frame(ds.PixelData, frame, number_of_frames=frames)
    except Exception:  # noqa: BLE001 - malformed fragments: the header cannot be found either
        data = b""
    header = parse(bytes(data[:65536]))
    where = f"frame {frame + 1}" if frames > 1 else "the compressed frame"
    if header is None:
        raise RadiographError(path, f"{where} has no readable {name} frame header, so its size is unknown")
    if header.rows == 0 and name == "JPEG":
        raise RadiographError(path, f"{where} leaves its height to a later marker (DNL), which this viewer does not read")
    if (header.rows, header.cols, header.samples) != (rows, cols, samples):
        extra = header.samples != samples
        found = f"{header.cols} x {header.rows} pixels" + (f" of {header.samples} components" if extra else "")
        said = f"{cols} x {rows}" + (f" of {samples}" if extra else "")
        raise RadiographError(path, f"{where} is {found} in its {name} header, but the data set says {said}")
    check_declared(path, header.rows, header.cols, header.samples, max(header.bits, 1))
