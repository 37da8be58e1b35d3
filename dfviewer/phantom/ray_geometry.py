"""Closed-form ray geometry for parallel-beam projection along z (anterior-posterior).

Every detector pixel is a ray parallel to z through the patient point (x, y). A convex shape cuts
that ray in one interval ``[lo, hi]`` (empty where ``hi <= lo``); chord lengths, intersections and
set differences of shapes then follow from interval arithmetic, without voxels. Units are mm,
y points to the head, x to the patient's left (image right), z to the front.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

Interval = tuple[np.ndarray, np.ndarray]


@dataclass
class Canvas:
    """The pixel grid expressed in patient coordinates (after zoom, rotation and shift)."""

    x: np.ndarray
    y: np.ndarray
    spacing: float  # detector pixel spacing, mm
    zoom: float  # detector mm per patient mm
    angle: float  # rad, patient rotation in the image plane
    shift: tuple[float, float]  # detector mm

    @classmethod
    def build(cls, size: int, spacing: float, zoom: float = 1.0, angle: float = 0.0,
              shift: tuple[float, float] = (0.0, 0.0)) -> Canvas:
        axis = (np.arange(size, dtype=np.float32) + 0.5 - size / 2) * spacing
        u, v = np.meshgrid(axis, -axis)  # v: up is positive, row 0 on top
        u = u - shift[0]
        v = v - shift[1]
        c, s = np.cos(angle), np.sin(angle)
        x = (c * u + s * v) / zoom
        y = (-s * u + c * v) / zoom
        return cls(x.astype(np.float32), y.astype(np.float32), spacing, zoom, angle, shift)

    @property
    def shape(self) -> tuple[int, int]:
        return self.x.shape

    def to_pixel(self, px: float | np.ndarray, py: float | np.ndarray) -> tuple[float | np.ndarray, float | np.ndarray]:
        """(row, col) of a patient point, or of arrays of points."""
        c, s = np.cos(self.angle), np.sin(self.angle)
        u = self.zoom * (c * px - s * py) + self.shift[0]
        v = self.zoom * (s * px + c * py) + self.shift[1]
        size = self.shape[0]
        return size / 2 - v / self.spacing - 0.5, u / self.spacing + size / 2 - 0.5

    def window(self, cx: float, cy: float, radius: float) -> tuple[slice, slice] | None:
        """Pixel slices covering a disc of ``radius`` mm around a patient point, or None if off-image."""
        row, col = self.to_pixel(cx, cy)
        r = radius * self.zoom / self.spacing + 2
        h, w = self.shape
        r0, r1 = max(int(row - r), 0), min(int(row + r) + 2, h)
        c0, c1 = max(int(col - r), 0), min(int(col + r) + 2, w)
        if r0 >= r1 or c0 >= c1:
            return None
        return slice(r0, r1), slice(c0, c1)


def _local(x, y, cx, cy, a, b, angle):
    c, s = np.cos(angle), np.sin(angle)
    dx, dy = x - cx, y - cy
    return (c * dx + s * dy) / a, (-s * dx + c * dy) / b


def superquadric(x, y, center, axes, angle=0.0, p=2.0, q=2.0, taper=0.0) -> Interval:
    """Ray interval through ``|u|^p + |v|^p + |w|^q <= 1`` (in-plane rotation ``angle``).

    ``taper`` narrows the x half-axis towards +v (``a * (1 - taper * max(v, 0)^2)``), giving apex-like tops.
    ``p = q = 2`` is an ellipsoid.
    """
    cx, cy, cz = center
    a, b, c = axes
    u, v = _local(x, y, cx, cy, a, b, angle)
    if taper:
        u = u / np.maximum(1.0 - taper * np.maximum(v, 0.0) ** 2, 1e-3)
    rest = 1.0 - np.abs(u) ** p - np.abs(v) ** p
    half = c * np.power(np.clip(rest, 0.0, None), 1.0 / q)
    half = np.where(rest > 0, half, -1.0)
    return cz - half, cz + half


def ellipsoid(x, y, center, axes, angle=0.0) -> Interval:
    """Ray interval through an ellipsoid rotated in the image plane."""
    return superquadric(x, y, center, axes, angle)


def length(iv: Interval) -> np.ndarray:
    """Chord length of an interval (0 where empty)."""
    return np.clip(iv[1] - iv[0], 0.0, None)


def intersect(*ivs: Interval) -> Interval:
    """Intersection of intervals."""
    lo = ivs[0][0]
    hi = ivs[0][1]
    for other in ivs[1:]:
        lo = np.maximum(lo, other[0])
        hi = np.minimum(hi, other[1])
    return lo, hi


def minus_union(base: Interval, cut: list[Interval]) -> np.ndarray:
    """Length of ``base`` minus the union of the ``cut`` intervals (exact, sort and sweep)."""
    total = length(base)
    if not cut:
        return total
    lo = np.stack([np.clip(c[0], base[0], base[1]) for c in cut])
    hi = np.stack([np.clip(c[1], base[0], base[1]) for c in cut])
    hi = np.maximum(hi, lo)
    order = np.argsort(lo, axis=0)
    lo = np.take_along_axis(lo, order, axis=0)
    hi = np.take_along_axis(hi, order, axis=0)
    covered = np.zeros_like(total)
    reach = lo[0]
    for k in range(len(cut)):
        start = np.maximum(lo[k], reach)
        covered += np.clip(hi[k] - start, 0.0, None)
        reach = np.maximum(reach, hi[k])
    return np.clip(total - covered, 0.0, None)


def sample_curve(points: np.ndarray, step: float) -> tuple[np.ndarray, np.ndarray]:
    """Resample a 3-D polyline every ``step`` mm; returns (points, unit tangents)."""
    points = np.asarray(points, dtype=np.float64)
    seg = np.diff(points, axis=0)
    seg_len = np.linalg.norm(seg, axis=1)
    arc = np.concatenate([[0.0], np.cumsum(seg_len)])
    n = max(int(arc[-1] / step) + 2, 2)
    s = np.linspace(0.0, arc[-1], n)
    out = np.stack([np.interp(s, arc, points[:, k]) for k in range(points.shape[1])], axis=1)
    tangent = np.gradient(out, axis=0)
    tangent /= np.maximum(np.linalg.norm(tangent, axis=1, keepdims=True), 1e-9)
    return out, tangent


class TubeSet:
    """Many tubes given as densely sampled centre points with a radius and z-tilt each."""

    def __init__(self) -> None:
        self._parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    @classmethod
    def empty(cls) -> TubeSet:
        return cls()

    def _arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if not self._parts:
            return np.zeros((0, 2)), np.zeros(0), np.zeros(0)
        return tuple(np.concatenate(k) for k in zip(*self._parts))  # type: ignore[return-value]

    def add_curve(self, points3d: np.ndarray, radius, step: float, max_stretch: float = 4.0) -> None:
        """Append a 3-D centre line (radius scalar or per input point, interpolated)."""
        pts, tan = sample_curve(points3d, step)
        rad = np.broadcast_to(np.asarray(radius, dtype=np.float64), (len(points3d),))
        if rad.min() == rad.max():
            rad = np.full(len(pts), float(rad[0]))
        else:
            rad = np.interp(np.linspace(0, 1, len(pts)), np.linspace(0, 1, len(points3d)), rad)
        tz = tan[:, 2] if tan.shape[1] > 2 else np.zeros(len(pts))
        stretch = np.minimum(1.0 / np.sqrt(np.clip(1.0 - tz**2, 1e-6, None)), max_stretch)
        self._parts.append((pts[:, :2], rad, stretch))

    def add_polylines(self, starts: np.ndarray, ends: np.ndarray, radius: np.ndarray, samples: int = 8) -> None:
        """Append many straight 2-D pieces at once (no z-tilt), ``samples`` points each."""
        t = np.linspace(0.0, 1.0, samples)[None, :, None]
        pts = (starts[:, None, :] * (1 - t) + ends[:, None, :] * t).reshape(-1, 2)
        rad = np.repeat(np.asarray(radius, dtype=np.float64), samples)
        self._parts.append((pts, rad, np.ones(len(pts))))

    def chord(self, canvas: Canvas, inner: float = 0.0, k: int = 3) -> np.ndarray:
        """Chord length through the tubes at every pixel (the thickest of the ``k`` nearest centre points).

        ``inner`` > 0 gives the chord through a concentric core of ``inner * radius`` instead.
        """
        return self.chords(canvas, (inner or 1.0,), k)[0]

    def chords(self, canvas: Canvas, scales: tuple[float, ...], k: int = 3) -> list[np.ndarray]:
        """Chords through the tubes with their radii scaled by each of ``scales`` (one neighbour search)."""
        outs = [np.zeros(canvas.shape, dtype=np.float32) for _ in scales]
        xy, radius, stretch = self._arrays()
        if len(xy) == 0:
            return outs
        rmax = float(radius.max()) * max(scales)
        lo = xy.min(axis=0) - rmax
        hi = xy.max(axis=0) + rmax
        sel = (canvas.x >= lo[0]) & (canvas.x <= hi[0]) & (canvas.y >= lo[1]) & (canvas.y <= hi[1])
        if not sel.any():
            return outs
        query = np.stack([canvas.x[sel], canvas.y[sel]], axis=1)
        tree = cKDTree(xy)
        k = min(k, len(xy))
        dist, idx = tree.query(query, k=k, distance_upper_bound=rmax)
        if k == 1:
            dist, idx = dist[:, None], idx[:, None]
        valid = idx < len(xy)
        idx = np.where(valid, idx, 0)
        d2 = np.where(valid, dist, np.inf) ** 2
        for out, scale in zip(outs, scales):
            r = radius[idx] * scale
            chord = 2.0 * np.sqrt(np.clip(r**2 - d2, 0.0, None)) * stretch[idx]
            out[sel] = chord.max(axis=1)
        return outs


def capsule_chord(canvas: Canvas, a, b, radius: float) -> np.ndarray:
    """Chord through a straight tube from 3-D point ``a`` to ``b`` (round ends ignored)."""
    tubes = TubeSet.empty()
    tubes.add_curve(np.array([a, b], dtype=np.float64), radius, step=min(radius / 2, canvas.spacing / 2))
    return tubes.chord(canvas, k=1)


def smooth_noise(rng: np.random.Generator, shape: tuple[int, int], sigma_px: float) -> np.ndarray:
    """Zero-mean, unit-variance Gaussian random field with correlation length ``sigma_px``."""
    from scipy.ndimage import gaussian_filter, zoom

    h, w = shape
    factor = max(1, int(sigma_px // 2))
    small = rng.standard_normal((h // factor + 2, w // factor + 2)).astype(np.float32)
    field = gaussian_filter(small, sigma_px / factor, mode="wrap")
    if factor > 1:
        field = zoom(field, factor, order=1)
    field = field[:h, :w]
    field -= field.mean()
    return field / max(float(field.std()), 1e-6)


def segment_chord(canvas: Canvas, a, b, radius: float) -> np.ndarray:
    """Chord through a straight tube lying in the image plane (``a`` to ``b``, z ignored), in closed form.

    The ray through a pixel at distance ``d`` from the axis cuts ``2 * sqrt(r^2 - d^2)``; past the ends the
    distance is taken to the nearer end point, so the tube has round caps. Much cheaper than a
    :class:`TubeSet` for long, thick tubes.
    """
    ax, ay = float(a[0]), float(a[1])
    dx, dy = float(b[0]) - ax, float(b[1]) - ay
    seg2 = max(dx * dx + dy * dy, 1e-12)
    px, py = canvas.x - ax, canvas.y - ay
    t = np.clip((px * dx + py * dy) / seg2, 0.0, 1.0)
    d2 = (px - t * dx) ** 2 + (py - t * dy) ** 2
    return (2.0 * np.sqrt(np.clip(radius * radius - d2, 0.0, None))).astype(np.float32)
