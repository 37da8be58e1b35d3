"""``evaluate``: image quality per stage and the quality of the uncertainty (docs/method.md §6).

Settings (stated in every report):

* Image quality is computed on the whole image after mapping prediction and truth to the
  network's target units with the checkpoint's normalisation, ``(y - offset) / scale``, and
  clipping to [0, 1]: MSE; PSNR per image with ``data_range = 1``; SSIM with a Gaussian
  window (sigma 1.5, 11 taps), ``use_sample_covariance=False``, ``data_range = 1``. Reported
  as mean +/- standard deviation over images.
* Uncertainty quality uses the pixels inside the lung mask (the whole image when a case has
  none), errors and sigmas in the same target units without clipping:
  Spearman correlation of total sigma with |error| (per image, then mean +/- std; and
  pooled over the sampled pixels of all images);
  AUSE of total sigma (Ilg et al. 2018: mean absolute error left after removing the most
  uncertain 0-95 % of pixels, normalised to start at 1, minus the same curve for the
  oracle that removes the largest errors first; trapezoid area; per image, then averaged);
  coverage of central intervals, both the GGD interval of the aleatoric (alpha, beta) alone
  and a Gaussian interval of the total sigma (aleatoric and epistemic combined), pooled
  over pixels; UCE and ENCE of the total sigma over 10 equal-count bins (pooled, at most
  50 000 random pixels per image); mean epistemic sigma over the whole image and inside
  the lungs on out-of-distribution cases (manifest ``ood`` or ``devices``) against clean
  ones, when the split has both; and, where the manifest names a ``device_mask``, mean
  epistemic sigma and the image-quality MSE on the device pixels against the rest of the
  same images.
* For simulated data whose manifest names the noise-free dark-field (``darkfield_clean``),
  the report also scores that noise-free image against the measured target: the image
  quality a generator that knew the signal exactly would reach (noise sets the ceiling).
* The stages are also compared pairwise on the same images (stage k against k - 1): on how
  many images each metric improves, and the mean change (the paper's claim, tested per image);
  when the split has clean and out-of-distribution cases, image quality and the paired
  comparison are also given for each group apart (a cascade can refine the one and not the other).

The report (JSON, Markdown, plots) is :mod:`~dfviewer.core.evaluation_report`.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from dfviewer.core import metrics as M
from dfviewer.core.dataset_check import DatasetError, check_dataset
from dfviewer.core.evaluation_report import CALIBRATION_BINS, EvaluationReport
from dfviewer.core.normalize import normalize_target
from dfviewer.core.results import DEFAULT_MC_SAMPLES
from dfviewer.errors import STOP_EXCEPTIONS, failure_reason, sentence
from dfviewer.imaging.image_metrics import image_quality, mean_std
from dfviewer.io.reader import read_pixels

COVERAGE_LEVELS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)
POOL_PIXELS_PER_IMAGE = 50_000


def _paired_stage_comparison(rows: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """Stage k against stage k - 1 on the same images: how often better, and the mean change."""
    by_case: dict[str, dict[int, dict[str, Any]]] = {}
    for row in rows:
        by_case.setdefault(row["case"], {})[row["stage"]] = row
    stages = sorted({row["stage"] for row in rows})
    out: dict[int, dict[str, Any]] = {}
    for k in stages[1:]:
        out[k] = {}
        for metric, lower_is_better in (("mse", True), ("psnr", False), ("ssim", False)):
            diffs = [r[k][metric] - r[k - 1][metric] for r in by_case.values()
                     if k in r and k - 1 in r and math.isfinite(r[k][metric]) and math.isfinite(r[k - 1][metric])]
            if not diffs:
                out[k][metric] = None
                continue
            d = np.asarray(diffs)
            better = int((d < 0).sum() if lower_is_better else (d > 0).sum())
            out[k][metric] = {"better": better, "n": int(d.size), "mean_change": float(d.mean())}
    return out


def _quality_by_group(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Image metrics per stage and paired stage comparison on clean and on OOD cases apart."""
    groups = {"clean": [r for r in rows if not r["ood"]], "ood": [r for r in rows if r["ood"]]}
    if not all(groups.values()):
        return {}
    return {
        name: {
            "n": len({r["case"] for r in sub}),
            "stages": {k: {m: mean_std([r[m] for r in sub if r["stage"] == k]) for m in ("mse", "psnr", "ssim")}
                       for k in sorted({r["stage"] for r in sub})},
            "paired": _paired_stage_comparison(sub),
        }
        for name, sub in groups.items()
    }


def _region_means(inside: list[float], beside: list[float]) -> dict[str, Any]:
    """Mean of a per-image value on device pixels, on the rest of the same images, and their ratio."""
    mean_in = float(np.mean(inside)) if inside else None
    mean_beside = float(np.mean(beside)) if beside else None
    ratio = mean_in / mean_beside if mean_in is not None and mean_beside else None
    return {"n_images": len(inside), "inside": mean_in, "beside": mean_beside, "ratio": ratio}


