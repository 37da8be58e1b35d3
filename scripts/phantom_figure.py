"""Draw docs/phantom_pairs.png: simulated pairs (attenuation | dark-field | masks), Pillow only.

The top row sets a real chest CR (pydicom's RG1_UNCR test image, when pydicom-data is installed) beside a
healthy phantom case, both windowed on their 1st-99th body percentiles, for a like-for-like look.

Usage: python scripts/phantom_figure.py [--out docs/phantom_pairs.png] [--size 320] [--seed 0]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from dfviewer.phantom import PhantomConfig, simulate_case

ROWS = [
    ("healthy", dict(healthy_fraction=1.0), False),
    ("emphysema", dict(healthy_fraction=0.0, emphysema_probability=1.0, consolidation_probability=0.0), False),
    ("consolidation", dict(healthy_fraction=0.0, emphysema_probability=0.0, consolidation_probability=1.0), False),
    ("pacemaker + ECG (OOD)", dict(healthy_fraction=1.0, pacemaker_probability=1.0, ecg_probability=1.0,
                                   marker_probability=1.0, ood_dose_probability=0.0, ood_rotation_probability=0.0,
                                   ood_scale_probability=0.0), True),
]
COLOURS = {"lung": (60, 200, 90), "emphysema": (255, 200, 0), "consolidation": (255, 60, 60), "device": (40, 170, 255)}


def gray(image: np.ndarray, lo: float, hi: float) -> np.ndarray:
    g = (np.clip((image - lo) / (hi - lo), 0, 1) * 255).astype(np.uint8)
    return np.stack([g] * 3, axis=-1)


def overlay(base: np.ndarray, masks: dict[str, np.ndarray]) -> np.ndarray:
    out = base.astype(np.float32) * 0.75
    from scipy.ndimage import binary_erosion

    lung = masks["lung"]
    edge = lung & ~binary_erosion(lung, iterations=1)
    out[edge] = COLOURS["lung"]
    for name in ("emphysema", "consolidation", "device"):
        m = masks[name]
        out[m] = 0.45 * out[m] + 0.55 * np.array(COLOURS[name])
    return out.astype(np.uint8)


def real_cr(size: int) -> np.ndarray | None:
    """pydicom's RG1 chest CR, inverted to bone-bright (it is MONOCHROME1), fitted into a size x size tile."""
    try:
        from pydicom import dcmread
        from pydicom.data import get_testdata_file

        path = get_testdata_file("RG1_UNCR.dcm")
        if path is None:
            return None
        ds = dcmread(path)
        img = ds.pixel_array.astype(np.float32)
    except Exception:  # pydicom or its test data missing: draw the figure without the real image
        return None
    if str(getattr(ds, "PhotometricInterpretation", "")).upper() == "MONOCHROME1":
        img = img.max() - img
    tile = Image.fromarray(gray(img, *np.percentile(img, (1, 99))))
    tile.thumbnail((size, size), Image.Resampling.LANCZOS)
    out = Image.new("RGB", (size, size), (0, 0, 0))
    out.paste(tile, ((size - tile.width) // 2, (size - tile.height) // 2))
    return np.asarray(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="docs/phantom_pairs.png")
    parser.add_argument("--size", type=int, default=288)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    s = args.size
    font = ImageFont.load_default(size=max(12, s // 20))
    pad, head = 6, max(20, s // 11)
    real = real_cr(s)
    top = 0 if real is None else s + 2 * head  # the comparison row with its own titles
    canvas = Image.new("RGB", (3 * s + 4 * pad, top + len(ROWS) * (s + head) + pad + 2 * head), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    if real is not None:
        case = simulate_case(args.seed, len(ROWS), PhantomConfig(size=s, healthy_fraction=1.0), ood=False)
        body = case.masks["body"]
        lung = case.masks["lung"]
        att = gray(case.attenuation, *np.percentile(case.attenuation[body], (1, 99)))
        dark = gray(case.darkfield, 0.0, float(np.percentile(case.darkfield_clean[lung], 99.5)) * 1.1)
        titles = ("real chest CR (RG1)", "phantom attenuation", "phantom dark-field")
        for c, (title, panel) in enumerate(zip(titles, (real, att, dark))):
            draw.text((pad + c * (s + pad) + 4, 4), title, fill=(0, 0, 0), font=font)
            canvas.paste(Image.fromarray(panel), (pad + c * (s + pad), head))
        draw.text((pad + 4, head + s + 2), "windows: 1st-99th percentile (phantom: of the body)", fill=(80, 80, 80),
                  font=font)
    for c, title in enumerate(("attenuation  -ln T", "dark-field  -ln(V/V0)", "masks")):
        draw.text((pad + c * (s + pad) + 4, top + 4), title, fill=(0, 0, 0), font=font)
    for r, (label, changes, ood) in enumerate(ROWS):
        case = simulate_case(args.seed, r, PhantomConfig(size=s, **changes), ood=ood)
        body, lung = case.masks["body"], case.masks["lung"]
        lo, hi = np.percentile(case.attenuation[lung], 0.5), np.percentile(case.attenuation[body], 99.7)
        att = gray(case.attenuation, lo, hi)
        dark = gray(case.darkfield, 0.0, float(np.percentile(case.darkfield_clean[lung], 99.5)) * 1.1)
        panels = [att, dark, overlay(att, case.masks)]
        y0 = top + head + r * (s + head)
        for c, panel in enumerate(panels):
            canvas.paste(Image.fromarray(panel), (pad + c * (s + pad), y0 + head - 4))
        draw.text((pad + 4, y0 + 2), label, fill=(0, 0, 0), font=font)
    x, y = pad + 4, canvas.height - head + 4
    draw.text((x, y), "masks:", fill=(0, 0, 0), font=font)
    x += int(draw.textlength("masks: ", font=font))
    for name, colour in COLOURS.items():
        label = "lung outline" if name == "lung" else name
        draw.rectangle((x, y + 4, x + 12, y + 16), fill=colour)
        draw.text((x + 16, y), label, fill=(0, 0, 0), font=font)
        x += 16 + int(draw.textlength(label, font=font)) + 14
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    canvas.quantize(colors=256, dither=Image.Dither.NONE).save(args.out, optimize=True)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
