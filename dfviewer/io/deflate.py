"""A deflated DICOM data set is measured in bounded pieces before pydicom inflates it whole.

pydicom inflates a Deflated Explicit VR Little Endian data set in one call, so a 1 MB file that
inflates to 2 GB takes 2 GB. :func:`check_deflated` counts the inflated size first, keeping at
most one small piece in memory, and refuses the file once the count passes the limit.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

from dfviewer.io.errors import RadiographError
from dfviewer.io.limits import MAX_INFLATED_BYTES

DEFLATED = "1.2.840.10008.1.2.1.99"
_LONG_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}
_PIECE = 1 << 20


def data_set_offset(handle) -> int | None:
    """Offset of the data set after the file meta group when the transfer syntax is deflated, else None."""
    head = handle.read(132)
    if len(head) < 132 or head[128:] != b"DICM":
        return None
    syntax = b""
    while True:
        start = handle.tell()
        element = handle.read(8)
        if len(element) < 8:
            return None
        group, number, vr = struct.unpack("<HH2s", element[:6])
        if group != 2:
            return start if syntax.rstrip(b"\0 ").decode("ascii", "replace") == DEFLATED else None
        if vr in _LONG_VRS:
            extra = handle.read(4)
            if len(extra) < 4:
                return None
            (length,) = struct.unpack("<I", extra)
        else:
            (length,) = struct.unpack("<H", element[6:8])
        if length > 1 << 16:
            return None  # a file meta element of this size is damage; pydicom will say so
        value = handle.read(length)
        if number == 0x0010:
            syntax = value


def check_deflated(path: Path, limit: int = MAX_INFLATED_BYTES) -> None:
    """Refuse a deflated data set that inflates to more than ``limit`` bytes (counted, not kept)."""
    with open(path, "rb") as handle:
        offset = data_set_offset(handle)
        if offset is None:
            return
        handle.seek(offset)
        inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        total = 0
        while not inflater.eof:
            chunk = inflater.unconsumed_tail or handle.read(_PIECE)
            if not chunk:
                return
            try:
                total += len(inflater.decompress(chunk, _PIECE))
            except zlib.error:
                return  # damaged deflate data: pydicom's own error names it
            if total > limit:
                raise RadiographError(
                    path, f"its deflated data set inflates to more than {limit // 1_000_000} MB, "
                    "larger than this viewer accepts")
