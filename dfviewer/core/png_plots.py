"""Small PNG line plots drawn with Pillow (the core must not import Qt or matplotlib)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
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

#: (label, xs, ys, dashed[, colour index; -1 black])
Series = tuple[str, Sequence[float], Sequence[float], bool] | tuple[str, Sequence[float], Sequence[float], bool, int]


def line_plot(
    path: str | Path,
    series: Sequence[Series],
    title: str,
    xlabel: str,
    ylabel: str,
    xlim: tuple[float, float] | None = None,
    ylim: tuple[float, float] | None = None,
    size: tuple[int, int] = (640, 440),
    xticks: Sequence[float] | None = None,
) -> Path:
    """Draw ``series`` of (label, xs, ys, dashed[, colour index; -1 black]) into a PNG at ``path`` (written atomically).

    ``xticks``: where to label the x axis (default: six evenly spaced values).
    """
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
    for fx in xticks if xticks is not None else [x0 + (x1 - x0) * i / 5 for i in range(6)]:
        X, _ = px(fx, y0)
        draw.line([X, h - bottom, X, h - bottom + 4], fill="black")
        draw.text((X - 12, h - bottom + 6), f"{fx:.3g}", fill="black", font=font)
    for i in range(6):
        fy = y0 + (y1 - y0) * i / 5
        _, Y = px(x0, fy)
        draw.line([left - 4, Y, left, Y], fill="black")
        draw.text((4, Y - 6), f"{fy:.3g}", fill="black", font=font)
        draw.line([left, Y, w - right, Y], fill=(230, 230, 230))
    draw.text((left, 12), title, fill="black", font=font)
    draw.text(((w - len(xlabel) * 6) / 2, h - 22), xlabel, fill="black", font=font)
    draw.text((4, top - 16), ylabel, fill="black", font=font)
    legend, drawn = [], []
    for i, entry in enumerate(series):
        label, xs, ys, dashed = entry[:4]
        color = (0, 0, 0) if len(entry) > 4 and entry[4] < 0 else COLORS[(entry[4] if len(entry) > 4 else i) % len(COLORS)]
        pts = [px(x, y) for x, y in zip(xs, ys) if y is not None and math.isfinite(y)]
        path_pts = _along(pts)
        if dashed:  # 6 px on, 6 px off, continued across the data points
            for j in range(0, len(path_pts) - 1, 3):
                if j % 6 == 0:
                    draw.line([path_pts[j], path_pts[min(j + 3, len(path_pts) - 1)]], fill=color, width=2)
        else:
            for a, b in zip(pts, pts[1:]):
                draw.line([a, b], fill=color, width=2)
        for p in pts:
            draw.ellipse([p[0] - 2, p[1] - 2, p[0] + 2, p[1] + 2], fill=color)
        drawn += path_pts
        legend.append((label, color, dashed))
    _draw_legend(draw, font, legend, drawn, (left, top, w - right, h - bottom))
    path = Path(path)
    with atomic_path(path) as tmp:
        img.save(tmp, format="PNG")
    return path


def _along(pts: Sequence[tuple[float, float]], step: float = 2.0) -> list[tuple[float, float]]:
    """Points every ``step`` pixels along a polyline (for dashes, and what a legend must not hide)."""
    out = list(pts[:1])
    for (ax, ay), (bx, by) in zip(pts, pts[1:]):
        n = max(1, int(math.hypot(bx - ax, by - ay) / step))
        out += [(ax + (bx - ax) * k / n, ay + (by - ay) * k / n) for k in range(1, n + 1)]
    return out


def _draw_legend(draw, font, entries, drawn, area) -> None:
    """A boxed legend in the corner of the plot area that covers the fewest drawn points."""
    if not entries:
        return
    left, t, r, b = area
    bw = 40 + 6 * max(len(label) for label, _, _ in entries)
    bh = 8 + 14 * len(entries)
    # Every place on a 10-pixel grid inside the plot: the one hiding the fewest drawn points,
    # and among those the one nearest the top-right corner.
    xs = np.arange(left + 6, max(left + 7, r - bw - 5), 10.0)
    ys = np.arange(t + 6, max(t + 7, b - bh - 5), 10.0)
    gx, gy = (g.ravel() for g in np.meshgrid(xs, ys))
    pts = np.asarray(drawn, dtype=float).reshape(-1, 2)
    inside = ((pts[None, :, 0] >= gx[:, None]) & (pts[None, :, 0] <= gx[:, None] + bw)
              & (pts[None, :, 1] >= gy[:, None]) & (pts[None, :, 1] <= gy[:, None] + bh))
    score = inside.sum(axis=1) * 1e6 + np.hypot(r - bw - 6 - gx, gy - t - 6)
    best = int(np.argmin(score))
    x, y = float(gx[best]), float(gy[best])
    draw.rectangle([x, y, x + bw, y + bh], fill="white", outline=(160, 160, 160))
    for i, (label, color, dashed) in enumerate(entries):
        ly = y + 4 + 14 * i + 5
        if dashed:
            for sx in (x + 6, x + 16):
                draw.line([sx, ly, sx + 6, ly], fill=color, width=2)
        else:
            draw.line([x + 6, ly, x + 26, ly], fill=color, width=2)
        draw.text((x + 32, ly - 5), label, fill="black", font=font)
