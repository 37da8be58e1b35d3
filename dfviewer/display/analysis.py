"""What the viewer computes beside the maps: lung mask, stage summary, crop box."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from dfviewer.display.crop import Box
from dfviewer.imaging import lungs
from dfviewer.imaging.image_metrics import image_quality, to_network_units


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

    The image metrics are ``evaluate``'s, on the whole image: the generated and the real dark-field
    in the network's units (the result's target normalisation undone), clipped to [0, 1],
    ``data_range = 1`` (:func:`dfviewer.imaging.image_metrics.image_quality`); SSIM is NaN unless
    ``with_ssim``.
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
            norm = result.normalization
            offset, scale = (norm.target_offset, norm.target_scale) if norm is not None else (0.0, 1.0)
            row.update(image_quality(to_network_units(result.mean, offset, scale),
                                     to_network_units(truth, offset, scale), with_ssim=with_ssim))
        rows.append(row)
    return rows


def crop_box(attenuation: np.ndarray, darkfield: np.ndarray | None) -> tuple[Box, bool]:
    """The IO layer's padded lung box as ((r0, r1, c0, c1), found); the whole image when not found."""
    box = lungs.lung_bbox(attenuation, darkfield)
    return box.box, bool(box.found)
