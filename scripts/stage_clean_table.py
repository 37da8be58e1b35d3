"""Stage-wise figures of the clean cases of several runs, with the mean aleatoric sigma in the lungs.

Usage: ``python scripts/stage_clean_table.py DATA NAME=REPORT.json@MODEL [...]``: a
``dfviewer evaluate --out`` report of DATA's test split and the model it scored. Prints one
Markdown row per run: MSE / PSNR / SSIM of stages 1-3 on the clean (in-distribution) cases, stage 3
against 1 and against 2 (a model of fewer stages gets "—" there), and the mean aleatoric sigma
(network units, one deterministic pass) inside the lung masks of the same cases for each stage, and
inside the lungs of a real chest CR (pydicom-data's RG1, its lung mask found by
``dfviewer.io.lung_mask``): the figures docs/evaluation/stages_study.md compares.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from dfviewer.core.dataset_check import check_dataset
from dfviewer.core.predictors import open_predictor
from dfviewer.io.reader import read_pixels


def masked_sigma(predictor, pixels: np.ndarray, mask: np.ndarray) -> list[float]:
    """Mean aleatoric sigma inside ``mask`` by stage (network units, one deterministic pass)."""
    return [float(np.mean(res.aleatoric[mask])) for res in predictor.predict(pixels, mc_samples=0, network_units=True)]


def lung_sigma(predictor, data: str) -> list[float]:
    """Mean aleatoric sigma inside the lung mask of each stage, over the clean test cases."""
    cases = [masked_sigma(predictor, read_pixels(pair.attenuation), read_pixels(pair.lung_mask) > 0)
             for pair in check_dataset(data).split("test") if not pair.ood and pair.lung_mask is not None]
    return [float(v) for v in np.mean(cases, axis=0)]


def rg1_with_lungs() -> tuple[np.ndarray, np.ndarray]:
    """RG1's pixels and the lung mask ``dfviewer.io.lung_mask`` finds on them."""
    from pydicom.data import get_testdata_file

    from dfviewer.io import lung_mask, read_radiograph

    pixels = read_radiograph(get_testdata_file("RG1_UNCR.dcm")).pixels
    return pixels, lung_mask(pixels).mask


def row(name: str, report: dict, sigma: list[float], real: list[float]) -> str:
    """One table row: clean-case figures by stage, 3 vs 1 and 3 vs 2, sigma by stage."""
    st = report["by_group"]["clean"]["stages"]
    m = {k: [st[str(k)][q]["mean"] for q in ("mse", "psnr", "ssim")] for k in (1, 2, 3) if str(k) in st}
    cells = [f"{m[k][0]:.5f} / {m[k][1]:.2f} / {m[k][2]:.3f}" if k in m else "—" for k in (1, 2, 3)]
    vs = [f"{m[3][0] / m[a][0]:.3f}x / {m[3][1] - m[a][1]:+.2f} / {m[3][2] - m[a][2]:+.3f}" if 3 in m else "—"
          for a in (1, 2)]
    sig, rg1 = (" / ".join(f"{s:.4f}" for s in values) for values in (sigma, real))
    return f"| {name} | {' | '.join(cells)} | {' | '.join(vs)} | {sig} | {rg1} |"


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    data = argv[0]
    print("| run | stage 1 MSE / PSNR / SSIM | stage 2 | stage 3 | 3 vs 1 | 3 vs 2 "
          "| aleatoric σ in lungs, stages 1 / 2 / 3 | RG1: σ in lungs, stages 1 / 2 / 3 |")
    print("|---|---|---|---|---|---|---|---|")
    rg1, rg1_lungs = rg1_with_lungs()
    for arg in argv[1:]:
        name, _, rest = arg.partition("=")
        report_path, _, model = rest.partition("@")
        report = json.loads(Path(report_path).read_text(encoding="utf-8"))
        predictor = open_predictor(model, device="cpu", threads=1)
        sigma, real = lung_sigma(predictor, data), masked_sigma(predictor, rg1, rg1_lungs)
        print(row(name, report, sigma, real), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