def _groups(values: dict[str, list[float]]) -> dict[str, float | None]:
    clean = float(np.mean(values["clean"])) if values["clean"] else None
    ood = float(np.mean(values["ood"])) if values["ood"] else None
    return {"clean": clean, "ood": ood, "ratio": (ood / clean) if (ood is not None and clean) else None}


class _StageScoreTally:
    """One stage's scores gathered over the images: per-image rows, coverage counts, pooled pixels."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.rows: dict[str, list[float]] = {k: [] for k in ("mse", "psnr", "ssim", "spearman", "ause")}
        self.cov_ggd = {p: [0, 0] for p in COVERAGE_LEVELS}
        self.cov_total = {p: [0, 0] for p in COVERAGE_LEVELS}
        self.pool_sigma: list[np.ndarray] = []
        self.pool_err: list[np.ndarray] = []
        self.curves: list[np.ndarray] = []
        self.oracles: list[np.ndarray] = []
        self.epi: dict[str, list[float]] = {"clean": [], "ood": []}
        self.epi_lungs: dict[str, list[float]] = {"clean": [], "ood": []}
        self.epi_device: list[float] = []  # inside device masks
        self.epi_beside: list[float] = []  # the rest of the same images
        self.mse_device: list[float] = []  # image-quality MSE on the same two regions
        self.mse_beside: list[float] = []


def evaluate(
    model: Any,
    data: str | Path,
    split: str = "test",
    mc_samples: int = DEFAULT_MC_SAMPLES,
    *,
    working_size: int | None = None,
    device: str = "auto",
    progress: Callable[[int, int], None] | None = None,
    cancel: threading.Event | None = None,
    seed: int = 0,
) -> EvaluationReport:
    """Evaluate a checkpoint path (or a predictor, as :func:`~dfviewer.core.predictors.open_predictor` gives) on a split."""
    from dfviewer.core.predictors import open_predictor
    from dfviewer.core.results import PredictionCancelled

    is_path = isinstance(model, (str, Path))
    predictor = open_predictor(model, device=device) if is_path else model
    report = check_dataset(data)
    pairs = report.split(split)
    # a damaged pair is left out and listed; only problems of the dataset as a whole stop the evaluation
    if any(not p.case for p in report.blocking):
        report.raise_if_blocking()
    failed: list[dict[str, str]] = [{"case": p.case, "reason": sentence(p.reason)} for p in report.blocking
                                    if p.split in (split, "")]
    if not pairs and not failed:
        raise DatasetError(f"dataset {report.root} has no pairs in the {split} split")
    norm = predictor.config.normalization
    rng = np.random.default_rng(seed)
    n_stages = predictor.config.n_stages
    acc = {k: _StageScoreTally(rng) for k in range(1, n_stages + 1)}
    per_image: list[dict[str, Any]] = []
    reference: dict[str, list[float]] = {"mse": [], "psnr": [], "ssim": []}
    notes: list[str] = []
    no_mask = 0
    off_range: list[str] = []
    for i, pair in enumerate(pairs):
        if cancel is not None and cancel.is_set():
            raise PredictionCancelled("evaluation cancelled")
        try:  # one unreadable pair or failed prediction never stops the evaluation
            x = read_pixels(pair.attenuation)
            y = read_pixels(pair.darkfield)
            region = read_pixels(pair.lung_mask) > 0 if pair.lung_mask is not None else None
            if x.shape != y.shape:
                raise DatasetError(f"its attenuation ({x.shape[1]} x {x.shape[0]}) and dark-field "
                                   f"({y.shape[1]} x {y.shape[0]}) images differ in size")
            results = predictor.predict(x, mc_samples=mc_samples, working_size=working_size, cancel=cancel,
                                        seed=seed + i, network_units=True)  # scored in network units
        except BaseException as exc:
            if isinstance(exc, (*STOP_EXCEPTIONS, PredictionCancelled)):
                raise
            failed.append({"case": pair.case, "reason": failure_reason(exc)})
            continue
        if predictor.input_warning(x):
            off_range.append(pair.case)
        if region is None or region.shape != y.shape or not region.any():
            region = np.ones_like(y, dtype=bool)
            no_mask += 1
        yn = normalize_target(y, norm)
        yc = np.clip(yn, 0, 1)
        devices = None
        if "device_mask" in pair.extras:
            devices = read_pixels(pair.extras["device_mask"]) > 0
            if devices.shape != y.shape or not devices.any() or devices.all():
                devices = None
        if "darkfield_clean" in pair.extras:
            clean = read_pixels(pair.extras["darkfield_clean"])
            if clean.shape == y.shape:
                for key, value in image_quality(normalize_target(clean, norm), yc).items():
                    reference[key].append(value)
        for res in results:
            a = acc[res.stage]
            pn = res.mean
            row: dict[str, Any] = {"case": pair.case, "stage": res.stage, **image_quality(pn, yc)}
            err = (pn - yn)[region].astype(np.float64)
            total = res.total[region]
            alpha = res.alpha[region]
            beta = res.beta[region]
            row["spearman"] = M.spearman(total, np.abs(err))
            area, curve, oracle = M.ause(total, err)
            row["ause"] = area
            a.curves.append(curve)
            a.oracles.append(oracle)
            for p in COVERAGE_LEVELS:
                inside_ggd = np.abs(err) <= M.ggd_halfwidth(alpha, beta, p)
                inside_tot = np.abs(err) <= M.gaussian_halfwidth(total, p)
                a.cov_ggd[p][0] += int(inside_ggd.sum())
                a.cov_ggd[p][1] += err.size
                a.cov_total[p][0] += int(inside_tot.sum())
                a.cov_total[p][1] += err.size
            take = rng.permutation(err.size)[:POOL_PIXELS_PER_IMAGE] if err.size > POOL_PIXELS_PER_IMAGE else slice(None)
            a.pool_sigma.append(np.asarray(total, dtype=np.float64)[take])
            a.pool_err.append(err[take])
            epi = float(np.mean(res.epistemic))
            epi_lungs = float(np.mean(res.epistemic[region]))
            row["epistemic"], row["epistemic_lungs"] = epi, epi_lungs
            group = "ood" if pair.ood else "clean"
            a.epi[group].append(epi)
            a.epi_lungs[group].append(epi_lungs)
            if devices is not None:
                a.epi_device.append(float(np.mean(res.epistemic[devices])))
                a.epi_beside.append(float(np.mean(res.epistemic[~devices])))
                sq = (np.clip(pn, 0, 1) - yc) ** 2
                a.mse_device.append(float(np.mean(sq[devices])))
                a.mse_beside.append(float(np.mean(sq[~devices])))
            for metric in ("mse", "psnr", "ssim", "spearman", "ause"):
                a.rows[metric].append(row[metric])
            row["ood"] = pair.ood
            per_image.append(row)
        if progress is not None:
            progress(i + 1, len(pairs))
    n_total = len(pairs) + len(failed) - sum(f["case"] in {p.case for p in pairs} for f in failed)
    if not per_image:
        raise DatasetError(f"none of the {n_total} pairs of the {split} split could be evaluated; "
                           f"the first failed with: {failed[0]['reason'].rstrip('.')}")
    if failed:
        notes.append(f"{len(failed)} of {n_total} pairs could not be evaluated and are left out "
                     f"(first: {failed[0]['case']}: {failed[0]['reason'].rstrip('.')})")
    if no_mask:
        notes.append(f"{no_mask} of {len(pairs)} cases have no lung mask; their uncertainty metrics use the whole image")
    if off_range:
        shown = ", ".join(off_range[:5]) + (", ..." if len(off_range) > 5 else "")
        notes.append(f"{len(off_range)} of {len(pairs)} attenuation images lie outside the value range the model "
                     f"was trained on ({shown}); its figures on them say little")
    if mc_samples == 0:
        notes.append("mc_samples = 0: deterministic pass, epistemic sigma is zero")
    stages: dict[int, dict[str, Any]] = {}
    curves: dict[int, dict[str, Any]] = {}
    for k, a in acc.items():
        sig = np.concatenate(a.pool_sigma)
        err = np.concatenate(a.pool_err)
        stages[k] = {
            **{name: mean_std(v) for name, v in a.rows.items()},
            "coverage_ggd": {str(p): c / n for p, (c, n) in a.cov_ggd.items()},
            "coverage_total": {str(p): c / n for p, (c, n) in a.cov_total.items()},
            "uce": M.uce(sig, err, CALIBRATION_BINS),
            "ence": M.ence(sig, err, CALIBRATION_BINS),
            "spearman_pooled": M.spearman(sig, np.abs(err)),
            "epistemic": _groups(a.epi),
            "epistemic_lungs": _groups(a.epi_lungs),
            "epistemic_devices": _region_means(a.epi_device, a.epi_beside),
            "mse_devices": _region_means(a.mse_device, a.mse_beside),
        }
        curves[k] = {
            "fractions": M.SPARSIFICATION_FRACTIONS.tolist(),
            "sparsification": np.mean(a.curves, axis=0).tolist(),
            "oracle": np.mean(a.oracles, axis=0).tolist(),
            "coverage_levels": list(COVERAGE_LEVELS),
        }
    name = str(model) if is_path else "(predictor)"
    paired = _paired_stage_comparison(per_image)
    ref: dict[str, Any] | None = None
    if reference["mse"]:
        ref = {k: mean_std(v) for k, v in reference.items()}
        ref["n"] = len(reference["mse"])
    return EvaluationReport(name, str(report.root), split, mc_samples, len({r["case"] for r in per_image}), stages, curves,
                            per_image, notes=notes, reference=ref, paired=paired,
                            by_group=_quality_by_group(per_image), failed=failed)
