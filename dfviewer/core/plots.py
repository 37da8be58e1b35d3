"""Small PNG line plots drawn with Pillow (the core must not import Qt or matplotlib)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from dfviewer.atomic import atomic_path

COLORS = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75)]


def _nice(lo: float, hi: float) -> tuple[float, float]:
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return 0.0, 1.0
    if hi - lo < 1e-12:
        pad = abs(hi) * 0.1 or 1.0
        return lo - pad, hi + pad
    pad = (hi - lo) * 0.05
    return lo - pad, hi + pad


def line_plot(
    path: str | Path,
    series: Sequence[tuple[str, Sequence[float], Sequence[float], bool]],
    title: str,
    xlabel: str,
    ylabel: str,
    xlim: tuple[float, float] | None = None,
    ylim: tuple[float, float] | None = None,
    size: tuple[int, int] = (640, 440),
) -> Path:
    """Draw ``series`` of (label, xs, ys, dashed[, colour index; -1 black]) into a PNG at ``path`` (written atomically)."""
    w, h = size
    left, right, top, bottom = 70, 20, 40, 60
    img = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default()
    xs_all = [x for s in series for x, y in zip(s[1], s[2]) if y is not None and math.isfinite(y)]
    ys_all = [y for s in series for y in s[2] if y is not None and math.isfinite(y)]
    x0, x1 = xlim or _nice(min(xs_all, default=0.0), max(xs_all, default=1.0))
    y0, y1 = ylim or _nice(min(ys_all, default=0.0), max(ys_all, default=1.0))

    def px(x: float, y: float) -> tuple[float, float]:
        return (left + (x - x0) / (x1 - x0) * (w - left - right), top + (y1 - y) / (y1 - y0) * (h - top - bottom))

    draw.rectangle([left, top, w - right, h - bottom], outline="black")
    for i in range(6):
        fx = x0 + (x1 - x0) * i / 5
        fy = y0 + (y1 - y0) * i / 5
        X, _ = px(fx, y0)
        _, Y = px(x0, fy)
        draw.line([X, h - bottom, X, h - bottom + 4], fill="black")
        draw.text((X - 12, h - bottom + 6), f"{fx:.3g}", fill="black", font=font)
        draw.line([left - 4, Y, left, Y], fill="black")
        draw.text((4, Y - 6), f"{fy:.3g}", fill="black", font=font)
        draw.line([left, Y, w - right, Y], fill=(230, 230, 230))
    draw.text((left, 12), title, fill="black", font=font)
    draw.text(((w - len(xlabel) * 6) / 2, h - 22), xlabel, fill="black", font=font)
    draw.text((4, top - 16), ylabel, fill="black", font=font)
    for i, entry in enumerate(series):
        label, xs, ys, dashed = entry[:4]
        color = (0, 0, 0) if len(entry) > 4 and entry[4] < 0 else COLORS[(entry[4] if len(entry) > 4 else i) % len(COLORS)]
        pts = [px(x, y) for x, y in zip(xs, ys) if y is not None and math.isfinite(y)]
        for j, (a, b) in enumerate(zip(pts, pts[1:])):
            if not dashed or j % 2 == 0:
                draw.line([a, b], fill=color, width=2)
        for p in pts:
            draw.ellipse([p[0] - 2, p[1] - 2, p[0] + 2, p[1] + 2], fill=color)
        ly = top + 8 + 14 * i
        draw.line([w - right - 150, ly + 5, w - right - 130, ly + 5], fill=color, width=2)
        draw.text((w - right - 125, ly), label, fill="black", font=font)
    path = Path(path)
    with atomic_path(path) as tmp:
        img.save(tmp, format="PNG")
    return path
