"""Seeded mutations of real files: generic byte damage plus format-aware attacks.

Every mutator takes ``(data, rng)`` and returns new bytes; :func:`mutate` picks one (or a few)
for a file kind. Format-aware mutators fall back to byte damage when a file does not parse.
"""

from __future__ import annotations

import io
import json
import random
import re
import struct
import zlib
from collections.abc import Callable

INTERESTING = (0, 1, 2, 3, 4, 7, 8, 15, 16, 31, 32, 63, 64, 127, 128, 255, 256, 4095, 4096, 32767, 32768,
               65535, 65536, 1 << 20, 1 << 24, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF)
BIG = (10000, 30000, 50000, 60000, 65535, 100000, 1 << 20, 50_000_000, 0x7FFFFFFF, 0xFFFFFFFF)


# ---------------------------------------------------------------- generic byte damage
def flip_bits(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        i = rng.randrange(len(out))
        out[i] ^= 1 << rng.randrange(8)
    return bytes(out)


def random_bytes(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 16)):
        out[rng.randrange(len(out))] = rng.randrange(256)
    return bytes(out)


def interesting_int(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    width = rng.choice((1, 2, 4))
    value = rng.choice(INTERESTING) & ((1 << (8 * width)) - 1)
    i = rng.randrange(max(1, len(out) - width))
    out[i:i + width] = value.to_bytes(width, rng.choice(("little", "big")))
    return bytes(out)


def truncate(data: bytes, rng: random.Random) -> bytes:
    return data[: rng.randrange(1, max(2, len(data)))]


def delete_chunk(data: bytes, rng: random.Random) -> bytes:
    i = rng.randrange(len(data))
    return data[:i] + data[i + rng.randint(1, max(1, min(512, len(data) - i))):]


def duplicate_chunk(data: bytes, rng: random.Random) -> bytes:
    i = rng.randrange(len(data))
    n = rng.randint(1, 256)
    j = rng.randrange(len(data))
    return data[:j] + data[i:i + n] + data[j:]


def insert_random(data: bytes, rng: random.Random) -> bytes:
    i = rng.randrange(len(data))
    return data[:i] + bytes(rng.randrange(256) for _ in range(rng.randint(1, 64))) + data[i:]


GENERIC: tuple[Callable[[bytes, random.Random], bytes], ...] = (
    flip_bits, random_bytes, interesting_int, truncate, delete_chunk, duplicate_chunk, insert_random,
)


# ---------------------------------------------------------------- DICOM
_VRS = (b"US", b"SS", b"UL", b"SL", b"FD", b"FL", b"DS", b"IS", b"LO", b"SH", b"CS", b"UI", b"SQ", b"OB", b"OW",
        b"OF", b"OD", b"UN", b"UT", b"PN", b"DA", b"TM", b"AT", b"ST", b"LT", b"UC", b"UR", b"OV", b"SV", b"UV", b"XX")
_VR_AT = re.compile(b"(?=(" + b"|".join(_VRS[:-1]) + b"))")

#: attributes the pipeline reads, and values a damaged or hostile file may hold
DICOM_TARGETS = (
    "Rows", "Columns", "NumberOfFrames", "SamplesPerPixel", "BitsAllocated", "BitsStored", "HighBit",
    "PixelRepresentation", "PlanarConfiguration", "PhotometricInterpretation", "RescaleSlope", "RescaleIntercept",
    "WindowCenter", "WindowWidth", "VOILUTFunction", "PresentationLUTShape", "PixelSpacing",
    "ImagerPixelSpacing", "EstimatedRadiographicMagnificationFactor", "ModalityLUTSequence", "VOILUTSequence",
    "SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence", "PixelData", "SOPClassUID", "Modality",
    "PatientName", "StudyDate", "TransferSyntaxUID",
)
_HOSTILE_TEXT = ("abc", "1e400", "nan", "-inf", "1\\2\\3", "", " ", "0", "-1", "65536", "1" * 70, "\x00\x01",
                 "MONOCHROME3", "PALETTE COLOR", "YBR_FULL_422", "INVERSE", "1.2.3.4.5")
_HOSTILE_VRS = ("LO", "FD", "UN", "OB", "SQ", "US", "DS", "IS", "SL", "CS")


def dicom_vr_confusion(data: bytes, rng: random.Random) -> bytes:
    """Replace the VR code of an explicit-VR element with another (or a nonsense) code."""
    hits = [m.start() for m in _VR_AT.finditer(data, 132) if m.start() >= 136]
    if not hits:
        return flip_bits(data, rng)
    out = bytearray(data)
    i = rng.choice(hits)
    out[i:i + 2] = rng.choice(_VRS)
    return bytes(out)


def dicom_attribute(data: bytes, rng: random.Random) -> bytes:
    """Rewrite one attribute the pipeline reads with a hostile value, VR or multiplicity."""
    import pydicom
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    try:
        ds = pydicom.dcmread(io.BytesIO(data), force=True)
    except Exception:  # noqa: BLE001 - the seed may not parse after all
        return random_bytes(data, rng)
    keyword = rng.choice(DICOM_TARGETS)
    target = ds.file_meta if keyword == "TransferSyntaxUID" and getattr(ds, "file_meta", None) is not None else ds
    from pydicom.datadict import tag_for_keyword

    tag = tag_for_keyword(keyword)
    action = rng.randrange(7)
    try:
        if action == 0 and keyword in target:
            del target[keyword]
        elif action == 1:
            target.add_new(tag, rng.choice(_HOSTILE_VRS[:1] + ("LO", "CS", "DS", "IS")), rng.choice(_HOSTILE_TEXT))
        elif action == 2:
            vr = rng.choice(("US", "UL", "SS", "SL"))
            limit = {"US": 65535, "UL": 0xFFFFFFFF, "SS": 32767, "SL": 0x7FFFFFFF}[vr]
            count = rng.choice((1, 1, 1, 2, 3, 9))
            values = [min(rng.choice(BIG + INTERESTING), limit) for _ in range(count)]
            target.add_new(tag, vr, values if count > 1 else values[0])
        elif action == 3:
            target.add_new(tag, "FD", rng.choice((float("inf"), float("nan"), -1e308, 1e308, 0.0, -0.0, 3.5)))
        elif action == 4:
            item = Dataset()
            item.add_new(0x00283002, rng.choice(("US", "SS", "LO")), rng.choice(([4096, 0, 16], [0, 0, 16], [65535, 65535, 8], "x")))
            n = rng.choice((0, 1, 10, 4095, 4097))
            item.add_new(0x00283006, rng.choice(("US", "OW", "LO")), [rng.randrange(65536) for _ in range(n)]
                         if n else b"")
            target.add_new(tag, "SQ", Sequence([item] * rng.choice((1, 2, 40))))
        elif action == 5:
            target.add_new(tag, rng.choice(("OB", "UN", "SQ")), bytes(rng.randrange(256) for _ in range(rng.choice((0, 1, 7, 64)))))
        else:
            for kw in ("Rows", "Columns"):
                ds.add_new(tag_for_keyword(kw), "US", rng.choice(BIG[:5]))
            if rng.random() < 0.5:
                ds.add_new(tag_for_keyword("NumberOfFrames"), "IS", str(rng.choice((2, 1000, 100000, 2**31))))
        buffer = io.BytesIO()
        ds.save_as(buffer, enforce_file_format=False)
        return buffer.getvalue()
    except Exception:  # noqa: BLE001 - pydicom refused to write the hostile value; damage bytes instead
        return interesting_int(data, rng)


# ---------------------------------------------------------------- plain images
def png_header(data: bytes, rng: random.Random) -> bytes:
    """Declare a huge or odd size / depth / colour type in IHDR, with a valid CRC."""
    i = data.find(b"IHDR")
    if i < 4:
        return interesting_int(data, rng)
    fields = bytearray(data[i + 4:i + 17])
    choice = rng.randrange(3)
    if choice == 0:
        struct.pack_into(">II", fields, 0, rng.choice(BIG + (1, 0)), rng.choice(BIG + (1, 0)))
    elif choice == 1:
        fields[8] = rng.choice((1, 2, 4, 8, 16, 3, 255))
    else:
        fields[9] = rng.choice((0, 2, 3, 4, 6, 1, 7))
    crc = struct.pack(">I", zlib.crc32(b"IHDR" + bytes(fields)) & 0xFFFFFFFF)
    return data[:i + 4] + bytes(fields) + crc + data[i + 21:]


def gif_header(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    if len(out) < 10:
        return flip_bits(data, rng)
    struct.pack_into("<HH", out, 6, rng.choice((10000, 65535, 0, 1)), rng.choice((10000, 65535, 0, 1)))
    j = out.find(b",", 13)  # image descriptor
    if j > 0 and j + 9 <= len(out) and rng.random() < 0.7:
        struct.pack_into("<HH", out, j + 5, rng.choice((10000, 65535, 0)), rng.choice((10000, 65535, 0)))
    return bytes(out)


def jpeg_header(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for marker in (b"\xff\xc0", b"\xff\xc1", b"\xff\xc2"):
        i = out.find(marker)
        if i >= 0 and i + 9 <= len(out):
            struct.pack_into(">HH", out, i + 5, rng.choice((65535, 60000, 10000, 0)), rng.choice((65535, 60000, 10000, 0)))
            if rng.random() < 0.3:
                out[i + 9] = rng.choice((0, 3, 4, 255))  # number of components
            return bytes(out)
    return interesting_int(data, rng)


def tiff_tags(data: bytes, rng: random.Random) -> bytes:
    """Give the first IFD's size, samples, bits or planar tags extreme values."""
    if data[:2] not in (b"II", b"MM") or len(data) < 16:
        return interesting_int(data, rng)
    order = "<" if data[:2] == b"II" else ">"
    try:
        (offset,) = struct.unpack_from(order + "I", data, 4)
        (count,) = struct.unpack_from(order + "H", data, offset)
    except struct.error:
        return interesting_int(data, rng)
    out = bytearray(data)
    targets = {256: BIG, 257: BIG, 277: (3, 4, 5, 255, 65535), 258: (1, 12, 24, 64, 255), 284: (2, 3, 0),
               259: (2, 7, 50000, 8, 5), 262: (0, 1, 3, 5, 32844), 278: (0, 1, 65535), 339: (3, 4, 9)}
    entries = [offset + 2 + 12 * k for k in range(min(count, 64)) if offset + 14 + 12 * k <= len(data)]
    chosen = [e for e in entries if struct.unpack_from(order + "H", data, e)[0] in targets]
    if not chosen:
        return interesting_int(data, rng)
    for entry in rng.sample(chosen, k=min(len(chosen), rng.randint(1, 2))):
        tag, kind = struct.unpack_from(order + "HH", data, entry)
        value = rng.choice(targets[tag])
        if kind == 3:
            struct.pack_into(order + "HH", out, entry + 8, min(value, 65535), 0)
        else:
            struct.pack_into(order + "HI", out, entry + 2, 4, value)
            struct.pack_into(order + "I", out, entry + 8, value)
    return bytes(out)


def npy_header(data: bytes, rng: random.Random) -> bytes:
    start = data.find(b"{")
    end = data.find(b"}", start)
    if start < 0 or end < 0:
        return interesting_int(data, rng)
    header = data[start:end + 1].decode("latin1")
    options = ("(50000000, 3)", "(3, 8, 50000000)", "(0, 48)", "(48,)", "(100000, 100000)", "(2, 2, 2, 2, 2)")
    header = re.sub(r"\(.*?\)", rng.choice(options), header, count=1)
    if rng.random() < 0.3:
        header = header.replace("'<f4'", rng.choice(("'|O'", "'<c8'", "'>f8'", "'|b1'", "'<U4'")))
    return data[:start] + header.encode("latin1") + data[end + 1:]


# ---------------------------------------------------------------- checkpoints
def checkpoint_header(data: bytes, rng: random.Random) -> bytes:
    """Rewrite the safetensors JSON header: config / metadata types, nesting, sizes, tensor entries."""
    try:
        (n,) = struct.unpack_from("<Q", data, 0)
        header = json.loads(data[8:8 + n])
        config = json.loads(header["__metadata__"]["config"])
    except Exception:  # noqa: BLE001
        return interesting_int(data, rng)
    meta = header["__metadata__"]
    action = rng.randrange(8)
    if action == 0:
        key = rng.choice(sorted(config))
        config[key] = rng.choice((8.0, "8", None, [], {}, -1, 0, 1 << 30, 1e308, True, float("inf"), "x" * 1000))
    elif action == 1 and isinstance(config.get("normalization"), dict) and config["normalization"]:
        key = rng.choice(sorted(config["normalization"]))
        config["normalization"][key] = rng.choice((float("nan"), float("inf"), -1e30, 0, "fixed", None, [1, 2]))
    elif action == 2:
        config[rng.choice(("base_width", "depth", "working_size", "n_stages"))] = rng.choice((1 << 14, 64, 40, 1 << 30, 9))
    elif action == 3:
        meta[rng.choice(("config", "metadata"))] = rng.choice(("[]", "1", '"x"', "[" * 5000 + "]" * 5000, "{", "null"))
    elif action == 4:
        meta["dfviewer_format"] = rng.choice(("abc", "2", "1.5", "", "-1", "999999999999999999999"))
    elif action == 5:
        name = rng.choice([k for k in header if k != "__metadata__"])
        entry = header[name]
        field = rng.choice(("dtype", "shape", "data_offsets"))
        entry[field] = {"dtype": rng.choice(("F16", "F64", "I64", "BOOL", "X")), "shape": rng.choice(([], [1 << 40], [0], [3, 3, 3, 3, 3])),
                        "data_offsets": rng.choice(([0, 1 << 40], [5, 3], [0, 0]))}[field]
    elif action == 6:
        # poison one float32 tensor with NaN / Inf, keeping the header valid
        name = rng.choice([k for k in header if k != "__metadata__" and header[k]["dtype"] == "F32"])
        start, stop = header[name]["data_offsets"]
        out = bytearray(data)
        base = 8 + n + start
        index = base + 4 * rng.randrange(max(1, (stop - start) // 4))
        out[index:index + 4] = struct.pack("<f", rng.choice((float("nan"), float("inf"), -float("inf"), 1e38)))
        return bytes(out)
    else:
        return flip_bits(data, rng)
    if action in (0, 1, 2):
        meta["config"] = json.dumps(config)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data[8 + n:]


FORMAT_MUTATORS: dict[str, tuple[Callable[[bytes, random.Random], bytes], ...]] = {
    ".dcm": (dicom_vr_confusion, dicom_attribute, dicom_attribute),
    ".png": (png_header,),
    ".gif": (gif_header,),
    ".jpg": (jpeg_header,),
    ".tif": (tiff_tags,),
    ".npy": (npy_header,),
    ".safetensors": (checkpoint_header, checkpoint_header, checkpoint_header),
}


def mutate(data: bytes, suffix: str, rng: random.Random) -> tuple[bytes, str]:
    """One to three mutations; format-aware about half of the time. Returns (bytes, names applied)."""
    names = []
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        aware = FORMAT_MUTATORS.get(suffix, ())
        mutator = rng.choice(aware) if aware and rng.random() < 0.55 else rng.choice(GENERIC)
        try:
            mutated = mutator(data, rng)
        except Exception:  # noqa: BLE001 - an earlier mutation broke the format this one expects
            mutated, mutator = random_bytes(data, rng), random_bytes
        data = mutated or b"\0"
        names.append(mutator.__name__)
    return data, "+".join(names)
