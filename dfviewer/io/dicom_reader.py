"""The DICOM grayscale pipeline, in the standard's order.

1. decode the stored values of one frame (native, deflated, RLE, JPEG baseline/extended/
   lossless, JPEG-LS, JPEG 2000 through pydicom and the pylibjpeg plugins);
2. colour images (RGB, YBR, PALETTE COLOR) become gray (luma) with a warning;
3. Modality LUT: Rescale Slope/Intercept or a Modality LUT Sequence (per-frame functional
   groups of enhanced multi-frame objects take precedence) -> ``Radiograph.pixels``;
4. VOI: Window Center/Width (every pair becomes a preset, LINEAR converted exactly to our linear
   window, LINEAR_EXACT as is, SIGMOID approximated) or a VOI LUT Sequence (approximated by the
   input range it spans) -> ``Radiograph.window`` and ``window_presets``; the VOI is never baked
   into the pixels;
5. MONOCHROME1 (and a Presentation LUT Shape of INVERSE) is inverted *after* the VOI: the pixels
   are reflected about the middle of the modality output range, ``p' = (lo + hi) - p``, and every
   window centre likewise, so a window on ``p'`` shows exactly the file's intended display.
   Larger pixel values therefore always mean more attenuation (bone brighter than lung).

The file's VOI windows are read in :mod:`~dfviewer.io.dicom_voi`, what a viewer shows about the
file in :mod:`~dfviewer.io.dicom_metadata`.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from dfviewer.errors import first_line
from dfviewer.io.codestream import check_compressed_frame
from dfviewer.io.deflate import check_deflated
from dfviewer.io.dicom_attributes import clean_dataset
from dfviewer.io.dicom_metadata import dicom_metadata
from dfviewer.io.dicom_voi import file_windows
from dfviewer.io.errors import RadiographError
from dfviewer.io.images import luma
from dfviewer.io.limits import check_declared
from dfviewer.io.modality import apply_modality, check_rescaled, lut_table
from dfviewer.io.radiograph import Radiograph, auto_window
from dfviewer.io.spacing import pixel_spacing

#: SOP classes that never hold an image, by their UID prefix or exact UID -> what they are
NON_IMAGE_NAMES = {
    "1.2.840.10008.1.3.10": "a DICOMDIR (a media directory listing other files)",
    "1.2.840.10008.5.1.4.1.1.481.5": "an RT Plan",
    "1.2.840.10008.5.1.4.1.1.481.8": "an RT Ion Plan",
    "1.2.840.10008.5.1.4.1.1.481.3": "an RT Structure Set",
    "1.2.840.10008.5.1.4.1.1.481.4": "an RT Beams Treatment Record",
    "1.2.840.10008.5.1.4.1.1.11.1": "a Grayscale Softcopy Presentation State",
    "1.2.840.10008.5.1.4.1.1.104.1": "an encapsulated PDF",
    "1.2.840.10008.5.1.4.1.1.66": "a raw data object",
    "1.2.840.10008.5.1.4.1.1.66.1": "a spatial registration",
    "1.2.840.10008.5.1.4.1.1.88.": "a structured report",
    "1.2.840.10008.5.1.4.1.1.9.": "a waveform (e.g. ECG)",
    "1.2.840.10008.5.1.4.1.1.11.": "a presentation state",
    "1.2.840.10008.5.1.4.1.1.481.": "a radiotherapy object",
}
NON_IMAGE_MODALITIES = {
    "RTPLAN": "an RT Plan", "RTSTRUCT": "an RT Structure Set", "RTRECORD": "an RT treatment record",
    "SR": "a structured report", "ECG": "a waveform (ECG)", "HD": "a waveform", "KO": "a key object selection",
    "PR": "a presentation state", "REG": "a registration", "DOC": "an encapsulated document",
}
PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
NATIVE_SYNTAXES = {
    "1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99",
}


def read_dicom(path: str | Path, frame: int = 0, force: bool = False) -> Radiograph:
    """Read one frame of a DICOM image file; see the module docstring for the pipeline."""
    path = Path(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = open_dataset(path, force)
        refuse_non_image(path, ds)
        warn: list[str] = []
        clean = clean_dataset(path, ds, warn)
        radiograph = dataset_to_radiograph(clean, path, frame)
        radiograph.warnings[:0] = warn
        radiograph.file_dataset = ds
        return radiograph


def open_dataset(path: Path, force: bool):
    """``dcmread`` with every failure turned into one sentence."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    if not force:
        # A bare data set (no preamble, no file meta) from an old archive starts with group 0008.
        with open(path, "rb") as handle:
            force = handle.read(2) == b"\x08\x00"
    try:
        check_deflated(path)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(path, force=force)
    except RadiographError:
        raise
    except InvalidDicomError:
        raise RadiographError(
            path, "it is not a DICOM file (no 'DICM' marker after the 128-byte preamble)"
        ) from None
    except MemoryError:
        raise RadiographError(path, "it is too large to load into memory") from None
    except Exception as exc:  # noqa: BLE001 - pydicom raises many types on damaged files
        raise RadiographError(path, f"the DICOM data could not be parsed ({first_line(exc)})") from None
    if len(ds) == 0:
        if getattr(ds, "file_meta", None):
            raise RadiographError(path, "it has a DICOM header but no readable data set after it (empty or truncated)")
        raise RadiographError(path, "it holds no DICOM data elements (not a DICOM file)")
    return ds


