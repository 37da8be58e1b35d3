"""Tiny synthetic paired datasets for the training, data and evaluation tests."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import tifffile
from PIL import Image


def make_pairs(root: Path, n: int = 8, size: int = 40, seed: int = 0, val: int = 1, test: int = 1,
               shape: tuple[int, int] | None = None, extras: bool = False) -> Path:
    """A manifest dataset: NPY attenuation, float32 TIFF dark-field, PNG lung masks.

    Each case is a disc-shaped 'lung' (dark in attenuation, bright and textured in
    dark-field) at a random place; the last test case is flagged ``devices``. With ``extras``
    the manifest also names each case's noise-free dark-field and a device mask (a small
    square on the devices case, empty elsewhere), as ``dfviewer phantom`` writes them.
    """
    root = Path(root)
    for sub in ("attenuation", "darkfield", "masks", "darkfield_clean"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    h, w = shape or (size, size)
    yy, xx = np.mgrid[0:h, 0:w]
    yy, xx = yy / h, xx / w
    rows = []
    for i in range(n):
        cx, cy, r = rng.uniform(0.35, 0.65), rng.uniform(0.35, 0.65), rng.uniform(0.18, 0.3)
        lung = ((xx - cx) ** 2 + (yy - cy) ** 2 < r * r).astype(np.float32)
        att = (1.0 - 0.6 * lung + 0.03 * rng.standard_normal((h, w))).astype(np.float32)
        clean = (2.5 * lung * (0.8 + 0.2 * np.sin(9 * xx))).astype(np.float32)
        df = (clean + 0.02 * rng.standard_normal((h, w))).astype(np.float32)
        case = f"case{i:02d}"
        np.save(root / "attenuation" / f"{case}.npy", att)
        tifffile.imwrite(root / "darkfield" / f"{case}.tif", df)
        Image.fromarray((lung * 255).astype(np.uint8)).save(root / "masks" / f"{case}.png")
        split = "train" if i < n - val - test else ("val" if i < n - test else "test")
        rows.append({"case": case, "attenuation": f"attenuation/{case}.npy", "darkfield": f"darkfield/{case}.tif",
                     "lung_mask": f"masks/{case}.png", "split": split, "healthy": 1, "emphysema": 0,
                     "consolidation": 0, "devices": int(i == n - 1), "ood": 0})
        if extras:
            tifffile.imwrite(root / "darkfield_clean" / f"{case}.tif", clean)
            device = np.zeros((h, w), np.uint8)
            if i == n - 1:
                device[h // 5: h // 5 + 6, w // 5: w // 5 + 6] = 255
            Image.fromarray(device).save(root / "masks" / f"{case}_device.png")
            rows[-1].update(darkfield_clean=f"darkfield_clean/{case}.tif", device_mask=f"masks/{case}_device.png")
    with open(root / "manifest.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return root
