"""Strict validation of every DICOM attribute the grayscale pipeline reads.

pydicom parses an element only when it is first touched, so a damaged file fails late and in
many ways (unknown VRs, wrong multiplicity, a sequence stored as text, "abc" where a number
belongs). :func:`clean_dataset` touches each attribute the pipeline uses exactly once, checks its
VR, multiplicity, type and range, and copies what passes into a fresh data set. The pipeline then
runs on that copy only, so nothing it reads can surprise it.

Attributes that change pixel values (geometry, rescale, Modality LUT, palette, pixel data) refuse
the file when malformed; display hints (windows, VOI LUTs, spacing) are dropped with a warning;
descriptive text (patient, study, series) that cannot be read is left out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dfviewer.errors import cause
from dfviewer.io.errors import RadiographError

_INT_VRS = ("US", "SS", "UL", "SL", "IS", "US or SS", "US or OW", "US or SS or OW", "UV", "SV")
_LUT_DATA_VRS = ("OW", "US", "SS", "OB", "US or SS", "US or OW", "US or SS or OW", "OB or OW")


class _Bad(Exception):
    """An attribute that failed its rule; the message continues "its <keyword> attribute ..."."""


@dataclass(frozen=True)
class Rule:
    """What one attribute must be: its VRs, value kind, multiplicity and range."""

    vrs: tuple[str, ...]
    kind: str  # "int", "float", "text", "bytes" or "seq"
    vm: tuple[int, int] = (1, 1)
    low: float = -math.inf
    high: float = math.inf
    fatal: bool = True
    items: dict[str, Rule] | None = None
    max_items: int = 1


def _int(low: float = -math.inf, high: float = math.inf, fatal: bool = True, vm: tuple[int, int] = (1, 1)) -> Rule:
    return Rule(_INT_VRS, "int", vm, low, high, fatal)


def _ds(vm: tuple[int, int] = (1, 1), fatal: bool = True, low: float = -math.inf, high: float = math.inf) -> Rule:
    return Rule(("DS", "FD", "FL"), "float", vm, low, high, fatal)


def _cs(fatal: bool = False, vm: tuple[int, int] = (1, 1)) -> Rule:
    return Rule(("CS",), "text", vm, fatal=fatal)


_LUT_ITEM = {
    "LUTDescriptor": _int(-65536, 65536, vm=(3, 3)),
    "LUTData": Rule(_LUT_DATA_VRS, "lut", (1, 65536), -(2**31), 2**32),
    "ModalityLUTType": Rule(("LO",), "text", fatal=False),
    "LUTExplanation": Rule(("LO",), "text", fatal=False),
}
_RESCALE = {"RescaleSlope": _ds(), "RescaleIntercept": _ds(), "RescaleType": Rule(("LO",), "text", fatal=False)}
_WINDOW = {
    "WindowCenter": _ds((1, 64), fatal=False),
    "WindowWidth": _ds((1, 64), fatal=False),
    "WindowCenterWidthExplanation": Rule(("LO",), "text", (1, 64), fatal=False),
    "VOILUTFunction": _cs(),
}
_FRAME_GROUP = {
    "PixelValueTransformationSequence": Rule(("SQ",), "seq", items=_RESCALE),
    "FrameVOILUTSequence": Rule(("SQ",), "seq", items=_WINDOW, fatal=False),
    "PixelMeasuresSequence": Rule(("SQ",), "seq", items={"PixelSpacing": _ds((2, 2), False, 0.0)}, fatal=False),
}
_PALETTE = {
    f"{colour}PaletteColorLookupTable{part}": rule
    for colour in ("Red", "Green", "Blue")
    for part, rule in (("Descriptor", _int(-65536, 65536, vm=(3, 3))),
                       ("Data", Rule(("OW", "OB", "US or SS or OW", "US or OW"), "bytes")))
}

#: attribute -> rule, for every attribute the pipeline reads
IMAGE_RULES: dict[str, Rule] = {
    "Rows": _int(1, 65535),
    "Columns": _int(1, 65535),
    "NumberOfFrames": _int(1, 100_000),
    "SamplesPerPixel": _int(1, 4),
    "BitsAllocated": _int(1, 64),
    "BitsStored": _int(1, 64),
    "HighBit": _int(0, 63),
    "PixelRepresentation": _int(0, 1),
    "PlanarConfiguration": _int(0, 1),
    "PhotometricInterpretation": _cs(fatal=True),
    **_RESCALE,
    "ModalityLUTSequence": Rule(("SQ",), "seq", items=_LUT_ITEM),
    **_WINDOW,
    "VOILUTSequence": Rule(("SQ",), "seq", items=_LUT_ITEM, fatal=False, max_items=16),
    "PresentationLUTShape": _cs(),
    "PixelSpacing": _ds((2, 2), False, 0.0),
    "ImagerPixelSpacing": _ds((2, 2), False, 0.0),
    "NominalScannedPixelSpacing": _ds((2, 2), False, 0.0),
    "EstimatedRadiographicMagnificationFactor": _ds(fatal=False, low=0.0),
    "SharedFunctionalGroupsSequence": Rule(("SQ",), "seq", items=_FRAME_GROUP),
    "PerFrameFunctionalGroupsSequence": Rule(("SQ",), "seq", items=_FRAME_GROUP, max_items=100_000),
    **_PALETTE,
    "PixelData": Rule(("OB", "OW", "OB or OW"), "bytes"),
    "FloatPixelData": Rule(("OF",), "bytes"),
    "DoubleFloatPixelData": Rule(("OD",), "bytes"),
    "ExtendedOffsetTable": Rule(("OV",), "bytes", fatal=False),
    "ExtendedOffsetTableLengths": Rule(("OV",), "bytes", fatal=False),
}

#: descriptive attributes kept when they read cleanly (metadata shown, tags copied into exports)
DESCRIPTIVE = (
    "SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID", "Modality", "PatientName",
    "PatientID", "IssuerOfPatientID", "PatientBirthDate", "PatientSex", "PatientAge", "PatientSize",
    "PatientWeight", "PatientComments", "StudyDate", "StudyTime", "StudyID", "AccessionNumber",
    "ReferringPhysicianName", "StudyDescription", "SeriesDescription", "SeriesNumber", "ViewPosition",
    "BodyPartExamined", "Laterality", "ImageLaterality", "PatientOrientation", "Manufacturer",
    "ManufacturerModelName", "AcquisitionDate", "ContentDate", "SeriesDate", "ImageType", "SpecificCharacterSet",
)
_TEXT_VRS = {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UI", "UT"}
_MAX_TEXT = 10_000


def clean_dataset(path: Path, ds: Any, warn: list[str]) -> Any:
    """A new data set with only the validated image attributes and readable descriptive ones.

    Raises :class:`RadiographError` (one sentence naming the attribute) when an attribute that
    changes pixel values is malformed; appends to ``warn`` for dropped display hints.
    """
    from pydicom.dataset import Dataset

    clean = Dataset()
    _copy_rules(path, ds, clean, IMAGE_RULES, warn, where="")
    dropped = [keyword for keyword in DESCRIPTIVE if not _copy_descriptive(ds, clean, keyword)]
    if dropped:
        warn.append(f"Unreadable descriptive attributes were left out: {', '.join(dropped[:6])}.")
    clean.file_meta = _clean_meta(path, ds)
    try:
        implicit, little = ds.original_encoding
    except (AttributeError, TypeError, ValueError):
        implicit, little = None, None
    if implicit is not None and little is not None:
        clean.set_original_encoding(bool(implicit), bool(little))
    return clean


def _copy_rules(path: Path, source: Any, target: Any, rules: dict[str, Rule], warn: list[str], where: str) -> None:
    for keyword, rule in rules.items():
        try:
            element = _element(source, keyword)
            if element is None:
                continue
            value = _checked(element, rule, path, warn, f"{where}{keyword}")
        except _Bad as bad:
            if rule.fatal:
                raise RadiographError(path, f"its {where}{keyword} attribute {bad}") from None
            warn.append(f"The file's {where}{keyword} attribute {bad}; it was ignored.")
            continue
        target.add_new(element.tag, element.VR, value)


def _element(source: Any, keyword: str) -> Any:
    """The converted element, or None when absent; any parse failure becomes :class:`_Bad`."""
    try:
        if keyword not in source:
            return None
        return source[keyword]
    except Exception as exc:  # noqa: BLE001 - pydicom's deferred parsing raises many types
        raise _Bad(f"cannot be parsed ({cause(exc)})") from None


def _checked(element: Any, rule: Rule, path: Path, warn: list[str], where: str) -> Any:
    vr = str(element.VR)
    if vr not in rule.vrs:
        raise _Bad(f"is stored as {vr}, not {' or '.join(rule.vrs[:2])}")
    value = element.value
    if rule.kind == "bytes":
        if not isinstance(value, (bytes, bytearray)):
            raise _Bad(f"holds {type(value).__name__}, not bytes")
        return value
    if rule.kind == "seq":
        return _checked_sequence(value, rule, path, warn, where)
    if rule.kind == "lut" and isinstance(value, (bytes, bytearray)):
        if not 2 <= len(value) <= 2 * rule.vm[1] or len(value) % 2:
            raise _Bad(f"holds {len(value)} bytes, not 1 to {rule.vm[1]} 16-bit entries")
        return value
    values = as_list(value)
    low, high = rule.vm
    if not low <= len(values) <= high:
        expected = str(low) if low == high else f"{low} to {high}"
        raise _Bad(f"has {len(values)} values, not {expected}")
    for item in values:
        _check_value(item, rule)
    return value


def _checked_sequence(value: Any, rule: Rule, path: Path, warn: list[str], where: str) -> Any:
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    try:
        items = list(value)
    except TypeError:
        raise _Bad("is not a sequence of items") from None
    if len(items) > rule.max_items:
        raise _Bad(f"has {len(items)} items, at most {rule.max_items} are expected")
    out = []
    for item in items:
        if not isinstance(item, Dataset):
            raise _Bad("holds something other than items")
        clean = Dataset()
        _copy_rules(path, item, clean, rule.items or {}, warn, where=f"{where} > ")
        _check_lut_length(clean)
        out.append(clean)
    return Sequence(out)


def _check_lut_length(item: Any) -> None:
    """A LUT's data must hold as many entries as its descriptor promises (0 means 65,536)."""
    if "LUTDescriptor" not in item or "LUTData" not in item:
        return
    promised = int(item.LUTDescriptor[0]) or 65536
    data = item.LUTData
    held = len(data) // 2 if isinstance(data, (bytes, bytearray)) else len(as_list(data))
    if held < promised:
        raise _Bad(f"holds a LUT of {held} entries where its descriptor promises {promised}")


