"""Qt-free helpers the viewer needs: finding images and a true dark-field, stage summaries."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

IMAGE_SUFFIXES = {".dcm", ".dicom", ".dic", ".ima", ".png", ".jpg", ".jpeg", ".tif", ".tiff", ".npy"}
TRUTH_MARKERS = ("_darkfield", "_dark-field", "_df")
#: companions of a case that are not radiographs to open (true dark-field, masks)
COMPANION_MARKERS = TRUTH_MARKERS + ("_lung", "_lungs", "_mask")
TRUTH_SUFFIXES = (".tiff", ".tif", ".npy", ".png", ".dcm")


def is_truth_file(path: Path) -> bool:
    stem = path.stem.lower()
    return any(stem.endswith(marker) for marker in TRUTH_MARKERS)


def is_companion_file(path: Path) -> bool:
    """A true dark-field or mask stored beside a case (``<case>_darkfield.tiff``, ``<case>_lung.png``)."""
    stem = path.stem.lower()
    return any(stem.endswith(marker) for marker in COMPANION_MARKERS)


def list_images(folder: str | Path) -> list[Path]:
    """Image files in ``folder`` (not recursive), sorted, without companions (true dark-field, masks).

    Files without a suffix are included (DICOM files often have none).
    """
    folder = Path(folder)
    files = []
    for path in sorted(folder.iterdir()):
        if not path.is_file() or path.name.startswith("."):
            continue
        suffix = path.suffix.lower()
        if (suffix in IMAGE_SUFFIXES or suffix == "") and not is_companion_file(path):
            files.append(path)
    return files


def find_truth(path: str | Path) -> Path | None:
    """A real dark-field beside the radiograph: ``<stem>_darkfield.tiff`` (or .tif, .npy, .png, .dcm)."""
    path = Path(path)
    if is_truth_file(path):
        return None
    for marker in TRUTH_MARKERS:
        for suffix in TRUTH_SUFFIXES:
            candidate = path.with_name(f"{path.stem}{marker}{suffix}")
            if candidate.is_file():
                return candidate
    return None


def read_truth(path: Path) -> np.ndarray:
    """The true dark-field's values as float32 (a float TIFF or NPY keeps its units)."""
    suffix = path.suffix.lower()
    if suffix in (".tif", ".tiff"):
        import tifffile

        array = tifffile.imread(str(path))
    elif suffix == ".npy":
        array = np.load(path, allow_pickle=False)
    else:
        from dfviewer.io import read_radiograph

        array = read_radiograph(path).pixels
    array = np.asarray(array, dtype=np.float32)
    if array.ndim == 3 and array.shape[0] == 1:
        array = array[0]
    return array


def lung_mask_or_none(attenuation: np.ndarray, darkfield: np.ndarray | None) -> np.ndarray | None:
    """The IO layer's lung mask as a boolean array, or None when it finds no lungs."""
    try:
        from dfviewer.io import lung_mask

        result = lung_mask(attenuation, darkfield)
    except Exception:  # noqa: BLE001 - a summary must never break the viewer
        return None
    if not result.found:
        return None
    mask = np.asarray(result.mask, dtype=bool)
    if mask.shape != attenuation.shape or not mask.any():
        return None
    return mask


def stage_summary(results: list[Any], truth: np.ndarray | None, mask: np.ndarray | None,
                  with_ssim: bool = True) -> list[dict[str, float]]:
    """Per stage: mean aleatoric and epistemic sigma inside ``mask``; MSE, PSNR, SSIM with ``truth``.

    PSNR and SSIM use the real image's value range as data range; SSIM uses the Wang et al.
    settings (Gaussian window, sigma 1.5, population covariance).
    """
    rows = []
    for result in results:
        region = mask if mask is not None else np.ones(result.mean.shape, dtype=bool)
        row = {
            "stage": result.stage,
            "aleatoric": float(np.mean(result.aleatoric[region])),
            "epistemic": float(np.mean(result.epistemic[region])),
        }
        if truth is not None and truth.shape == result.mean.shape:
            data_range = float(np.ptp(truth)) or 1.0
            mse = float(np.mean((result.mean.astype(np.float64) - truth) ** 2))
            row["mse"] = mse
            row["psnr"] = float(10 * np.log10(data_range**2 / mse)) if mse > 0 else float("inf")
            row["ssim"] = float("nan")
            if with_ssim:
                from skimage.metrics import structural_similarity

                row["ssim"] = float(structural_similarity(
                    truth, result.mean, data_range=data_range, gaussian_weights=True, sigma=1.5,
                    use_sample_covariance=False))
        rows.append(row)
    return rows


def crop_box(attenuation: np.ndarray, darkfield: np.ndarray | None) -> tuple[tuple[int, int, int, int], bool]:
    """The IO layer's padded lung box as ((r0, r1, c0, c1), found); the whole image when not found."""
    from dfviewer.io import lung_bbox

    box = lung_bbox(attenuation, darkfield)
    return box.box, bool(box.found)
