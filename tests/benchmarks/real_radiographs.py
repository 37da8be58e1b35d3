"""What a model does on real radiographs and on inputs that are not chest radiographs at all.

Run: ``python tests/benchmarks/real_radiographs.py [--model CKPT] [--test-data DIR] [--mc 20]
[--out docs/evaluation/real_radiographs.json] [--figure docs/real_radiographs.png]``.

Chest inputs (should not be flagged): pydicom-data's RG1 (a real PA chest CR) as stored
(``RG1_UNCR``), lossy JPEG 2000 (``RG1_J2KI``), and as an archive would hand it over: an
8-bit 1024 px PNG (ChestX-ray14-style, windowed at its 1-99 % range) and a JPEG of it.
Per chest input: the domain score against the model's threshold; the mean generated
dark-field (last stage) in the lungs (``dfviewer.io.lung_mask`` on the input) and in the
mediastinum (the columns between the two lungs, in the rows where both are present), and
their ratio (target >= 2); the median total sigma in the lungs, against the 5-95 % range of
the same figure over the phantom test split (``--test-data``).

Not chest radiographs (should be flagged): RG1 inverted, pydicom's CT (``CT_small``,
``693_UNCR``), MR (``MR_small``, ``MR2_UNCR``), ultrasound (``US1_UNCR``), a hand / extremity
CR (``RG3_UNCR``), and photographs (scikit-image's ``astronaut`` and ``camera``).
Prints a table; ``--out`` writes the figures as JSON, ``--figure`` a PNG of RG1's input, mean
and total sigma.

``--renderings N``: real anatomy under the simulated clinical chains. RG1 (at 1024 px) goes
through N seeded renderings of each family of :func:`dfviewer.imaging.clinical_rendering.render` (png8,
cr12, clahe_jpeg, multiscale, mixture; the chains are percentile-based, so they apply to a
processed image as well), N fields of view (each side cut to 70-100 % at a random place, as a
tighter collimation frames the same chest) and N random poses (rotation up to 8 degrees, zoom
0.88-1.12, shift 5 %; the edges are replicated where the image moves in, which no film has).
Per family: the share flagged, the lungs / mediastinum ratio (RG1's own masks, posed with the
image for the poses) and the consistency, Pearson r of the generated dark-field with RG1's own
inside the lungs and mediastinum, as ``evaluate --renderings`` reports it for phantom cases.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[2]



def _repo_relative(path: str) -> str:
    """``path`` relative to the repository when it lies inside it, so a committed report names no machine folder."""
    p = Path(path).resolve()
    return p.relative_to(REPO).as_posix() if p.is_relative_to(REPO) else path


def _png8(pixels: np.ndarray, size: int = 1024, fmt: str = "PNG", quality: int = 85) -> np.ndarray:
    """RG1 as an archive's 8-bit image: 1-99 % window, longer side ``size``, PNG or JPEG round trip."""
    lo, hi = np.percentile(pixels, [1, 99])
    g = (np.clip((pixels - lo) / (hi - lo), 0, 1) * 255).astype(np.uint8)
    image = Image.fromarray(g)
    scale = size / max(image.size)
    image = image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **({"quality": quality} if fmt == "JPEG" else {}))
    buffer.seek(0)
    return np.asarray(Image.open(buffer), dtype=np.float32)


def inputs() -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    from pydicom.data import get_testdata_file
    from skimage import color, data

    from dfviewer.io import read_radiograph

    def dicom(name: str) -> np.ndarray:
        return read_radiograph(get_testdata_file(name)).pixels

    rg1 = dicom("RG1_UNCR.dcm")
    chest = {"RG1 CR (DICOM)": rg1, "RG1 lossy JPEG 2000 (DICOM)": dicom("RG1_J2KI.dcm"),
             "RG1 as 8-bit PNG, 1024 px": _png8(rg1), "RG1 as JPEG q85, 1024 px": _png8(rg1, fmt="JPEG")}
    other = {"RG1 inverted": rg1.max() - rg1, "CT_small (CT)": dicom("CT_small.dcm"),
             "693_UNCR (CT)": dicom("693_UNCR.dcm"), "MR_small (MR)": dicom("MR_small.dcm"),
             "MR2_UNCR (MR)": dicom("MR2_UNCR.dcm"), "US1_UNCR (ultrasound)": dicom("US1_UNCR.dcm"),
             "RG3_UNCR (extremity CR)": dicom("RG3_UNCR.dcm"),
             "photo: astronaut": color.rgb2gray(data.astronaut()).astype(np.float32) * 255,
             "photo: camera": data.camera().astype(np.float32)}
    return chest, other