def refuse_non_image(path: Path, ds) -> None:
    """Raise for DICOMDIRs, plans, reports, waveforms and anything else without pixel data."""
    meta = getattr(ds, "file_meta", None)
    sop = str(ds.get("SOPClassUID", "") or (meta.get("MediaStorageSOPClassUID", "") if meta is not None else ""))
    if "DirectoryRecordSequence" in ds or sop == "1.2.840.10008.1.3.10":
        raise RadiographError(path, "it is a DICOMDIR (a media directory listing other files), not an image; "
                              "open one of the image files it lists")
    if any(k in ds for k in PIXEL_KEYWORDS):
        return
    what = ""
    for uid, name in NON_IMAGE_NAMES.items():
        if sop == uid or (uid.endswith(".") and sop.startswith(uid)):
            what = name
            break
    if not what:
        what = NON_IMAGE_MODALITIES.get(str(ds.get("Modality", "")).upper(), "")
    if not what and "WaveformSequence" in ds:
        what = "a waveform"
    if what:
        raise RadiographError(path, f"it is {what}, which holds no image")
    if not len(ds):
        raise RadiographError(path, "it holds no DICOM data elements")
    if not any(k in ds for k in ("SOPClassUID", "Modality", "Rows", "StudyInstanceUID", "PatientID")):
        raise RadiographError(path, "no DICOM image attributes were found in it (it may not be DICOM data at all)")
    raise RadiographError(path, "the DICOM file holds no pixel data")


def _frame_item(ds, frame: int, keyword: str):
    """The functional-group item ``keyword`` for ``frame`` (per-frame first, then shared)."""
    for seq_name, index in (("PerFrameFunctionalGroupsSequence", frame), ("SharedFunctionalGroupsSequence", 0)):
        seq = ds.get(seq_name)
        if not seq or index >= len(seq):
            continue
        inner = seq[index].get(keyword)
        if inner:
            return inner[0]
    return None


def frame_view(ds, frame: int):
    """A small Dataset holding the attributes the LUT functions need, with functional groups applied."""
    from pydicom.dataset import Dataset

    view = Dataset()
    for keyword in ("PhotometricInterpretation", "BitsStored", "BitsAllocated", "PixelRepresentation",
                    "RescaleSlope", "RescaleIntercept", "RescaleType", "ModalityLUTSequence",
                    "WindowCenter", "WindowWidth", "WindowCenterWidthExplanation", "VOILUTFunction",
                    "VOILUTSequence", "PresentationLUTShape", "PixelSpacing"):
        if keyword in ds:
            view[keyword] = ds[keyword]
    pvt = _frame_item(ds, frame, "PixelValueTransformationSequence")
    if pvt is not None and "RescaleSlope" in pvt and "RescaleIntercept" in pvt:
        view.RescaleSlope = pvt.RescaleSlope
        view.RescaleIntercept = pvt.RescaleIntercept
    voi = _frame_item(ds, frame, "FrameVOILUTSequence")
    if voi is not None:
        for keyword in ("WindowCenter", "WindowWidth", "WindowCenterWidthExplanation", "VOILUTFunction"):
            if keyword in voi:
                view[keyword] = voi[keyword]
    measures = _frame_item(ds, frame, "PixelMeasuresSequence")
    if measures is not None and "PixelSpacing" in measures:
        view.PixelSpacing = measures.PixelSpacing
    meta = getattr(ds, "file_meta", None)
    if meta is not None:
        view.file_meta = meta
    view.set_original_encoding(*_encoding(ds))
    return view


def _encoding(ds) -> tuple[bool, bool]:
    try:
        implicit, little = ds.original_encoding
        if implicit is not None and little is not None:
            return bool(implicit), bool(little)
    except AttributeError:
        pass
    return False, True


