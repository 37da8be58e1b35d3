"""What a viewer shows about a DICOM file: patient, study, series and acquisition tags as text."""

from __future__ import annotations

from pathlib import Path


def _text(ds, keyword: str) -> str:
    value = ds.get(keyword)
    if value is None:
        return ""
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return "\\".join(str(v) for v in value)
    return str(value).strip()


def dicom_metadata(ds, path: Path) -> dict[str, str]:
    """What a viewer shows about the file (absent tags left out)."""
    pairs = {
        "patient_name": "PatientName", "patient_id": "PatientID", "patient_birth_date": "PatientBirthDate",
        "patient_sex": "PatientSex", "study_description": "StudyDescription", "study_date": "StudyDate",
        "study_instance_uid": "StudyInstanceUID", "accession_number": "AccessionNumber",
        "series_description": "SeriesDescription", "series_number": "SeriesNumber",
        "series_instance_uid": "SeriesInstanceUID", "sop_instance_uid": "SOPInstanceUID",
        "sop_class_uid": "SOPClassUID",
        "modality": "Modality", "view_position": "ViewPosition", "body_part": "BodyPartExamined",
        "manufacturer": "Manufacturer", "model": "ManufacturerModelName", "photometric": "PhotometricInterpretation",
        "bits_stored": "BitsStored", "image_type": "ImageType",
    }
    out: dict[str, str] = {}
    for key, keyword in pairs.items():
        try:
            text = _text(ds, keyword)
        except Exception:  # noqa: BLE001 - a malformed tag must not stop the read
            text = ""
        if text:
            out[key] = text
    for keyword in ("AcquisitionDate", "ContentDate", "SeriesDate", "StudyDate"):
        text = _text(ds, keyword)
        if text:
            out["date"] = text
            break
    meta = getattr(ds, "file_meta", None)
    syntax = meta.get("TransferSyntaxUID") if meta is not None else None
    if syntax:
        out["transfer_syntax"] = getattr(syntax, "name", str(syntax))
    out["format"] = "DICOM"
    return out


__all__ = ["dicom_metadata"]