def _check_value(item: Any, rule: Rule) -> None:
    if rule.kind in ("text",):
        if not isinstance(item, str) or len(item) > _MAX_TEXT:
            raise _Bad("is not a short text value")
        return
    if isinstance(item, (bytes, bytearray, bool)) or item is None:
        raise _Bad(f"holds {type(item).__name__}, not a number")
    try:
        number = float(item)
    except (TypeError, ValueError, OverflowError):
        raise _Bad(f"holds {str(item)[:20]!r}, not a number") from None
    if not math.isfinite(number):
        raise _Bad("is not finite")
    if rule.kind == "int" and number != int(number):
        raise _Bad(f"holds {number:g}, not a whole number")
    if not rule.low <= number <= rule.high:
        raise _Bad(f"holds {number:g}, outside {rule.low:g} to {rule.high:g}")


def _copy_descriptive(source: Any, target: Any, keyword: str) -> bool:
    """Copy a text-valued attribute if it reads cleanly with its dictionary VR; False if it was dropped."""
    from pydicom.datadict import dictionary_VR, tag_for_keyword

    try:
        if keyword not in source:
            return True
        element = source[keyword]
        tag = tag_for_keyword(keyword)
        if tag is None:  # not a dictionary keyword (dictionary_VR would raise): dropped, as before
            return False
        expected = dictionary_VR(tag)
        values = as_list(element.value)
        if str(element.VR) != expected or expected not in _TEXT_VRS or len(values) > 64:
            return False
        if sum(len(str(v)) for v in values) > _MAX_TEXT:
            return False
        target.add_new(element.tag, element.VR, element.value)
        return True
    except Exception:  # noqa: BLE001 - descriptive text never stops a read
        return False


def _clean_meta(path: Path, ds: Any) -> Any:
    from pydicom.dataset import FileMetaDataset

    meta = FileMetaDataset()
    source = getattr(ds, "file_meta", None)
    if source is None:
        return meta
    for keyword in ("TransferSyntaxUID", "MediaStorageSOPClassUID", "MediaStorageSOPInstanceUID"):
        try:
            if keyword not in source:
                continue
            value = source[keyword].value
        except Exception as exc:  # noqa: BLE001
            if keyword == "TransferSyntaxUID":
                raise RadiographError(path, f"its transfer syntax cannot be parsed ({cause(exc)})") from None
            continue
        text = str(value).strip("\0 ")
        if len(text) > 64 or not text.replace(".", "").isdigit():
            if keyword == "TransferSyntaxUID":
                raise RadiographError(path, f"its transfer syntax {text[:30]!r} is not a valid UID")
            continue
        setattr(meta, keyword, text)
    return meta


def as_list(value: Any) -> list:
    """A DICOM value as a list: a multi-value's items, one value alone, nothing for an empty value."""
    if value is None or value == "" or value == b"":
        return []
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return list(value)
    return [value]
