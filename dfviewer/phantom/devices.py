"""Foreign objects that make a case out of distribution: pacemaker with leads, ECG electrodes and
cables, and a metal side marker. Metal attenuates strongly and also lowers the visibility
(beam hardening, edge scatter), so devices show in both images.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from dfviewer.phantom.anatomy import Anatomy
from dfviewer.phantom.ray_geometry import Canvas, TubeSet, ellipsoid, length, superquadric


@dataclass
class Devices:
    a_dev: np.ndarray
    names: list[str] = field(default_factory=list)


def _curve(control, n=80):
    """Smooth curve through control points (Catmull-Rom), 3-D."""
    c = np.asarray(control, dtype=float)
    c = np.vstack([c[0], c, c[-1]])
    out = []
    for i in range(1, len(c) - 2):
        p0, p1, p2, p3 = c[i - 1], c[i], c[i + 1], c[i + 2]
        t = np.linspace(0, 1, n // (len(c) - 3), endpoint=False)[:, None]
        out.append(0.5 * ((2 * p1) + (-p0 + p2) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t**2
                          + (-p0 + 3 * p1 - 3 * p2 + p3) * t**3))
    out.append(c[-2][None])
    return np.vstack(out)


def build_devices(rng: np.random.Generator, canvas: Canvas, anatomy: Anatomy, kinds: list[str]) -> Devices:
    """Render the requested device kinds (``pacemaker``, ``ecg``, ``marker``) as extra attenuation."""
    x, y = canvas.x, canvas.y
    a_dev = np.zeros(canvas.shape, np.float32)
    p = anatomy.params
    s, width, y_sh = p["size"], p["width"], p["shoulder_y"]
    step = min(canvas.spacing / canvas.zoom / 2, 0.8)
    if "pacemaker" in kinds:
        side = 1 if rng.random() < 0.8 else -1
        can_c = (side * width * rng.uniform(0.45, 0.6), y_sh - 45 * s + rng.uniform(-10, 10), p["depth"] * 0.8)
        ang = rng.uniform(-0.5, 0.5)
        shell = length(superquadric(x, y, can_c, (24, 21, 4.0), angle=ang, p=3.5))
        core = length(superquadric(x, y, (can_c[0], can_c[1] - 4, can_c[2]), (17, 12, 3.0), angle=ang, p=4.0))
        a_dev += 0.12 * shell + 0.25 * core
        header = (can_c[0] - side * 4, can_c[1] + 20, can_c[2])
        a_dev += 0.08 * length(ellipsoid(x, y, header, (11, 6, 3)))
        hc, hax = p["heart_center"], p["heart_axes"]
        leads = TubeSet.empty()
        ends = [(hc[0] - 0.15 * hax[0], hc[1] + 0.7 * hax[1], 20.0),  # right atrial appendage
                (hc[0] + 0.55 * hax[0], hc[1] - 0.55 * hax[1], 10.0)]  # right ventricular apex
        for i, end in enumerate(ends[: int(rng.integers(1, 3))]):
            loop = rng.uniform(-15, 15)
            ctrl = [header, (header[0] - side * 25, header[1] + 12 + loop, 40),
                    (side * 25, y_sh - 35 * s, 20), (-18 * s, hc[1] + hax[1] * 1.3, 0),
                    (-22 * s + 5 * i, hc[1] + 0.3 * hax[1], 5), end]
            leads.add_curve(_curve(ctrl, 120), 1.1, step)
        a_dev += 0.35 * leads.chord(canvas, k=1)
    if "ecg" in kinds:
        cables = TubeSet.empty()
        spots = [(-width * 0.75, y_sh - 25 * s), (width * 0.75, y_sh - 25 * s), (-width * 0.6, -110 * s),
                 (width * 0.65, -110 * s), (width * 0.25, -40 * s)]
        n = int(rng.integers(3, 6))
        for i in rng.permutation(len(spots))[:n]:
            ex, ey = spots[i][0] + rng.uniform(-15, 15), spots[i][1] + rng.uniform(-15, 15)
            ez = p["depth"]
            a_dev += 0.01 * length(ellipsoid(x, y, (ex, ey, ez), (13, 13, 1.0)))  # foam pad
            a_dev += 0.25 * length(superquadric(x, y, (ex, ey, ez), (3.5, 3.5, 1.5), p=4))  # metal snap
            # cable: wanders off to the nearest side of the image
            out = np.sign(ex) * 260 + rng.uniform(-30, 30)
            ctrl = [(ex, ey, ez), (ex + (out - ex) * 0.3, ey + rng.uniform(-40, 40), ez + 10),
                    (ex + (out - ex) * 0.7, ey + rng.uniform(-60, 60), ez + 20), (out, ey + rng.uniform(-80, 80), ez)]
            cables.add_curve(_curve(ctrl, 90), 1.3, step)
        a_dev += 0.15 * cables.chord(canvas, k=1)
    if "marker" in kinds:
        letter = "L" if rng.random() < 0.5 else "R"
        glyph = Image.new("L", (24, 24), 0)
        try:
            font = ImageFont.load_default(size=22)
        except TypeError:  # Pillow < 10.1: fixed bitmap font
            font = ImageFont.load_default()
        ImageDraw.Draw(glyph).text((12, 12), letter, fill=255, font=font, anchor="mm")
        mask = np.asarray(glyph) > 100
        size_mm = 22.0
        mx = (1 if letter == "L" else -1) * rng.uniform(150, 175)
        my = rng.uniform(150, 180)
        rows, cols = np.nonzero(mask)
        if len(rows):
            cell = size_mm / mask.shape[0]
            gx = ((x - mx) / cell + mask.shape[1] / 2).astype(np.int64)
            gy = ((my - y) / cell + mask.shape[0] / 2).astype(np.int64)
            inside = (gx >= 0) & (gx < mask.shape[1]) & (gy >= 0) & (gy < mask.shape[0])
            hit = np.zeros(canvas.shape, bool)
            hit[inside] = mask[gy[inside], gx[inside]]
            a_dev += 2.5 * hit
            frame = length(superquadric(x, y, (mx, my, 0), (size_mm * 0.55, size_mm * 0.65, 2.0), p=6))
            a_dev += 0.02 * frame
    return Devices(a_dev, [k for k in ("pacemaker", "ecg", "marker") if k in kinds])