def _ensure_transfer_syntax(ds) -> None:
    """Files read with force may lack a transfer syntax; infer it from how the data set was encoded."""
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

    meta = getattr(ds, "file_meta", None)
    if meta is None:
        meta = FileMetaDataset()
        ds.file_meta = meta
    if "TransferSyntaxUID" in meta:
        return
    implicit, little = _encoding(ds)
    meta.TransferSyntaxUID = (ImplicitVRLittleEndian if implicit else
                              ExplicitVRLittleEndian if little else ExplicitVRBigEndian)


def _int(ds, keyword: str, default: int | None = None) -> int | None:
    value = ds.get(keyword, default)
    try:
        return int(value) if value not in (None, "") else default
    except (TypeError, ValueError):
        return default


def check_geometry(path: Path, ds) -> tuple[int, int, int, int]:
    """(rows, cols, frames, samples) after sanity checks; refuses absurd or missing values."""
    rows, cols = _int(ds, "Rows"), _int(ds, "Columns")
    if not rows or not cols or rows < 1 or cols < 1:
        raise RadiographError(path, "the image size (Rows/Columns) is missing or zero")
    frames = _int(ds, "NumberOfFrames", 1) or 1
    samples = _int(ds, "SamplesPerPixel", 1) or 1
    if frames < 1 or samples not in (1, 3, 4):
        raise RadiographError(path, f"the image header is inconsistent ({frames} frames, {samples} samples per pixel)")
    bits = _int(ds, "BitsAllocated", 0) or 0
    if "PixelData" in ds and bits not in (1, 8, 16, 32, 64):
        raise RadiographError(path, f"it has an unsupported Bits Allocated of {bits}")
    if "FloatPixelData" in ds:
        bits = 32
    elif "DoubleFloatPixelData" in ds:
        bits = 64
    stored = _int(ds, "BitsStored", bits) or bits
    if "PixelData" in ds and not 1 <= stored <= bits:
        raise RadiographError(path, f"it declares {stored} bits stored in {bits} bits allocated")
    check_declared(path, rows, cols, samples, bits, frames)
    return rows, cols, frames, samples


def check_length(path: Path, ds, rows: int, cols: int, frames: int, samples: int) -> None:
    """Refuse native pixel data shorter than the header promises (truncated files)."""
    syntax = str(ds.file_meta.get("TransferSyntaxUID", ""))
    keyword = next(k for k in PIXEL_KEYWORDS if k in ds)
    if keyword == "PixelData" and syntax not in NATIVE_SYNTAXES:
        return
    bits = {"PixelData": _int(ds, "BitsAllocated", 0) or 0, "FloatPixelData": 32, "DoubleFloatPixelData": 64}[keyword]
    if str(ds.get("PhotometricInterpretation", "")).strip().upper() == "YBR_FULL_422":
        samples = 2  # 4:2:2 keeps one chroma pair for every two pixels
    total_bits = rows * cols * frames * samples * bits
    expected = (total_bits + 7) // 8
    value = ds[keyword].value
    actual = len(value) if value is not None else 0
    if actual < expected:
        raise RadiographError(path, f"the pixel data is truncated ({actual} of {expected} bytes)")


def decode_frame(path: Path, ds, frame: int, frames: int) -> np.ndarray:
    """The stored values of one frame (colour converted to RGB by pydicom)."""
    from pydicom.pixels import pixel_array

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if frames > 1:
                arr = pixel_array(ds, index=frame)
            else:
                arr = ds.pixel_array
    except MemoryError:
        raise RadiographError(path, "the pixel data is too large to decode") from None
    except Exception as exc:  # noqa: BLE001 - decoders raise many types on damaged data
        syntax = ds.file_meta.get("TransferSyntaxUID")
        name = getattr(syntax, "name", str(syntax) or "unknown transfer syntax")
        raise RadiographError(path, f"the pixel data ({name}) could not be decoded ({first_line(exc)})") from None
    return np.asarray(arr)


def to_gray(path: Path, ds, arr: np.ndarray, warn: list[str]) -> tuple[np.ndarray, bool]:
    """Grayscale stored values; returns (array, was_colour)."""
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).upper().strip()
    if photometric == "PALETTE COLOR":
        from pydicom.pixels import apply_color_lut

        try:
            rgb = apply_color_lut(arr, ds)
        except Exception as exc:  # noqa: BLE001
            raise RadiographError(path, f"its palette colour lookup table is unusable ({first_line(exc)})") from None
        arr = rgb
        warn.append("The image is PALETTE COLOR; it was converted to gray (luma) and its pixel values are display values.")
    elif arr.ndim == 3:
        warn.append(f"The image is in colour ({photometric}); it was converted to gray (luma) "
                    "and its pixel values are display values.")
    if arr.ndim == 3:
        if arr.shape[-1] < 3:
            raise RadiographError(path, f"the decoded colour data has shape {arr.shape}, not RGB")
        return luma(arr[..., 0], arr[..., 1], arr[..., 2]), True
    return arr, False


