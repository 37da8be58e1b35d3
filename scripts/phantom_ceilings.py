"""What the best possible generator could score on a simulated test split (Bayes-style oracles).

    python scripts/phantom_ceilings.py DATASET [--split test] [--clean] [--samples 16] [--smooth 1.5]
        [--model demo.safetensors] [--predictions DIR] [--save DIR]

For every case the simulator is run again ``--samples`` times with the same anatomy, devices, dose
and case flags (healthy / emphysema / consolidation) but fresh random streams for what an
attenuation image cannot show exactly. Two oracles:

* ``noise``: knows the noise-free dark-field exactly; its sigma is the true per-pixel standard
  deviation of the detector noise (from the resimulated noise). The ceiling of any sigma for a
  generator whose only error is the noise.
* ``bayes``: knows the anatomy but not the alveolar texture, the placement of the pathology
  patches, or the noise. Its prediction is the mean of the resimulated measured images, its sigma
  their standard deviation: the conditional mean and spread given everything the oracle knows.
  A real model sees consolidation (and a little emphysema) in the attenuation image, so it could
  beat this oracle's MSE there; it cannot see the texture or the noise.

A standard deviation from a few draws is itself noisy (about 18 % from 16), which would lower
the oracles' Spearman; the variance over the draws is therefore averaged over a Gaussian window
of ``--smooth`` pixels (the noise level follows the transmitted intensity, which changes slowly).

Scores use ``dfviewer evaluate``'s settings and the model's target normalisation: MSE / PSNR /
SSIM of the clipped images, Spearman(sigma, |error|) inside the lung mask per image and pooled,
and the coverage of the Gaussian 90 % interval of sigma.

With ``--predictions DIR`` (the per-case cache of ``scripts/uncertainty_ranking.py`` for the same
model and split) the oracle's sigma is also scored against the *model's* errors: if the oracle's
sigma ranks the model's errors no better than the model's own sigma does, the gap to the oracle
lies in the errors (what the model gets wrong), not in its sigma.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np
from scipy.ndimage import gaussian_filter

from dfviewer.core import metrics as M
from dfviewer.core.checkpoint import load_checkpoint
from dfviewer.core.dataset_check import read_pixels
from dfviewer.core.normalize import normalize_target
from dfviewer.imaging.image_metrics import image_quality
from dfviewer.phantom.config import PhantomConfig
from dfviewer.phantom.simulate import simulate_case


def _spread(draws: np.ndarray, smooth: float) -> np.ndarray:
    """Per-pixel standard deviation over the draws, its variance smoothed over ``smooth`` pixels."""
    var = draws.var(0, ddof=1)
    return np.sqrt(gaussian_filter(var, smooth) if smooth > 0 else var)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--split", default="test")
    parser.add_argument("--samples", type=int, default=16, help="resimulations per case")
    parser.add_argument("--smooth", type=float, default=1.5, help="Gaussian sigma (pixels) for the variance")
    parser.add_argument("--model", default="resources/models/demo.safetensors",
                        help="checkpoint whose target normalisation is used")
    parser.add_argument("--predictions", type=Path, default=None,
                        help="folder of the model's cached predictions (scripts/uncertainty_ranking.py --cache)")
    parser.add_argument("--clean", action="store_true",
                        help="score only the clean (in-distribution) cases, as the stage tables do")
    parser.add_argument("--save", type=Path, default=None,
                        help="write the Bayes oracle's mean and sigma per case (NPZ) into this folder")
    args = parser.parse_args()
    if args.save is not None:
        args.save.mkdir(parents=True, exist_ok=True)
    crossed: dict[str, list[float]] = {}
    meta = json.loads((args.dataset / "phantom.json").read_text())
    cfg = PhantomConfig(**meta["config"])
    norm = load_checkpoint(args.model).config.normalization
    rows = [r for r in csv.DictReader((args.dataset / "manifest.csv").open()) if r["split"] == args.split
            and not (args.clean and r["ood"] == "1")]
    scores: dict[str, dict[str, list[float]]] = {"noise": {}, "bayes": {}}
    pooled: dict[str, tuple[list, list]] = {"noise": ([], []), "bayes": ([], [])}
    cover: dict[str, list[int]] = {"noise": [0, 0], "bayes": [0, 0]}
    half90 = M.gaussian_halfwidth(np.ones(1), 0.9)[0]
    for row in rows:
        index, ood = int(row["case"].rsplit("_", 1)[1]), row["ood"] == "1"
        y = normalize_target(read_pixels(args.dataset / row["darkfield"]), norm)
        clean = normalize_target(read_pixels(args.dataset / row["darkfield_clean"]), norm)
        lungs = read_pixels(args.dataset / row["lung_mask"]) > 0
        draws = [simulate_case(meta["seed"], index, cfg, ood=ood, redraw=k) for k in range(args.samples)]
        measured = np.stack([normalize_target(c.darkfield, norm) for c in draws])
        noise = np.stack([normalize_target(c.darkfield, norm) - normalize_target(c.darkfield_clean, norm)
                          for c in draws])
        oracles = {"noise": (clean, _spread(noise, args.smooth)),
                   "bayes": (measured.mean(0), _spread(measured, args.smooth))}
        for name, (pred, sigma) in oracles.items():
            s = scores[name]
            for key, value in image_quality(pred, np.clip(y, 0, 1)).items():
                s.setdefault(key, []).append(value)
            err = (y - pred)[lungs]
            s.setdefault("spearman", []).append(M.spearman(sigma[lungs], np.abs(err)))
            pooled[name][0].append(sigma[lungs])
            pooled[name][1].append(np.abs(err))
            cover[name][0] += int((np.abs(err) <= half90 * sigma[lungs]).sum())
            cover[name][1] += err.size
        if args.save is not None:
            np.savez_compressed(args.save / f"{args.split}_{row['case']}.npz", mean=oracles["bayes"][0].astype(np.float32),
                                sigma=oracles["bayes"][1].astype(np.float32))
        cached = args.predictions / f"{args.split}_{row['case']}.npz" if args.predictions else None
        if cached is not None and cached.exists():
            model = dict(np.load(cached))
            model_err = np.abs(y - model["mean"])[lungs]
            model_sigma = np.hypot(model["aleatoric"], model["epistemic"])[lungs]
            for key, (sigma, err) in {
                "model sigma, model errors": (model_sigma, model_err),
                "bayes sigma, model errors": (oracles["bayes"][1][lungs], model_err),
                "noise sigma, model errors": (oracles["noise"][1][lungs], model_err),
                "model sigma, bayes errors": (model_sigma, np.abs(y - oracles["bayes"][0])[lungs]),
            }.items():
                crossed.setdefault(key, []).append(M.spearman(sigma, err))
    print(f"{len(rows)} {'clean ' if args.clean else ''}{args.split} cases of {args.dataset}, {args.samples} resimulations each, "
          f"variance smoothed over {args.smooth} px")
    for name, s in scores.items():
        sp_pooled = M.spearman(np.concatenate(pooled[name][0]), np.concatenate(pooled[name][1]))
        print(f"{name:>5}: MSE {np.mean(s['mse']):.4f}  PSNR {np.mean(s['psnr']):.2f}  SSIM {np.mean(s['ssim']):.3f}  "
              f"Spearman per image {np.nanmean(s['spearman']):.3f} ± {np.nanstd(s['spearman']):.3f}, "
              f"pooled {sp_pooled:.3f}  90 % coverage {cover[name][0] / max(cover[name][1], 1):.3f}")
    for key, values in crossed.items():
        print(f"{key:>26}: Spearman per image {np.nanmean(values):.3f} ± {np.nanstd(values):.3f} ({len(values)} cases)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
