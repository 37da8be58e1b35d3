"""What the viewer computes beside the maps: the real dark-field's values, lung mask, stage summary, crop box."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dfviewer.display.crop import Box
from dfviewer.io import lungs


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


@dataclass(frozen=True)
class LungAnalysis:
    """One segmentation of the lungs: the mask (None when no lungs were found) and the padded crop box."""

    mask: np.ndarray | None
    box: Box
    found: bool


def analyse_lungs(attenuation: np.ndarray, darkfield: np.ndarray | None) -> LungAnalysis:
    """Segment the lungs once (from ``darkfield`` when given) for the summary's mask and the crop box."""
    try:
        result = lungs.lung_mask(attenuation, darkfield)
    except Exception:  # noqa: BLE001 - a summary and a crop box must never break the viewer
        h, w = np.shape(attenuation)
        return LungAnalysis(None, (0, h, 0, w), False)
    box = lungs.mask_bbox(result)
    mask = np.asarray(result.mask, dtype=bool)
    if not result.found or mask.shape != np.shape(attenuation) or not mask.any():
        return LungAnalysis(None, box.box, bool(box.found))
    return LungAnalysis(mask, box.box, bool(box.found))


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


def crop_box(attenuation: np.ndarray, darkfield: np.ndarray | None) -> tuple[Box, bool]:
    """The IO layer's padded lung box as ((r0, r1, c0, c1), found); the whole image when not found."""
    box = lungs.lung_bbox(attenuation, darkfield)
    return box.box, bool(box.found)