def modality_range(view, stored: np.ndarray, modality: np.ndarray, is_float: bool) -> tuple[float, float]:
    """The range the Modality LUT can output (for the MONOCHROME1 reflection)."""
    if is_float:
        return float(np.nanmin(modality)), float(np.nanmax(modality))
    if view.get("ModalityLUTSequence"):
        table, _ = lut_table(view)
        return float(np.min(table)), float(np.max(table))
    bits = _int(view, "BitsStored", 0) or int(stored.dtype.itemsize * 8)
    if (_int(view, "PixelRepresentation", 0) or 0) == 1:
        lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    else:
        lo, hi = 0, 2**bits - 1
    slope = float(view.get("RescaleSlope", 1) or 1) if "RescaleIntercept" in view else 1.0
    intercept = float(view.get("RescaleIntercept", 0) or 0) if "RescaleSlope" in view else 0.0
    a, b = lo * slope + intercept, hi * slope + intercept
    return min(a, b), max(a, b)


def dataset_to_radiograph(ds, path: Path, frame: int = 0) -> Radiograph:
    """Run the grayscale pipeline on an opened DICOM data set."""
    warn: list[str] = []
    rows, cols, frames, samples = check_geometry(path, ds)
    if not -frames <= frame < frames:
        raise RadiographError(path, f"frame {frame} was asked for but the file has {frames} frame(s)")
    frame %= frames
    _ensure_transfer_syntax(ds)
    check_length(path, ds, rows, cols, frames, samples)
    if "PixelData" in ds:
        check_compressed_frame(path, ds, frame, frames, rows, cols, samples)
    stored = decode_frame(path, ds, frame, frames)
    if stored.ndim == 3 and samples == 1 and stored.shape[0] == 1:
        stored = stored[0]
    if stored.ndim not in (2, 3) or stored.shape[:2] != (rows, cols):
        raise RadiographError(path, f"the decoded pixel data has shape {stored.shape}, not {rows} x {cols}")
    view = frame_view(ds, frame)
    gray, was_colour = to_gray(path, ds, stored, warn)
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).upper().strip()
    is_float = not np.issubdtype(np.asarray(gray).dtype, np.integer)

    if was_colour:
        modality = gray.astype(np.float64)
        presets: list[tuple[str, float, float]] = []
        kind = ""
        low, high = 0.0, float(2 ** (_int(ds, "BitsStored", 8) or 8) - 1)
    else:
        try:
            modality = apply_modality(path, view, gray)
        except RadiographError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise RadiographError(path, f"its Modality LUT could not be applied ({first_line(exc)})") from None
        if view.get("ModalityLUTSequence"):
            warn.append("The Modality LUT Sequence was applied to the stored values.")
        presets, kind = file_windows(view, path, warn)
        low, high = modality_range(view, gray, modality, is_float)

    invert = photometric == "MONOCHROME1"
    if str(ds.get("PresentationLUTShape", "") or "").upper().strip() == "INVERSE":
        invert = not invert
        warn.append("The file asks for an INVERSE presentation LUT; the image was inverted.")
    if invert and not was_colour:
        pivot = low + high
        modality = pivot - modality
        presets = [(name, pivot - c, w) for name, c, w in presets]
        warn.append(f"{photometric} image: pixel values were reflected (v -> {pivot:g} - v) so that larger means more attenuation.")
    if not was_colour:
        check_rescaled(path, view, gray, modality)

    pixels = np.ascontiguousarray(modality, dtype=np.float32)
    finite = np.isfinite(pixels)
    if not finite.any():
        raise RadiographError(path, "the image has no finite pixel values")
    auto = auto_window(pixels)
    if presets:
        window = (presets[0][1], presets[0][2])
    else:
        window = auto
    presets = presets + [("Auto (0.5-99.5 %)", *auto)]

    spacing, known, source = pixel_spacing(ds, view, warn)
    metadata = dicom_metadata(ds, path)
    metadata["frames"] = str(frames)
    metadata["frame"] = str(frame)
    if kind:
        metadata["voi"] = kind
    if source:
        metadata["spacing_source"] = source
    if invert:
        metadata["inverted"] = "yes"
    if samples == 1 and not was_colour and photometric not in ("MONOCHROME1", "MONOCHROME2"):
        warn.append(f"Unexpected photometric interpretation {photometric}; shown as MONOCHROME2.")
    return Radiograph(
        pixels=pixels, window=(float(window[0]), float(window[1])),
        window_presets=[(n, float(c), float(w)) for n, c, w in presets],
        pixel_spacing=spacing, spacing_known=known, metadata=metadata, warnings=warn,
        source=path, dataset=ds, frame=frame, n_frames=frames,
    )