def lungs_and_mediastinum(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
    """Lung mask of the input and the mediastinum between the lungs (columns between, rows of both)."""
    from scipy import ndimage

    from dfviewer.io import lung_mask

    found = lung_mask(pixels)
    lungs = found.mask
    medi = np.zeros_like(lungs)
    if found.found:
        labels, n = ndimage.label(lungs)
        parts = sorted(((labels == k) for k in range(1, n + 1)), key=lambda m: -m.sum())[:2]
        if len(parts) == 2:
            a, b = sorted(parts, key=lambda m: np.nonzero(m.any(axis=0))[0].mean())
            rows = a.any(axis=1) & b.any(axis=1)
            for r in np.nonzero(rows)[0]:
                right_edge = np.nonzero(a[r])[0].max()
                left_edge = np.nonzero(b[r])[0].min()
                if left_edge - right_edge > 2:
                    medi[r, right_edge + 1 : left_edge] = True
    return lungs, medi, bool(found.found and medi.any())


def test_split_sigma(predictor, data: str, mc: int) -> list[float]:
    """Per test image: the median total sigma inside its lung mask (raw inputs)."""
    from dfviewer.core.dataset_check import check_dataset, read_pixels

    values = []
    for i, pair in enumerate(check_dataset(data).split("test")):
        x = read_pixels(pair.attenuation)
        res = predictor.predict(x, mc_samples=mc, seed=i)[-1]
        mask = read_pixels(pair.lung_mask) > 0
        values.append(float(np.median(res.total[mask])))
    return values


def rendered_rg1(predictor, rg1: np.ndarray, n: int, mc: int) -> dict[str, dict[str, float]]:
    """RG1 under ``n`` renderings per family and ``n`` poses: share flagged, ratio and consistency."""
    from dfviewer.imaging.clinical_rendering import render
    from dfviewer.phantom.poses import apply_pose, random_pose

    scale = 1024 / max(rg1.shape)
    base = np.asarray(Image.fromarray(rg1.astype(np.float32)).resize(
        (round(rg1.shape[1] * scale), round(rg1.shape[0] * scale)), Image.Resampling.LANCZOS), dtype=np.float32)
    lungs, medi, _ = lungs_and_mediastinum(base)
    threshold = predictor.domain.threshold if predictor.domain is not None else float("inf")
    reference = predictor.predict(base, mc_samples=mc, seed=0)[-1].mean
    views: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}
    for family in ("png8", "cr12", "clahe_jpeg", "multiscale", "mixture"):
        views[family] = [(render(base, np.random.default_rng([2026, k, len(views)]), family), lungs, medi)
                         for k in range(n)]
    fields, cuts = [], []
    for k in range(n):
        rng = np.random.default_rng([2026, k, 98])
        h, w = base.shape
        ch, cw = int(h * rng.uniform(0.7, 1.0)), int(w * rng.uniform(0.7, 1.0))
        top, left = int((h - ch) * rng.random()), int((w - cw) * rng.random())
        cut = (slice(top, top + ch), slice(left, left + cw))
        fields.append((base[cut].copy(), lungs[cut], medi[cut]))
        cuts.append(cut)
    views["field of view"] = fields
    poses = [random_pose(np.random.default_rng([2026, k, 99]), 8.0, 0.12, 0.05) for k in range(n)]
    views["pose"] = [(apply_pose(base, pose), apply_pose(lungs.astype(np.float32), pose, 0) > 0.5,
                      apply_pose(medi.astype(np.float32), pose, 0) > 0.5) for pose in poses]
    summary = {}
    for family, items in views.items():
        flagged, ratios, rs = 0, [], []
        for k, (image, lung, mid) in enumerate(items):
            score = predictor.domain_score(image)
            flagged += score is not None and score > threshold
            mean = predictor.predict(image, mc_samples=mc, seed=k)[-1].mean
            ratios.append(float(mean[lung].mean() / mean[mid].mean()))
            if family != "pose":
                region = lung | mid
                same = reference[cuts[k]] if family == "field of view" else reference
                rs.append(float(np.corrcoef(mean[region], same[region])[0, 1]))
        summary[family] = {"views": len(items), "flagged": flagged / len(items), "ratio_min": min(ratios),
                           "ratio_median": float(np.median(ratios)),
                           "consistency_r_min": min(rs) if rs else None,
                           "consistency_r_median": float(np.median(rs)) if rs else None}
    return summary


