"""How well the lung crop box fits: phantom cases with true lung masks, RG1, timing.

For each phantom case (attenuation alone, as the viewer's C key uses it; optionally through the
clinical rendering chain) it reports the fraction of true lung pixels inside the box ("kept", want
>= 0.99) and the box area over the true lungs' bounding-box area ("area", want about 1.1-1.3, the
whole film being far more). For RG1 (no true mask) it reports the box as fractions of the film and
against the hand-read lung box used in tests/test_io_lungs.py, and can draw the box on a PNG.

    python scripts/lung_crop_check.py --cases 30 --size 256 [--renderings] [--png out.png] [--time]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from dfviewer.io import lung_bbox


def _truth_box(mask: np.ndarray) -> tuple[int, int, int, int]:
    rows, cols = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def box_fit(box: tuple[int, int, int, int], truth: np.ndarray) -> tuple[float, float]:
    """(fraction of true lung pixels inside ``box``, box area / true lung bounding-box area)."""
    r0, r1, c0, c1 = box
    kept = float(truth[r0:r1, c0:c1].sum()) / max(float(truth.sum()), 1.0)
    t0, t1, u0, u1 = _truth_box(truth)
    return kept, (r1 - r0) * (c1 - c0) / float((t1 - t0) * (u1 - u0))


def centre_in(box: tuple[int, int, int, int], truth: np.ndarray) -> bool:
    """Whether the box's centre lies inside the true lungs' bounding box (not in the abdomen or the neck)."""
    r0, r1, c0, c1 = box
    t0, t1, u0, u1 = _truth_box(truth)
    return t0 <= (r0 + r1) / 2 < t1 and u0 <= (c0 + c1) / 2 < u1


def phantom_rows(cases: int, size: int, renderings: bool, seed: int = 0) -> list[tuple[str, bool, float, float, bool]]:
    """(label, found, kept, area, centre in the lungs) per case; with ``renderings`` each case also
    through the five families."""
    from dfviewer import phantom
    from dfviewer.imaging import clinical_rendering as rendering

    cfg = phantom.PhantomConfig().replace(size=size)
    rows = []
    for index in range(cases):
        case = phantom.simulate_case(seed, index, cfg)
        truth = case.masks["lung"].astype(bool)
        images = [("raw", case.attenuation)]
        if renderings:
            rng = np.random.default_rng([seed, index])
            images += [(family, rendering.render(case.attenuation, rng, family))
                       for family in rendering.FAMILIES if family != "raw"]
        for label, image in images:
            box = lung_bbox(image)
            rows.append((f"{index}:{label}", box.found, *box_fit(box.box, truth), centre_in(box.box, truth)))
    return rows


# RG1_UNCR.dcm's lung fields (apices to costophrenic angles, outer edges) read by eye on a 5 % grid
# drawn over the full-resolution film, as fractions (rows, cols); the same numbers as in tests/test_io_lungs.py
RG1_LUNGS = (0.09, 0.79, 0.09, 0.90)


def rg1_report(png: str | None) -> None:
    from pydicom.data import get_testdata_file

    from dfviewer.io import read_radiograph

    path = get_testdata_file("RG1_UNCR.dcm")
    if path is None:
        print("RG1: pydicom-data has no RG1_UNCR.dcm")
        return
    pixels = read_radiograph(path).pixels
    h, w = pixels.shape
    box = lung_bbox(pixels)
    frac = (box.row0 / h, box.row1 / h, box.col0 / w, box.col1 / w)
    area = (frac[1] - frac[0]) * (frac[3] - frac[2])
    ref = RG1_LUNGS
    ref_area = (ref[1] - ref[0]) * (ref[3] - ref[2])
    print(f"RG1 {h}x{w}: found={box.found} box rows {frac[0]:.3f}-{frac[1]:.3f} cols {frac[2]:.3f}-{frac[3]:.3f}; "
          f"film fraction {area:.2f}; area / hand-read lung box {area / ref_area:.2f}")
    if png:
        _draw(pixels, [box.box, tuple(int(round(v * s)) for v, s in zip(ref, (h, h, w, w)))], png)


def _draw(pixels: np.ndarray, boxes, path: str) -> None:
    from PIL import Image, ImageDraw

    lo, hi = np.percentile(pixels, [1, 99])
    grey = (np.clip((pixels - lo) / (hi - lo), 0, 1) * 255).astype(np.uint8)
    image = Image.fromarray(grey).convert("RGB")
    draw = ImageDraw.Draw(image)
    width = max(2, pixels.shape[1] // 300)
    for (r0, r1, c0, c1), colour in zip(boxes, ("red", "lime")):
        draw.rectangle([c0, r0, c1 - 1, r1 - 1], outline=colour, width=width)
    image.thumbnail((900, 900))
    image.save(path)
    print(f"wrote {path} (red: the crop box, green: the hand-read lung box)")


def timing(size: int = 1024, repeats: int = 5) -> None:
    from dfviewer import phantom

    case = phantom.simulate_case(0, 0, phantom.PhantomConfig().replace(size=256))
    image = np.kron(case.attenuation, np.ones((size // 256, size // 256), np.float32))
    lung_bbox(image)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        lung_bbox(image)
        times.append(time.perf_counter() - start)
    print(f"lung_bbox at {image.shape[0]}x{image.shape[1]}: median {1000 * float(np.median(times)):.0f} ms "
          f"over {repeats} runs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=30)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--renderings", action="store_true", help="also each case through the rendering families")
    parser.add_argument("--png", help="draw RG1's box on this PNG")
    parser.add_argument("--time", action="store_true", help="time lung_bbox at 1024x1024")
    parser.add_argument("--verbose", action="store_true", help="one line per case")
    args = parser.parse_args()
    rows = phantom_rows(args.cases, args.size, args.renderings)
    if args.verbose:
        for label, found, kept, area, _ in rows:
            print(f"{label:>16} found={found!s:5} kept={kept:.3f} area={area:.2f}")
    labels = sorted({r[0].split(":")[1] for r in rows}, key=lambda s: (s != "raw", s))
    for family in labels:
        sub = [r for r in rows if r[0].endswith(":" + family)]
        kept = np.array([r[2] for r in sub])
        area = np.array([r[3] for r in sub])
        found = sum(r[1] for r in sub)
        print(f"phantom {family:>10} ({len(sub)} cases, found {found}): kept min {kept.min():.3f} "
              f"mean {kept.mean():.3f} (worst {sub[int(np.argmin(kept))][0].split(':')[0]}), cases < 0.99: "
              f"{(kept < 0.99).sum()}; area median {np.median(area):.2f} range {area.min():.2f}-{area.max():.2f}; "
              f"box centre outside the lungs: {sum(not r[4] for r in sub)}")
    rg1_report(args.png)
    if args.time:
        timing()


if __name__ == "__main__":
    main()
