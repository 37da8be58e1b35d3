"""Write a simulated paired dataset in the folder layout ``dfviewer train`` / ``evaluate`` read.

Layout under ``out_dir``::

    attenuation/<case>.dcm      DICOM DX (or .tiff float32 when DICOM is not wanted or not available)
    darkfield/<case>.tiff       float32, -ln(V/V0), measured (noisy)
    darkfield_clean/<case>.tiff float32, the ideal line integral (ground truth without noise)
    masks/<case>_lung.png       8-bit 0/255; also _emphysema, _consolidation, _device
    manifest.csv                one row per case, paths relative to the manifest's folder
    phantom.json                the settings, seed and count that made it

Training cases are in distribution unless ``config.ood_fraction_train`` says otherwise; a share
``config.ood_fraction_eval`` of the val and test cases is out of distribution (devices, and
sometimes unusual dose, rotation or scale), so evaluation can compare epistemic uncertainty on
the two groups.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from dfviewer.atomic import atomic_path, atomic_write_bytes, atomic_write_text
from dfviewer.errors import UserError
from dfviewer.phantom.config import PhantomConfig
from dfviewer.phantom.simulate import PhantomCase, simulate_case

MASK_NAMES = ("lung", "emphysema", "consolidation", "device")
COLUMNS = ("case", "attenuation", "darkfield", "lung_mask", "split", "healthy", "emphysema", "consolidation",
           "devices", "ood", "darkfield_clean", "emphysema_mask", "consolidation_mask", "device_mask",
           "device_kinds", "ood_kinds", "dose", "patient_size", "pixel_spacing_mm")


class DatasetWriteError(UserError):
    """The dataset cannot be written as asked."""


def assign_splits(n: int, seed: int, splits: tuple[float, float, float], config: PhantomConfig) -> list[tuple[str, bool]]:
    """(split, ood) for every case index, deterministic in ``seed``."""
    fractions = np.asarray(splits, dtype=float)
    if fractions.shape != (3,) or (fractions < 0).any() or fractions.sum() <= 0:
        raise DatasetWriteError(f"splits must be three non-negative fractions (train, val, test), not {splits!r}.")
    fractions = fractions / fractions.sum()
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x5EED]))
    order = rng.permutation(n)
    n_train = int(round(fractions[0] * n))
    n_val = min(int(round(fractions[1] * n)), n - n_train)
    labels = {}
    groups = {"train": order[:n_train], "val": order[n_train:n_train + n_val], "test": order[n_train + n_val:]}
    for name, members in groups.items():
        share = config.ood_fraction_train if name == "train" else config.ood_fraction_eval
        n_ood = int(round(share * len(members)))
        ood_members = set(rng.permutation(members)[:n_ood].tolist()) if len(members) else set()
        for i in members.tolist():
            labels[i] = (name, i in ood_members)
    return [labels[i] for i in range(n)]


def _png_bytes(mask: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.where(mask, 255, 0).astype(np.uint8), mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


def _dicom_writer():
    try:
        from dfviewer.io import write_dx_dicom
    except ImportError:
        return None
    return write_dx_dicom


def _write_tiff(path: Path, array: np.ndarray, description: str) -> None:
    try:
        from dfviewer.io.tiff_export import write_tiff
    except ImportError:
        import tifffile

        with atomic_path(path) as tmp:
            tifffile.imwrite(tmp, np.asarray(array, np.float32), description=description)
        return
    write_tiff(path, array, description=description)


def write_case(out_dir: Path, case_id: str, case: PhantomCase, split: str, dicom: bool) -> dict:
    """Write one case's files; returns its manifest row."""
    spacing = case.attributes["pixel_spacing_mm"]
    writer = _dicom_writer() if dicom else None
    if writer is not None:
        att_rel = f"attenuation/{case_id}.dcm"
        a = case.attributes
        comment = (f"dfviewer phantom seed {a['seed']} index {a['index']}; healthy {int(a['healthy'])}; "
                   f"emphysema {int(a['emphysema'])}; consolidation {int(a['consolidation'])}; "
                   f"devices {a['devices'] or 'none'}")
        writer(out_dir / att_rel, case.attenuation, patient_id=case_id, pixel_spacing=(spacing, spacing),
               image_comments=comment)
    else:
        att_rel = f"attenuation/{case_id}.tiff"
        _write_tiff(out_dir / att_rel, case.attenuation, f"dfviewer phantom; map attenuation; units -ln(T); "
                                                          f"pixel spacing {spacing:.4f} mm")
    dark_rel = f"darkfield/{case_id}.tiff"
    _write_tiff(out_dir / dark_rel, case.darkfield, "dfviewer phantom; map darkfield; units -ln(V/V0)")
    clean_rel = f"darkfield_clean/{case_id}.tiff"
    _write_tiff(out_dir / clean_rel, case.darkfield_clean, "dfviewer phantom; map darkfield clean; units -ln(V/V0)")
    mask_rel = {}
    for name in MASK_NAMES:
        rel = f"masks/{case_id}_{name}.png"
        atomic_write_bytes(out_dir / rel, _png_bytes(case.masks[name]))
        mask_rel[name] = rel
    a = case.attributes
    return {
        "case": case_id, "attenuation": att_rel, "darkfield": dark_rel, "lung_mask": mask_rel["lung"], "split": split,
        "healthy": int(a["healthy"]), "emphysema": int(a["emphysema"]), "consolidation": int(a["consolidation"]),
        "devices": int(bool(a["devices"])), "ood": int(a["ood"]), "darkfield_clean": clean_rel,
        "emphysema_mask": mask_rel["emphysema"], "consolidation_mask": mask_rel["consolidation"],
        "device_mask": mask_rel["device"], "device_kinds": a["devices"], "ood_kinds": a["ood_kinds"],
        "dose": f"{a['dose']:.4g}", "patient_size": f"{a['patient_size']:.4f}", "pixel_spacing_mm": f"{spacing:.5f}",
    }


def write_dataset(out_dir: str | Path, n: int, size: int, seed: int, config: PhantomConfig | None = None,
                  splits: tuple[float, float, float] = (0.7, 0.15, 0.15),
                  progress: Callable[[int, int], None] | None = None, *, dicom: bool = True) -> Path:
    """Simulate ``n`` cases of ``size`` pixels and write them under ``out_dir``; returns the manifest path.

    Deterministic in ``seed``: the same call writes the same pixels and the same manifest. ``dicom``
    writes attenuation as DICOM DX when the IO layer provides a DICOM writer, TIFF otherwise.
    ``progress(done, total)`` is called after every case.
    """
    if not isinstance(n, int) or n < 1:
        raise DatasetWriteError(f"the number of cases must be a positive integer, not {n!r}.")
    cfg = (config or PhantomConfig()).replace(size=size)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise DatasetWriteError(f"{out} exists and is not a folder.")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DatasetWriteError(f"{out} cannot be created ({exc.strerror or exc}).") from None
    labels = assign_splits(n, seed, splits, cfg)
    width = max(5, len(str(n - 1)))
    rows = []
    for index, (split, ood) in enumerate(labels):
        case = simulate_case(seed, index, cfg, ood=ood)
        rows.append(write_case(out, f"case_{index:0{width}d}", case, split, dicom))
        if progress is not None:
            progress(index + 1, n)
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    manifest = out / "manifest.csv"
    atomic_write_text(manifest, text.getvalue())
    meta = {"generator": "dfviewer phantom", "n": n, "size": size, "seed": seed, "splits": list(splits),
            "config": dataclasses.asdict(cfg)}
    atomic_write_text(out / "phantom.json", json.dumps(meta, indent=2) + "\n")
    return manifest
