"""How well the model's sigma ranks its own errors, and which way of forming sigma ranks them best.

    python scripts/uncertainty_ranking.py DATASET [--model demo.safetensors] [--mc 20] [--seed 0]
        [--cache DIR] [--out report.json] [--oracle DIR]

For the val and the test split of a simulated dataset (``dfviewer phantom``), every case is
predicted as ``dfviewer evaluate`` does (stage 3, network units, dropout seed ``seed + i``), and
the per-image Spearman(sigma, |error|) inside the lung mask is computed for several ways of
forming sigma from the aleatoric and epistemic maps:

* ``total``: ``sqrt(aleatoric**2 + epistemic**2)``, what the viewer and ``evaluate`` report;
* ``aleatoric`` or ``epistemic`` alone;
* ``w=K``: ``sqrt(aleatoric**2 + K * epistemic**2)`` (the epistemic share reweighted);
* ``smooth=S``: the total variance averaged over a Gaussian window of S pixels. The Bayes oracle
  of ``scripts/phantom_ceilings.py`` smooths its variance the same way (1.5 px), because a
  standard deviation from a few draws is noisy; the model's epistemic sigma from T MC samples
  is noisy in the same way.

The variant is chosen on val only; test reports it beside ``total``. Predictions are cached as
NPZ (``--cache``) so the analysis can be repeated without the model.

``--oracle DIR`` (the Bayes oracle's per-case mean and sigma from ``scripts/phantom_ceilings.py
--save DIR`` on the same split) asks how good the *mean* must be for the ranking target: the
model's mean is moved towards the oracle's mean, ``(1 - t) * model + t * oracle``, and for each
``t`` the MSE and the per-image Spearman of the model's sigma and of the oracle's sigma against
that mean's errors are reported (``t = 1`` is the oracle itself).
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np
from scipy.ndimage import gaussian_filter

from dfviewer.core import metrics as M
from dfviewer.core.dataset_check import read_pixels
from dfviewer.core.inference import Predictor
from dfviewer.core.normalize import normalize_target

WEIGHTS = (0.25, 0.5, 2.0, 4.0)
SMOOTHING = (0.75, 1.5, 3.0)


def predict_split(predictor: Predictor, dataset: Path, split: str, mc: int, seed: int,
                  cache: Path | None) -> list[dict[str, np.ndarray]]:
    """Stage-3 maps in network units with the normalised target and the lung mask, per case."""
    norm = predictor.config.normalization
    manifest = dataset / "manifest.csv" if dataset.is_dir() else dataset
    root = manifest.parent
    rows = [r for r in csv.DictReader(manifest.open()) if r["split"] == split]
    cases = []
    for i, row in enumerate(rows):
        path = cache / f"{split}_{row['case']}.npz" if cache else None
        if path is not None and path.exists():
            cases.append(dict(np.load(path)))
            continue
        x = read_pixels(root / row["attenuation"])
        y = normalize_target(read_pixels(root / row["darkfield"]), norm)
        lungs = read_pixels(root / row["lung_mask"]) > 0
        last = predictor.predict(x, mc_samples=mc, seed=seed + i, network_units=True)[-1]
        case = {"target": y.astype(np.float32), "lungs": lungs, "mean": last.mean,
                "aleatoric": last.aleatoric, "epistemic": last.epistemic}
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            np.savez_compressed(path, **case)
        cases.append(case)
        print(f"{split} {i + 1}/{len(rows)}", end="\r", flush=True)
    print()
    return cases


def _case_names(dataset: Path, split: str) -> list[str]:
    manifest = dataset / "manifest.csv" if dataset.is_dir() else dataset
    return [r["case"] for r in csv.DictReader(manifest.open()) if r["split"] == split]


def sigma_variants(aleatoric: np.ndarray, epistemic: np.ndarray) -> dict[str, np.ndarray]:
    """Every candidate sigma map, by name."""
    a2, e2 = aleatoric.astype(np.float64) ** 2, epistemic.astype(np.float64) ** 2
    variants = {"total": np.sqrt(a2 + e2), "aleatoric": np.sqrt(a2), "epistemic": np.sqrt(e2)}
    for w in WEIGHTS:
        variants[f"w={w:g}"] = np.sqrt(a2 + w * e2)
    for s in SMOOTHING:
        variants[f"smooth={s:g}"] = np.sqrt(gaussian_filter(a2 + e2, s))
        variants[f"smooth={s:g} epistemic only"] = np.sqrt(a2 + gaussian_filter(e2, s))
    return variants


def ranking(cases: list[dict[str, np.ndarray]]) -> dict[str, dict[str, float]]:
    """Per variant: per-image Spearman mean and std, and pooled Spearman, inside the lungs."""
    per: dict[str, list[float]] = {}
    pooled: dict[str, list[np.ndarray]] = {}
    errors = []
    for case in cases:
        lungs = case["lungs"].astype(bool)
        err = np.abs(case["mean"] - case["target"])[lungs]
        errors.append(err)
        for name, sigma in sigma_variants(case["aleatoric"], case["epistemic"]).items():
            per.setdefault(name, []).append(M.spearman(sigma[lungs], err))
            pooled.setdefault(name, []).append(sigma[lungs])
    all_err = np.concatenate(errors)
    return {name: {"mean": float(np.nanmean(v)), "std": float(np.nanstd(v)),
                   "pooled": M.spearman(np.concatenate(pooled[name]), all_err)}
            for name, v in per.items()}


def towards_oracle(cases: list[dict[str, np.ndarray]], oracle: Path, split: str, names: list[str],
                   steps: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0)) -> list[dict[str, float]]:
    """Per step ``t``: MSE of the blended mean and Spearman of model / oracle sigma against its errors."""
    loaded = [dict(np.load(oracle / f"{split}_{name}.npz")) for name in names]
    rows = []
    for t in steps:
        mse, by_model, by_oracle = [], [], []
        for case, bayes in zip(cases, loaded):
            lungs = case["lungs"].astype(bool)
            mean = (1 - t) * case["mean"] + t * bayes["mean"]
            err = np.abs(mean - case["target"])
            mse.append(float(np.mean((np.clip(mean, 0, 1) - np.clip(case["target"], 0, 1)) ** 2)))
            by_model.append(M.spearman(np.hypot(case["aleatoric"], case["epistemic"])[lungs], err[lungs]))
            by_oracle.append(M.spearman(bayes["sigma"][lungs], err[lungs]))
        rows.append({"t": t, "mse": float(np.mean(mse)), "model_sigma": float(np.nanmean(by_model)),
                     "oracle_sigma": float(np.nanmean(by_oracle))})
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--model", default="resources/models/demo.safetensors")
    parser.add_argument("--mc", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache", type=Path, default=None, help="folder for the per-case predictions (NPZ)")
    parser.add_argument("--out", type=Path, default=None, help="write the figures as JSON")
    parser.add_argument("--splits", default="val,test", help="val,test (default) or val alone")
    parser.add_argument("--oracle", type=Path, default=None,
                        help="folder of the Bayes oracle's maps (scripts/phantom_ceilings.py --save) for the first split")
    args = parser.parse_args()
    predictor = Predictor.from_checkpoint(args.model, device="cpu")
    report: dict[str, dict] = {}
    blends: list[dict[str, float]] = []
    for split in args.splits.split(","):
        cases = predict_split(predictor, args.dataset, split, args.mc, args.seed, args.cache)
        report[split] = ranking(cases)
        if args.oracle is not None and not blends:
            blends = towards_oracle(cases, args.oracle, split, _case_names(args.dataset, split))
    best = max(report["val"], key=lambda name: report["val"][name]["mean"])
    print(f"{'sigma':<28} {'val per image':>16} {'val pooled':>11}" + (f" {'test per image':>16} {'test pooled':>12}"
                                                                      if "test" in report else ""))
    for name in report["val"]:
        v = report["val"][name]
        line = f"{name:<28} {v['mean']:7.4f} ± {v['std']:.3f} {v['pooled']:11.3f}"
        if "test" in report:
            t = report["test"][name]
            line += f" {t['mean']:7.4f} ± {t['std']:.3f} {t['pooled']:12.3f}"
        print(line + ("  <- best on val" if name == best else ""))
    report["chosen_on_val"] = {"variant": best}
    if blends:
        print("mean moved towards the oracle's: t, MSE, Spearman per image of model sigma / oracle sigma")
        for row in blends:
            print(f"  t = {row['t']:.2f}  MSE {row['mse']:.5f}  model sigma {row['model_sigma']:.4f}  "
                  f"oracle sigma {row['oracle_sigma']:.4f}")
        report["towards_oracle"] = blends
    if args.out:
        args.out.write_text(json.dumps(report, indent=1))
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
