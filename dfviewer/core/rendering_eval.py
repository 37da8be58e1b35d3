"""Scores by rendering: the same test images raw and as clinical systems would deliver them.

For every image of a split, the model predicts from the raw input and from ``n`` seeded
renderings of each family of :data:`dfviewer.imaging.clinical_rendering.FAMILIES` (windowed 8-bit PNG,
12-bit CR, CLAHE JPEG, multi-scale enhanced). Per family and stage: MSE / PSNR / SSIM against
the real dark-field, and **consistency**, the Pearson r inside the body between the last
stage's mean from the rendered input and from the raw one (1: the rendering changed nothing).
Also per family: the median total sigma in the lungs, the largest total sigma anywhere, the
per-image Spearman (total sigma vs |error|) in the lungs, and how often the domain check flags.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from dfviewer.core import metrics as M
from dfviewer.core.dataset_check import check_dataset
from dfviewer.core.normalize import normalize_target
from dfviewer.core.results import DEFAULT_MC_SAMPLES
from dfviewer.errors import UserError
from dfviewer.imaging.image_metrics import image_quality, mean_std
from dfviewer.io.reader import read_pixels

#: a raw -ln T pixel belongs to the body above this fraction of the image's 99th percentile
BODY_FRACTION = 0.15


def _body(raw: np.ndarray) -> np.ndarray:
    return raw > BODY_FRACTION * float(np.percentile(raw, 99))


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    a = a.astype(np.float64) - a.mean()
    b = b.astype(np.float64) - b.mean()
    den = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / den) if den > 0 else float("nan")


def evaluate_renderings(
    predictor: Any,
    data: str,
    split: str = "test",
    n: int = 2,
    mc_samples: int = DEFAULT_MC_SAMPLES,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
    cancel: threading.Event | None = None,
) -> dict[str, Any]:
    """Per rendering family (``raw`` first): metrics per stage, consistency, sigma and flag figures."""
    from dfviewer.core.dataset_check import DatasetError
    from dfviewer.core.results import PredictionCancelled
    from dfviewer.imaging.clinical_rendering import FAMILIES, render

    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise UserError(f"the number of renderings per family must be a whole number of at least 1, not {n!r}")
    report = check_dataset(data)
    report.raise_if_blocking()
    pairs = report.split(split)
    if not pairs:
        raise DatasetError(f"dataset {report.root} has no pairs in the {split} split")
    norm = predictor.config.normalization
    families = [f for f in FAMILIES if f != "raw"]
    rows: dict[str, dict[int, dict[str, list[float]]]] = {}
    extra: dict[str, dict[str, list[float]]] = {}
    last = predictor.config.n_stages
    total_jobs = len(pairs) * (1 + n * len(families))
    done = 0
    for i, pair in enumerate(pairs):
        raw = read_pixels(pair.attenuation)
        y = normalize_target(read_pixels(pair.darkfield), norm)
        yc = np.clip(y, 0, 1)
        lungs = read_pixels(pair.lung_mask) > 0 if pair.lung_mask is not None else np.ones(y.shape, bool)
        if not lungs.any():
            lungs = np.ones(y.shape, bool)
        body = _body(raw)
        raw_mean: np.ndarray | None = None
        views = [("raw", 0)] + [(f, r) for f in families for r in range(n)]
        for family, r in views:
            if cancel is not None and cancel.is_set():
                raise PredictionCancelled("evaluation cancelled")
            if family == "raw":
                image = raw
            else:
                image = render(raw, np.random.default_rng([seed, i, FAMILIES.index(family), r]), family=family)
            results = predictor.predict(image, mc_samples=mc_samples, seed=seed + i, network_units=True)
            fam = rows.setdefault(family, {})
            ext = extra.setdefault(family, {"consistency": [], "median_total_lungs": [], "max_total": [],
                                            "spearman": [], "flagged": []})
            for res in results:
                pn = res.mean
                stage = fam.setdefault(res.stage, {"mse": [], "psnr": [], "ssim": []})
                for key, value in image_quality(pn, yc).items():
                    stage[key].append(value)
            final = results[-1].mean
            total = results[-1].total
            if family == "raw":
                raw_mean = final
            assert raw_mean is not None
            ext["consistency"].append(_pearson(final[body], raw_mean[body]))
            ext["median_total_lungs"].append(float(np.median(total[lungs])))
            ext["max_total"].append(float(total.max()))
            ext["spearman"].append(M.spearman(total[lungs], np.abs(final - y)[lungs]))
            score = predictor.domain_score(image)
            ext["flagged"].append(float(score is not None and score > predictor.domain.threshold))
            done += 1
            if progress is not None:
                progress(done, total_jobs)
    out: dict[str, Any] = {"renderings_per_family": n, "mc_samples": mc_samples, "n_images": len(pairs),
                           "last_stage": last, "families": {}}
    raw_mse = float(np.mean(rows["raw"][last]["mse"]))
    for family, stages in rows.items():
        ext = extra[family]
        mse_last = float(np.mean(stages[last]["mse"]))
        out["families"][family] = {
            "views": len(ext["consistency"]),
            "stages": {str(k): {m: mean_std(v) for m, v in d.items()} for k, d in stages.items()},
            "mse_ratio_to_raw": mse_last / raw_mse if raw_mse > 0 else None,
            "consistency_r": mean_std(ext["consistency"]),
            "consistency_r_min": float(np.nanmin(ext["consistency"])),
            "median_total_sigma_lungs": mean_std(ext["median_total_lungs"]),
            "max_total_sigma": float(np.max(ext["max_total"])),
            "spearman_lungs": mean_std(ext["spearman"]),
            "flagged_fraction": float(np.mean(ext["flagged"])) if predictor.domain is not None else None,
        }
    return out