def main() -> int:
    from dfviewer.core.inference import Predictor

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(REPO / "resources" / "models" / "demo.safetensors"))
    parser.add_argument("--test-data", metavar="DIR", help="phantom dataset whose test split gives the sigma range")
    parser.add_argument("--mc", type=int, default=20)
    parser.add_argument("--out", metavar="JSON")
    parser.add_argument("--figure", metavar="PNG")
    parser.add_argument("--renderings", type=int, default=0, metavar="N",
                        help="RG1 through N renderings of each family and N poses")
    args = parser.parse_args()

    predictor = Predictor.from_checkpoint(args.model, device="cpu")
    chest, other = inputs()
    sigma_range = None
    if args.test_data:
        t0 = time.perf_counter()
        values = test_split_sigma(predictor, args.test_data, args.mc)
        sigma_range = [float(np.percentile(values, 5)), float(np.percentile(values, 95))]
        print(f"test split: median total sigma in the lungs, 5-95 %: {sigma_range[0]:.4g} - {sigma_range[1]:.4g} "
              f"({len(values)} images, {time.perf_counter() - t0:.0f} s)")
    threshold = predictor.domain.threshold if predictor.domain is not None else float("nan")
    rows = []
    print(f"\nmodel {Path(args.model).name}; domain threshold {threshold:.4g}; T = {args.mc}\n")
    print("| input | domain score | flagged | lungs / mediastinum (mean dark-field) | median total σ (lungs) |")
    print("|---|---|---|---|---|")
    figure_maps = None
    for group, items in (("chest", chest), ("other", other)):
        for name, pixels in items.items():
            score = predictor.domain_score(pixels)
            flagged = score is not None and score > threshold
            row = {"input": name, "group": group, "shape": list(pixels.shape), "domain_score": score,
                   "flagged": bool(flagged)}
            if group == "chest":
                res = predictor.predict(pixels, mc_samples=args.mc, seed=0)[-1]
                lungs, medi, ok = lungs_and_mediastinum(pixels)
                lung_mean = float(res.mean[lungs].mean())
                medi_mean = float(res.mean[medi].mean()) if ok else float("nan")
                row.update(lungs_mean=lung_mean, mediastinum_mean=medi_mean,
                           ratio=lung_mean / medi_mean if ok and medi_mean > 0 else None,
                           median_total_lungs=float(np.median(res.total[lungs])), lungs_found=ok,
                           sigma_in_test_range=(sigma_range[0] <= float(np.median(res.total[lungs])) <= sigma_range[1])
                           if sigma_range else None)
                if figure_maps is None:
                    figure_maps = (pixels, res.mean, res.total, lungs, medi)
                ratio = "n/a" if row["ratio"] is None else f"{row['ratio']:.2f} ({lung_mean:.3f} / {medi_mean:.3f})"
                sig = f"{row['median_total_lungs']:.4g}"
            else:
                ratio, sig = "", ""
            rows.append(row)
            shown = "n/a" if score is None else f"{score:.3g}"
            print(f"| {name} | {shown} | {'yes' if flagged else 'no'} | {ratio} | {sig} |")
    result = {"model": _repo_relative(args.model), "mc_samples": args.mc, "threshold": threshold,
              "test_split_sigma_5_95": sigma_range, "inputs": rows}
    if args.renderings > 0:
        t0 = time.perf_counter()
        rendered = rendered_rg1(predictor, chest["RG1 CR (DICOM)"], args.renderings, args.mc)
        print(f"\nRG1 (1024 px) rendered, {args.renderings} views per family ({time.perf_counter() - t0:.0f} s):\n")
        print("| family | views | flagged | lungs / mediastinum min / median | consistency r min / median |")
        print("|---|---|---|---|---|")
        for family, f in rendered.items():
            r = "n/a (moved)" if f["consistency_r_min"] is None else \
                f"{f['consistency_r_min']:.3f} / {f['consistency_r_median']:.3f}"
            print(f"| {family} | {f['views']} | {100 * f['flagged']:.0f} % | {f['ratio_min']:.2f} / "
                  f"{f['ratio_median']:.2f} | {r} |")
        result["rg1_renderings"] = rendered
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
        print(f"\nwrote {args.out}")
    if args.figure and figure_maps is not None:
        write_figure(Path(args.figure), *figure_maps)
        print(f"wrote {args.figure}")
    return 0


def write_figure(path: Path, pixels, mean, total, lungs, medi) -> None:
    from scipy.ndimage import binary_erosion

    from dfviewer.imaging.colormaps import colormap_lut

    def grey(a):
        lo, hi = np.percentile(a, [1, 99])
        g = (np.clip((a - lo) / (hi - lo), 0, 1) * 255).astype(np.uint8)
        return np.stack([g] * 3, -1)

    def cmap(a, name):
        lo, hi = np.percentile(a, [1, 99])
        idx = (np.clip((a - lo) / (hi - lo), 0, 1) * 255).astype(np.uint8)
        return colormap_lut(name)[idx][..., :3]

    att = grey(pixels)
    for m, colour in ((lungs, (60, 200, 90)), (medi, (255, 160, 40))):
        edge = m & ~binary_erosion(m, iterations=4)
        att[edge] = colour
    panels = [att, cmap(mean, "gray"), cmap(total, "magma")]
    h = 512
    tiles = [Image.fromarray(p).resize((round(p.shape[1] * h / p.shape[0]), h)) for p in panels]
    canvas = Image.new("RGB", (sum(t.width for t in tiles) + 8 * (len(tiles) - 1), h), "white")
    x = 0
    for t in tiles:
        canvas.paste(t, (x, 0))
        x += t.width + 8
    canvas.save(path)


if __name__ == "__main__":
    sys.exit(main())
