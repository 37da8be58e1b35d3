"""Draw docs/renderings.png: one phantom case raw and through random clinical renderings, next to a
real chest CR (pydicom's RG1_UNCR.dcm), Pillow only.

Every panel is displayed with its own 1-99 percentile window (what a viewer's auto-window shows);
the label names the rendering steps.

Usage: python scripts/renderings_figure.py [--out docs/renderings.png] [--size 256] [--renderings 8]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from dfviewer.imaging.clinical_rendering import render, render_description
from dfviewer.phantom import PhantomConfig, simulate_case

LABEL_H = 28
COLS = 5


def to_gray(image: np.ndarray, size: int) -> Image.Image:
    """A percentile-windowed (1-99) 8-bit panel of ``size`` x ``size`` (aspect kept, padded black)."""
    lo, hi = np.percentile(image, (1, 99))
    g = (np.clip((image - lo) / max(hi - lo, 1e-6), 0, 1) * 255).astype(np.uint8)
    im = Image.fromarray(g, mode="L")
    scale = size / max(im.size)
    im = im.resize((max(1, round(im.width * scale)), max(1, round(im.height * scale))), Image.BILINEAR)
    panel = Image.new("L", (size, size), 0)
    panel.paste(im, ((size - im.width) // 2, (size - im.height) // 2))
    return panel


def wrap(text: str, width: int) -> list[str]:
    """Split a ``a>b>c`` label into at most two lines of about ``width`` characters."""
    if len(text) <= width:
        return [text]
    cut = text.rfind(">", 0, width)
    cut = cut if cut > 0 else width
    return [text[:cut], text[cut:][: width]]


def real_cr() -> np.ndarray | None:
    try:
        from pydicom.data import get_testdata_file

        from dfviewer.io import read_radiograph

        path = get_testdata_file("RG1_UNCR.dcm")
        return None if path is None else read_radiograph(path).pixels
    except Exception as exc:  # the figure is still useful without the real image
        print(f"RG1_UNCR.dcm unavailable: {exc}")
        return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="docs/renderings.png")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--renderings", type=int, default=8)
    args = ap.parse_args()

    case = simulate_case(0, 0, PhantomConfig(size=args.size))
    image = case.attenuation.astype(np.float32)
    panels: list[tuple[Image.Image, str]] = [(to_gray(image, args.size), "raw -ln T (phantom)")]
    for seed in range(args.renderings):
        out, steps = render(image, np.random.default_rng(seed), return_steps=True)
        panels.append((to_gray(out, args.size), f"seed {seed}: {render_description(steps)}"))
    cr = real_cr()
    if cr is not None:
        panels.append((to_gray(cr, args.size), "real CR: RG1_UNCR (1-99 %)"))

    rows = -(-len(panels) // COLS)
    pad = 6
    cell_w, cell_h = args.size + pad, args.size + LABEL_H + pad
    sheet = Image.new("RGB", (COLS * cell_w + pad, rows * cell_h + pad), "white")
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    chars = max(10, args.size // 6)
    for k, (panel, label) in enumerate(panels):
        x, y = pad + (k % COLS) * cell_w, pad + (k // COLS) * cell_h
        for j, line in enumerate(wrap(label, chars)):
            draw.text((x, y + 2 + 12 * j), line, fill="black", font=font)
        sheet.paste(panel.convert("RGB"), (x, y + LABEL_H))
    out_path = Path(args.out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out_path)
    print(f"wrote {out_path} ({sheet.width}x{sheet.height})")


if __name__ == "__main__":
    main()
