"""DICOM writers: derived dark-field maps (Secondary Capture) and simulated DX radiographs.

Float pixels are stored as unsigned 16-bit with Rescale Slope/Intercept chosen from the data
range, so reading them back (here or in any viewer applying the Modality LUT) gives the values
to within half a step, ``(max - min) / 131070``; the exact step is returned by
:func:`quantization_step`. Images are MONOCHROME2 with larger values brighter, matching
:class:`~dfviewer.io.Radiograph` orientation.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from dfviewer.atomic import WriteError, atomic_path
from dfviewer.io.errors import RadiographError
from dfviewer.io.png_export import warning_sentence
from dfviewer.io.radiograph import Radiograph, auto_window

SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
DX_FOR_PROCESSING = "1.2.840.10008.5.1.4.1.1.1.1.1"
IMPLEMENTATION_NAME = "DFVIEWER"
#: the end of a flagged input's derived SeriesDescription (the part a series list shows)
FLAGGED_SUFFIX = " [flagged input]"

PATIENT_TAGS = ("PatientName", "PatientID", "IssuerOfPatientID", "PatientBirthDate", "PatientSex", "PatientAge",
                "PatientSize", "PatientWeight", "OtherPatientIDsSequence", "PatientComments")
STUDY_TAGS = ("StudyInstanceUID", "StudyDate", "StudyTime", "StudyID", "AccessionNumber", "ReferringPhysicianName",
              "StudyDescription")
GEOMETRY_TAGS = ("BodyPartExamined", "ViewPosition", "Laterality", "ImageLaterality", "PatientOrientation",
                 "PixelSpacing", "ImagerPixelSpacing", "EstimatedRadiographicMagnificationFactor")


def quantization(pixels: np.ndarray) -> tuple[np.ndarray, str, str]:
    """(uint16 stored values, slope DS string, intercept DS string) for float ``pixels``."""
    from pydicom.valuerep import format_number_as_ds

    data = np.asarray(pixels, dtype=np.float64)
    finite = np.isfinite(data)
    if not finite.any():
        raise ValueError("the image has no finite values")
    lo, hi = float(data[finite].min()), float(data[finite].max())
    span = hi - lo
    slope_text = format_number_as_ds(span / 65535.0 if span > 0 else 1.0)
    intercept_text = format_number_as_ds(lo)
    slope, intercept = float(slope_text), float(intercept_text)
    if slope <= 0:  # a span below the DS resolution: store a constant image
        slope_text, slope = "1", 1.0
    stored = np.where(finite, (data - intercept) / slope, 0.0)
    stored = np.clip(np.rint(stored), 0, 65535).astype(np.uint16)
    return stored, slope_text, intercept_text


def quantization_step(pixels: np.ndarray) -> float:
    """The value of one stored step for ``pixels`` (round-trip error is at most half of it)."""
    _, slope, _ = quantization(pixels)
    return float(slope)


def _uid(entropy: list[str] | None):
    from pydicom.uid import generate_uid

    return generate_uid(entropy_srcs=entropy) if entropy else generate_uid()


def _base_dataset(pixels: np.ndarray, sop_class: str, sop_uid: str, window: tuple[float, float] | None):
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, UID, ExplicitVRLittleEndian

    stored, slope, intercept = quantization(pixels)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(sop_class)
    meta.MediaStorageSOPInstanceUID = UID(sop_uid)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    meta.ImplementationVersionName = IMPLEMENTATION_NAME
    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = (int(n) for n in stored.shape)
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.RescaleSlope = slope
    ds.RescaleIntercept = intercept
    ds.RescaleType = "US"
    if window is None:
        window = auto_window(np.asarray(pixels, dtype=np.float32))
    centre, width = float(window[0]), float(window[1])
    from pydicom.valuerep import format_number_as_ds

    # stored as LINEAR_EXACT so the DICOM window is exactly our linear (centre, width)
    ds.WindowCenter = format_number_as_ds(centre)
    ds.WindowWidth = format_number_as_ds(max(width, 1e-6))
    ds.VOILUTFunction = "LINEAR_EXACT"
    ds.PixelData = np.ascontiguousarray(stored.astype("<u2")).tobytes()
    return ds


def _save(path: Path, ds) -> Path:
    try:
        with atomic_path(path) as tmp:
            ds.save_as(tmp, enforce_file_format=True)
    except WriteError:
        raise
    except OSError as exc:  # from the encoder itself, not the file system write
        raise RadiographError(path, f"it could not be encoded ({exc.strerror or exc})", action="write") from None
    return path


def _check(path: Path, pixels: np.ndarray) -> np.ndarray:
    data = np.asarray(pixels)
    if data.ndim != 2 or data.size == 0:
        raise RadiographError(path, f"a DICOM image needs a 2-D array, got shape {data.shape}", action="write")
    if data.shape[0] > 65535 or data.shape[1] > 65535:
        raise RadiographError(path, f"the image is {data.shape[1]} x {data.shape[0]} pixels, too large for DICOM",
                              action="write")
    if not np.isfinite(data).any():
        raise RadiographError(path, "the image has no finite values", action="write")
    return data.astype(np.float64)


def _now() -> tuple[str, str]:
    now = _dt.datetime.now()
    return now.strftime("%Y%m%d"), now.strftime("%H%M%S")


def write_derived_dicom(path: str | Path, pixels: np.ndarray, source: Radiograph | Any | None, stage: int | str | None,
                        model_name: str, series_description: str | None = None, *, map_name: str = "dark-field",
                        window: tuple[float, float] | None = None, units: str = "", series_number: int = 999,
                        same_study: bool = True, warning: str = "") -> Path:
    """Write a generated map as a derived DICOM image (Secondary Capture, DERIVED\\SECONDARY).

    ``source`` is the radiograph it was generated from (a :class:`Radiograph`, a pydicom Dataset,
    or None). With a DICOM source the patient and study tags are copied, the file joins the
    source's study (``same_study``) in a new series, and references the source SOP instance
    (Referenced and Source Image Sequences); otherwise a new study is made. SeriesDescription
    names the map, ``stage`` and ``model_name`` unless ``series_description`` is given. The
    pixels are stored as 16-bit with Rescale Slope/Intercept (see :func:`quantization_step`);
    ``window`` (default: 0.5-99.5 percentiles) becomes the file's default VOI window. A ``warning``
    (the input was flagged) opens Image Comments, which viewers such as Weasis show with the image,
    and marks the SeriesDescription ``[flagged input]``, which series lists show. Atomic.
    """
    path = Path(path)
    data = _check(path, pixels)
    src: Any = getattr(source, "dataset", source) if source is not None else None  # a pydicom Dataset or None
    if src is not None and not hasattr(src, "get"):
        src = None
    sop_uid = _uid(None)
    try:
        ds = _base_dataset(data, SECONDARY_CAPTURE, sop_uid, window)
    except ValueError as exc:
        raise RadiographError(path, str(exc), action="write") from None
    date, time = _now()
    if src is not None:
        for keyword in PATIENT_TAGS + STUDY_TAGS:
            if keyword in src and (same_study or keyword not in STUDY_TAGS):
                ds[keyword] = src[keyword]
        if src.get("Modality"):
            ds.Modality = src.Modality
        source_shape = (int(src.get("Rows", 0) or 0), int(src.get("Columns", 0) or 0))
        if source_shape == tuple(data.shape):
            for keyword in GEOMETRY_TAGS:
                if keyword in src:
                    ds[keyword] = src[keyword]
        else:
            for keyword in ("BodyPartExamined", "ViewPosition", "Laterality", "ImageLaterality"):
                if keyword in src:
                    ds[keyword] = src[keyword]
        ref_class = src.get("SOPClassUID")
        ref_uid = src.get("SOPInstanceUID")
        if ref_class and ref_uid:
            from pydicom.dataset import Dataset

            items = []
            for _ in range(2):
                item = Dataset()
                item.ReferencedSOPClassUID = ref_class
                item.ReferencedSOPInstanceUID = ref_uid
                items.append(item)
            ds.ReferencedImageSequence = [items[0]]
            ds.SourceImageSequence = [items[1]]
    elif isinstance(source, Radiograph) and source.spacing_known and source.pixel_spacing is not None \
            and tuple(source.pixels.shape) == tuple(data.shape):
        ds.PixelSpacing = [f"{v:.6g}" for v in source.pixel_spacing]
    if "Modality" not in ds:
        ds.Modality = "OT"
    for keyword in ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime",
                    "StudyID", "AccessionNumber", "ReferringPhysicianName"):
        if keyword not in ds:
            setattr(ds, keyword, "")
    if "StudyInstanceUID" not in ds:
        ds.StudyInstanceUID = _uid(None)
    ds.SeriesInstanceUID = _uid(None)
    ds.SeriesNumber = int(series_number)
    ds.InstanceNumber = 1
    stage_text = f" stage {stage}" if stage not in (None, "") else ""
    text = series_description or f"{map_name}{stage_text} ({model_name})"
    ds.SeriesDescription = text[: 64 - len(FLAGGED_SUFFIX)] + FLAGGED_SUFFIX if warning else text[:64]
    ds.ImageType = ["DERIVED", "SECONDARY"]
    ds.DerivationDescription = (f"Generated by dfviewer: {map_name}{stage_text}, model {model_name}"
                                + (f", units {units}" if units else ""))[:1024]
    ds.ImageComments = (f"Warning: {warning_sentence(warning)} " if warning else "") + ds.DerivationDescription
    ds.ConversionType = "WSD"
    ds.BurnedInAnnotation = "NO"
    ds.Manufacturer = "dfviewer"
    ds.ContentDate, ds.ContentTime = date, time
    ds.SeriesDate, ds.SeriesTime = date, time
    ds.InstanceCreationDate, ds.InstanceCreationTime = date, time
    ds.LossyImageCompression = "00"
    return _save(path, ds)


def write_dx_dicom(path: str | Path, pixels: np.ndarray, patient_id: str = "PHANTOM",
                   pixel_spacing: tuple[float, float] | None = None, *, patient_name: str = "",
                   study_description: str = "Simulated chest radiograph", series_description: str = "Attenuation",
                   view_position: str = "PA", body_part: str = "CHEST", study_uid: str | None = None,
                   study_date: str = "", window: tuple[float, float] | None = None,
                   manufacturer: str = "dfviewer phantom", image_comments: str = "") -> Path:
    """Write a simulated attenuation radiograph as DX (For Processing), MONOCHROME2, larger = more attenuation.

    Float values (e.g. -ln T) are stored as 16-bit with Rescale Slope/Intercept (see
    :func:`quantization_step`); ``pixel_spacing`` (row, col mm) goes to Imager Pixel Spacing and
    Pixel Spacing. UIDs are derived from the patient ID, descriptions and pixel content and no
    clock-dependent tag is written (dates only when ``study_date`` is given), so the same call
    writes the same file. Non-finite pixels are stored as the minimum. Atomic.
    """
    path = Path(path)
    data = _check(path, pixels)
    digest = hashlib.sha256(np.ascontiguousarray(data, dtype=np.float64).tobytes()).hexdigest()
    base = [str(patient_id), str(study_description), str(series_description), digest]
    sop_uid = _uid(base + ["sop"])
    try:
        ds = _base_dataset(data, DX_FOR_PROCESSING, sop_uid, window)
    except ValueError as exc:
        raise RadiographError(path, str(exc), action="write") from None
    ds.Modality = "DX"
    ds.PresentationIntentType = "FOR PROCESSING"
    ds.ImageType = ["DERIVED", "PRIMARY"]
    ds.PatientName = patient_name or str(patient_id)
    ds.PatientID = str(patient_id)
    ds.PatientBirthDate = ""
    ds.PatientSex = ""
    ds.StudyInstanceUID = study_uid or _uid([str(patient_id), str(study_description), "study"])
    ds.SeriesInstanceUID = _uid(base + ["series"])
    ds.StudyDate = study_date
    ds.StudyTime = ""
    ds.ContentDate = study_date
    ds.ContentTime = ""
    ds.StudyID = ""
    ds.AccessionNumber = ""
    ds.ReferringPhysicianName = ""
    ds.StudyDescription = study_description[:64]
    ds.SeriesDescription = series_description[:64]
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    ds.Manufacturer = manufacturer[:64]
    ds.ViewPosition = view_position
    ds.BodyPartExamined = body_part
    ds.PatientOrientation = ""
    ds.PixelIntensityRelationship = "LIN"
    ds.PixelIntensityRelationshipSign = -1  # higher values = less X-ray intensity reached the detector
    ds.PresentationLUTShape = "IDENTITY"
    ds.BurnedInAnnotation = "NO"
    ds.LossyImageCompression = "00"
    if image_comments:
        ds.ImageComments = image_comments[:10240]
    if pixel_spacing is not None:
        row, col = (float(v) for v in pixel_spacing)
        if not (row > 0 and col > 0):
            raise RadiographError(path, f"pixel spacing must be positive, got {pixel_spacing}", action="write")
        ds.ImagerPixelSpacing = [f"{row:.6g}", f"{col:.6g}"]
        ds.PixelSpacing = [f"{row:.6g}", f"{col:.6g}"]
    return _save(path, ds)
