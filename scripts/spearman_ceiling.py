"""How high can Spearman(sigma, |error|) inside the lungs get on a simulated dataset?

    python scripts/spearman_ceiling.py DATASET [--split test] [--window 6]

Uses the noise-free dark-field that ``dfviewer phantom`` writes next to the measured one. The
error of a generator that predicted the noise-free image exactly is the detector noise itself;
an oracle sigma for it is the local RMS of that very noise (a Gaussian window of ``--window``
pixels). That oracle has seen the noise it ranks, so it is optimistic: a real model, which
sees only the attenuation image, scores lower. The per-image figure is what
``dfviewer evaluate`` reports as Spearman per image; the pooled one mixes all images.
"""

from __future__ import annotations

import argparse

import numpy as np
from scipy.ndimage import gaussian_filter

from dfviewer.core import metrics as M
from dfviewer.core.data import check_dataset, read_pixels


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset")
    parser.add_argument("--split", default="test")
    parser.add_argument("--window", type=float, default=6.0, help="Gaussian sigma of the local RMS, pixels")
    args = parser.parse_args()
    pairs = [p for p in check_dataset(args.dataset).split(args.split) if "darkfield_clean" in p.extras]
    if not pairs:
        print(f"no {args.split} cases with a darkfield_clean column in {args.dataset}")
        return 1
    per_image, pooled_sigma, pooled_err = [], [], []
    for pair in pairs:
        noise = read_pixels(pair.darkfield) - read_pixels(pair.extras["darkfield_clean"])
        lungs = read_pixels(pair.lung_mask) > 0 if pair.lung_mask is not None else np.ones(noise.shape, bool)
        sigma = np.sqrt(gaussian_filter(noise.astype(np.float64) ** 2, args.window))
        per_image.append(M.spearman(sigma[lungs], np.abs(noise[lungs])))
        pooled_sigma.append(sigma[lungs])
        pooled_err.append(np.abs(noise[lungs]))
    print(f"{len(pairs)} {args.split} cases; oracle sigma = local RMS of the noise itself (window {args.window} px)")
    print(f"Spearman(oracle sigma, |noise|) in the lungs: per image {np.mean(per_image):.3f} "
          f"± {np.std(per_image):.3f}; pooled {M.spearman(np.concatenate(pooled_sigma), np.concatenate(pooled_err)):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
