"""The real files the fuzzer mutates: pydicom's and pydicom-data's DICOMs, images made from a
phantom case in every format the reader takes, and a tiny real checkpoint.

Everything is written once into a seed folder; :func:`seed_files` returns ``{kind: [paths]}``.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np

from dfviewer.atomic import atomic_path

#: small pydicom test files (< 60 KB): every transfer syntax and photometric the reader takes
PYDICOM_SEEDS = (
    "CT_small.dcm", "MR_small.dcm", "MR_small_RLE.dcm", "MR_small_bigendian.dcm", "MR_small_jp2klossless.dcm",
    "MR_small_jpeg_ls_lossless.dcm", "JPEG-lossy.dcm", "JPEG2000.dcm", "JPEGLSNearLossless_16.dcm",
    "SC_rgb_rle.dcm", "SC_rgb_rle_2frame.dcm", "SC_rgb_small_odd.dcm", "SC_rgb_jpeg_dcmtk.dcm",
    "SC_ybr_full_422_uncompressed.dcm", "rtdose_1frame.dcm", "image_dfl.dcm", "ExplVR_BigEnd.dcm",
    "693_J2KI.dcm", "emri_small_RLE.dcm", "OBXXXX1A_rle.dcm", "no_meta.dcm",
)
#: larger real files for long campaigns (a real chest CR among them)
LARGE_DICOM_SEEDS = ("vlut_04.dcm", "mlut_18.dcm", "OT-PAL-8-face.dcm", "JPEG-LL.dcm", "RG1_J2KI.dcm")


def seed_files(folder: Path, large: bool = False) -> dict[str, list[Path]]:
    """Write (or reuse) the seed corpus under ``folder``; paths grouped by target kind."""
    folder.mkdir(parents=True, exist_ok=True)
    seeds = {"dicom": _dicom_seeds(folder, large), "image": _image_seeds(folder), "checkpoint": _checkpoint_seeds(folder)}
    return seeds


def _dicom_seeds(folder: Path, large: bool) -> list[Path]:
    from pydicom.data import get_testdata_file

    names = PYDICOM_SEEDS + (LARGE_DICOM_SEEDS if large else ())
    paths = []
    for name in names:
        path = get_testdata_file(name, download=False)
        if path is not None:
            paths.append(Path(path))
    paths.append(_phantom_dx(folder / "phantom_dx.dcm"))
    paths.append(_lut_dicom(folder / "luts_and_groups.dcm"))
    return paths


def _phantom_case(size: int = 48) -> np.ndarray:
    """A small attenuation image (-ln T) with lungs, mediastinum and ribs; no simulator needed."""
    yy, xx = np.mgrid[0:size, 0:size] / size
    body = np.exp(-(((xx - 0.5) / 0.42) ** 8 + ((yy - 0.55) / 0.45) ** 8))
    lungs = np.exp(-(((np.abs(xx - 0.5) - 0.2) / 0.12) ** 4 + ((yy - 0.5) / 0.25) ** 4))
    ribs = 0.15 * (np.sin(yy * 40) > 0.7)
    return (2.5 * body - 1.2 * lungs + ribs).astype(np.float32)


def _phantom_dx(path: Path) -> Path:
    from dfviewer.io.dicom_writer import write_dx_dicom

    if not path.exists():
        write_dx_dicom(path, _phantom_case())
    return path


def _lut_dicom(path: Path) -> Path:
    """An enhanced-style 2-frame MONOCHROME1 file with a Modality LUT, a VOI LUT and functional groups."""
    import pydicom
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.sequence import Sequence
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    if path.exists():
        return path
    stored = (np.clip(_phantom_case(), 0, None) * 300).astype(np.uint16)
    frames = np.stack([stored, stored[::-1]])
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid(entropy_srcs=["dfviewer-fuzz"])
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.Modality, ds.PatientID, ds.PatientName = "DX", "FUZZ", "Fuzz^Seed"
    ds.Rows, ds.Columns = stored.shape
    ds.NumberOfFrames = 2
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME1"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    lut = Dataset()
    lut.LUTDescriptor = [1024, 0, 16]
    lut.ModalityLUTType = "US"
    lut.add_new(0x00283006, "US", [int(v) for v in np.linspace(0, 4000, 1024)])
    ds.ModalityLUTSequence = Sequence([lut])
    voi = Dataset()
    voi.LUTDescriptor = [512, 100, 8]
    voi.add_new(0x00283006, "US", [int(v) for v in np.linspace(0, 255, 512)])
    voi.LUTExplanation = "ramp"
    ds.VOILUTSequence = Sequence([voi])
    ds.WindowCenter, ds.WindowWidth, ds.VOILUTFunction = ["400", "800"], ["600", "900"], "SIGMOID"
    ds.PixelSpacing = ["0.2", "0.2"]
    shared = Dataset()
    measures = Dataset()
    measures.PixelSpacing = ["0.15", "0.15"]
    shared.PixelMeasuresSequence = Sequence([measures])
    per_frame = []
    for i in range(2):
        item = Dataset()
        pvt = Dataset()
        pvt.RescaleSlope, pvt.RescaleIntercept, pvt.RescaleType = "1.5", str(-10 * i), "US"
        item.PixelValueTransformationSequence = Sequence([pvt])
        fvoi = Dataset()
        fvoi.WindowCenter, fvoi.WindowWidth = "500", "700"
        item.FrameVOILUTSequence = Sequence([fvoi])
        per_frame.append(item)
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    ds.PerFrameFunctionalGroupsSequence = Sequence(per_frame)
    ds.PixelData = frames.tobytes()
    ds.set_original_encoding(False, True)
    with atomic_path(path) as tmp:
        pydicom.dcmwrite(tmp, ds, enforce_file_format=True)
    return path


def _image_seeds(folder: Path) -> list[Path]:
    import tifffile
    from PIL import Image

    case = _phantom_case()
    unit = (case - case.min()) / (case.max() - case.min())
    gray8 = (unit * 255).astype(np.uint8)
    gray16 = (unit * 65535).astype(np.uint16)
    rgb = np.stack([gray8, gray8[::-1], gray8.T], axis=-1)
    made: dict[str, bytes] = {}

    def pil(name: str, image: Image.Image, **options) -> None:
        buffer = io.BytesIO()
        image.save(buffer, **options)
        made[name] = buffer.getvalue()

    pil("gray8.png", Image.fromarray(gray8), format="PNG")
    pil("gray16.png", Image.fromarray(gray16), format="PNG")
    pil("palette.png", Image.fromarray(rgb).convert("P"), format="PNG")
    pil("rgba.png", Image.fromarray(np.dstack([rgb, gray8])), format="PNG")
    pil("gray.jpg", Image.fromarray(gray8), format="JPEG", quality=85)
    pil("rgb.jpg", Image.fromarray(rgb), format="JPEG", quality=85)
    pil("frames.gif", Image.fromarray(gray8), format="GIF", save_all=True,
        append_images=[Image.fromarray(gray8[::-1])])
    pil("gray.bmp", Image.fromarray(gray8), format="BMP")
    pil("gray.webp", Image.fromarray(gray8), format="WEBP", quality=80)
    for name, data, options in (
        ("gray16.tif", gray16, {}),
        ("float.tif", case, {}),
        ("planar.tif", np.moveaxis(rgb, -1, 0), {"planarconfig": "separate", "photometric": "rgb"}),
        ("deflate.tif", gray16, {"compression": "zlib"}),
        ("pages.tif", np.stack([gray16, gray16[::-1]]), {}),
    ):
        buffer = io.BytesIO()
        tifffile.imwrite(buffer, data, **options)
        made[name] = buffer.getvalue()
    for name, data in (("case.npy", case), ("frames.npy", np.stack([gray16, gray16]))):
        buffer = io.BytesIO()
        np.save(buffer, data)
        made[name] = buffer.getvalue()
    paths = []
    for name, data in made.items():
        path = folder / name
        if not path.exists() or path.read_bytes() != data:
            path.write_bytes(data)
        paths.append(path)
    return paths


def _checkpoint_seeds(folder: Path) -> list[Path]:
    path = folder / "tiny.safetensors"
    if not path.exists():
        import torch

        from dfviewer.core.checkpoint import save_checkpoint
        from dfviewer.core.config import ModelConfig
        from dfviewer.core.network import Cascade

        torch.manual_seed(0)
        save_checkpoint(path, Cascade(ModelConfig(preset="tiny", base_width=4, depth=2, working_size=32)),
                        {"note": "fuzz seed"})
    return [path]


if __name__ == "__main__":  # pragma: no cover - manual inspection
    for kind, paths in seed_files(Path(os.environ.get("SEEDS", "/tmp/dfviewer-fuzz-seeds"))).items():
        print(kind, len(paths))
