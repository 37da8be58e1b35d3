"""Draw docs/phantom_pairs.png: simulated pairs (attenuation | dark-field | masks), Pillow only.

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="docs/phantom_pairs.png")
    parser.add_argument("--size", type=int, default=288)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    s = args.size
    font = ImageFont.load_default(size=max(12, s // 20))
    pad, head = 6, max(20, s // 11)
    canvas = Image.new("RGB", (3 * s + 4 * pad, len(ROWS) * (s + head) + pad + 2 * head), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    for c, title in enumerate(("attenuation  -ln T", "dark-field  -ln(V/V0)", "masks")):
        draw.text((pad + c * (s + pad) + 4, 4), title, fill=(0, 0, 0), font=font)
    for r, (label, changes, ood) in enumerate(ROWS):
        case = simulate_case(args.seed, r, PhantomConfig(size=s, **changes), ood=ood)
        body, lung = case.masks["body"], case.masks["lung"]
        lo, hi = np.percentile(case.attenuation[lung], 0.5), np.percentile(case.attenuation[body], 99.7)
        att = gray(case.attenuation, lo, hi)
        dark = gray(case.darkfield, 0.0, float(np.percentile(case.darkfield_clean[lung], 99.5)) * 1.1)
        panels = [att, dark, overlay(att, case.masks)]
        y0 = head + r * (s + head)
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
