"""A randomised 3-D chest made of analytic shapes, projected to path-length maps.

Outputs line integrals along the anterior-posterior ray of every pixel: soft-tissue attenuation
(body, upper arms, breasts, air in trachea, bronchi, lungs, stomach and bowel), bone attenuation
(spine, ribs with faint costal cartilage, clavicles, scapulae, humeri) and the aerated-lung path
length that carries the dark-field (hilar vessel bundles and peripheral vessels removed).
Organs of tissue density (heart, mediastinum, abdomen under the diaphragm) show because they
displace lung: each lung is its tapered superquadric minus the union of heart, mediastinum,
aortic knob and diaphragm dome along every ray.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dfviewer.phantom.config import PhantomConfig
from dfviewer.phantom.ray_geometry import (
    Canvas,
    Interval,
    TubeSet,
    capsule_chord,
    ellipsoid,
    intersect,
    length,
    minus_union,
    segment_chord,
    superquadric,
)


@dataclass
class LungSide:
    """One lung: its outer shape, the organs cut out of it, and where pathology may sit."""

    outer: Interval
    cut: list[Interval]
    center: tuple[float, float, float]
    axes: tuple[float, float, float]
    apex_y: float
    base_y: float


@dataclass
class Anatomy:
    a_soft: np.ndarray  # integral of mu over soft tissue, lung and air (1)
    a_bone: np.ndarray  # extra integral of mu from bone over the tissue it replaces (1)
    lung_len: np.ndarray  # aerated lung path length, mm (vessels already removed)
    vessel_len: np.ndarray  # vessel path inside lung, mm
    body_len: np.ndarray  # body path length, mm
    lungs: list[LungSide] = field(default_factory=list)
    params: dict = field(default_factory=dict)


def _u(rng, lo, hi):
    return float(rng.uniform(lo, hi))


def _bone(canvas: Canvas, cfg: PhantomConfig, outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """Bone with a cortical shell: chord through the whole bone and through its marrow core."""
    d_cort = cfg.mu_cortical - cfg.mu_tissue
    d_trab = cfg.mu_trabecular - cfg.mu_tissue
    return d_cort * outer - (d_cort - d_trab) * inner


def build_anatomy(rng: np.random.Generator, canvas: Canvas, cfg: PhantomConfig) -> Anatomy:
    """Draw one patient's anatomy and project it onto ``canvas``."""
    x, y = canvas.x, canvas.y
    mt, ml = cfg.mu_tissue, cfg.mu_lung
    s = float(np.clip(rng.normal(1.0, 0.06), 0.86, 1.14))  # patient size
    width = 150 * s * _u(rng, 0.93, 1.07)  # chest half-width
    depth = 105 * s * _u(rng, 0.88, 1.12)  # chest half-depth
    y_sh = 150 * s + _u(rng, -10, 10)  # shoulder line
    insp = _u(rng, 0.9, 1.08)  # inspiration depth
    params = dict(size=s, width=width, depth=depth, shoulder_y=y_sh, inspiration=insp)

    # body outline: neck above the shoulders, shoulders slightly wider than the chest
    neck_w, neck_d = 55 * s, 60 * s
    rise = 1.0 / (1.0 + np.exp(-(y_sh - y) / 9.0))
    bulge = 1.0 + 0.09 * np.exp(-(((y - (y_sh - 35)) / 45.0) ** 2)) - 0.05 * np.clip((-120 - y) / 100, 0, 1)
    half_w = neck_w + (width * bulge - neck_w) * rise
    half_d = neck_d + (depth - neck_d) * rise
    p_body = 2.4
    rest = 1.0 - np.abs(x / half_w) ** p_body
    half = half_d * np.power(np.clip(rest, 0, None), 1.0 / p_body)
    body: Interval = (-half, np.where(rest > 0, half, -1.0))
    body_len = length(body)
    # upper arms hanging beside the chest (abducted a little), from the shoulder down and out
    arms = rng.random() < 0.75
    abduct = _u(rng, 0, 7)
    arm_r = 46 * s * _u(rng, 0.85, 1.15)
    arm_top = {}
    if arms:
        for side in (-1, 1):
            top = (side * (width * 0.96 + arm_r * 0.25), y_sh - 22 * s, -8 * s)
            dx = np.sin(np.deg2rad(abduct)) * 260 * s
            bottom = (top[0] + side * dx, top[1] - 260 * s, top[2])
            arm_top[side] = (top, bottom)
            body_len = np.maximum(body_len, segment_chord(canvas, top, bottom, arm_r))
    params["arms"] = bool(arms)
    a_soft = mt * body_len
    a_bone = np.zeros_like(a_soft)

    # breasts (anterior soft tissue outside the body outline)
    if rng.random() < 0.4:
        by = -60 * s + _u(rng, -20, 10)
        for side in (-1, 1):
            br = ellipsoid(x, y, (side * 75 * s, by, depth * 0.85), (72 * s, 60 * s, 45 * s * _u(rng, 0.7, 1.2)))
            a_soft += 0.016 * (length(br) - length(intersect(br, body)))
        params["breasts"] = True

    # lungs: tapered superquadrics, the left one smaller
    apex = y_sh + _u(rng, 0, 15)
    base = apex - 235 * s * insp
    lung_z = -12 * s
    sides = []
    dome_gap = _u(rng, 12, 25)  # right dome higher
    heart_c = (28 * s + _u(rng, -6, 8), base + 92 * s * _u(rng, 0.95, 1.05), 14 * s)
    heart_ax = (66 * s * _u(rng, 0.92, 1.12), 54 * s * _u(rng, 0.92, 1.08), 68 * s)
    heart_angle = np.deg2rad(_u(rng, -34, -20))
    heart = ellipsoid(x, y, heart_c, heart_ax, heart_angle)
    heart_top = heart_c[1] + heart_ax[1] * 0.9
    med_c = (4 * s, heart_top + 70 * s, 0.0)
    mediastinum = superquadric(x, y, med_c, (32 * s, 115 * s, 50 * s), p=3.0)  # great vessels, SVC, oesophagus
    knob_c = (30 * s, max(heart_top + 22 * s, apex - 75 * s), 4 * s)
    knob = ellipsoid(x, y, knob_c, (17 * s, 16 * s, 20 * s))
    for side in (-1, 1):
        half_x = width * (0.40 if side < 0 else 0.37) * _u(rng, 0.95, 1.05)
        cx = side * (width * 0.47 + _u(rng, -5, 5))
        cy = (apex + base) / 2
        by = (apex - base) / 2
        outer = superquadric(x, y, (cx, cy, lung_z), (half_x, by, depth * 0.78), p=2.7, q=2.0, taper=0.55)
        dome_top = base + (58 if side < 0 else 58 - dome_gap) * s * _u(rng, 0.9, 1.1)
        dome_ax = half_x * 1.3
        depth_ratio = 1.0 - np.sqrt(1.0 - (1 / 1.3) ** 2)
        dome_b = (dome_top - base) / depth_ratio * 0.93
        dome_c = (cx - side * 12 * s, dome_top - dome_b, 18 * s)
        dome = ellipsoid(x, y, dome_c, (dome_ax, dome_b, depth * 1.05))
        cut = [dome, heart, mediastinum, knob]
        sides.append(LungSide(outer, cut, (cx, cy, lung_z), (half_x, by, depth * 0.78), apex, base))
        params[f"dome_top_{'right' if side < 0 else 'left'}"] = dome_top
    lung_len = np.zeros_like(a_soft)
    for lung in sides:
        lung_len += minus_union(intersect(lung.outer, body), lung.cut)
    params.update(heart_center=heart_c, heart_axes=heart_ax, heart_angle=heart_angle)

    # stomach gas bubble under the left dome
    if rng.random() < 0.8:
        top = params["dome_top_left"]
        bub = ellipsoid(x, y, (sides[1].center[0] + 10 * s, top - 38 * s, 10 * s),
                        (32 * s * _u(rng, 0.7, 1.2), 18 * s, 25 * s))
        a_soft -= mt * length(bub)

    # bowel gas below the domes: colonic flexures under each dome and a few small-bowel loops
    low = min(params["dome_top_left"], params["dome_top_right"])
    for _ in range(int(rng.integers(1, 6))):
        bx = _u(rng, -0.75, 0.75) * width
        bc = (bx, low - _u(rng, 55, 170) * s, _u(rng, -0.3, 0.5) * depth)
        bax = (_u(rng, 8, 24) * s, _u(rng, 6, 16) * s, _u(rng, 8, 20) * s)
        win = canvas.window(bc[0], bc[1], max(bax[:2]) + 2)
        if win is not None:
            a_soft[win] -= mt * 0.8 * length(ellipsoid(x[win], y[win], bc, bax, _u(rng, -1, 1))) * (body_len[win] > 0)

    # airways: trachea to the carina, main bronchi to the hila (right steeper and shorter)
    carina = (-2 * s, apex - 88 * s, -10 * s)
    hila = {-1: (-48 * s, carina[1] - 30 * s), 1: (50 * s, carina[1] - 22 * s)}
    air = capsule_chord(canvas, (-3 * s, 260.0, -15 * s), carina, 9 * s)
    air = np.maximum(air, capsule_chord(canvas, carina, (-38 * s, carina[1] - 24 * s, -12 * s), 7 * s))
    air = np.maximum(air, capsule_chord(canvas, carina, (42 * s, carina[1] - 36 * s, -12 * s), 6.5 * s))
    a_soft -= mt * air * (body_len > 0)

    # vessel trees from the hila, thinning towards the periphery, confined to the lungs
    lung_2d = lung_len > 8.0
    vessels = TubeSet.empty()
    for side in (-1, 1):
        hx, hy = hila[side]
        _grow_tree(rng, vessels, canvas, lung_2d, (hx, hy), side, s, (12, 45, 80, 115, 148, 172))
        _grow_tree(rng, vessels, canvas, lung_2d, (hx + side * 8 * s, hy - 25 * s), side, s, (60, 100, 135, 160))
    vchord = vessels.chord(canvas, k=3)
    # hila: the pulmonary arteries and veins bunch at the lung roots into dense, lobulated shadows
    for side in (-1, 1):
        hx, hy = hila[side]
        for _ in range(3):
            c = (hx - side * _u(rng, 0, 10) * s, hy + _u(rng, -30, 20) * s, lung_z)
            ax = (_u(rng, 6, 10) * s, _u(rng, 18, 30) * s, _u(rng, 10, 16) * s)
            win = canvas.window(c[0], c[1], max(ax[:2]) + 2)
            if win is not None:
                vchord[win] += 0.45 * length(ellipsoid(x[win], y[win], c, ax, side * _u(rng, 0.1, 0.5)))
    vessel_len = np.minimum(vchord, 0.6 * lung_len)
    a_soft += (mt - ml) * vessel_len
    aerated = lung_len - vessel_len
    a_soft += (ml - mt) * lung_len  # lung replaces tissue (vessels added back above)

    # spine: vertebral bodies with discs, pedicles, spinous processes
    pitch0 = 21 * s
    y_t1 = y_sh + 8 * s
    spine_z = -depth * 0.62
    yk, level = y_t1 + 3 * pitch0, -3
    while yk > -260:
        pitch = pitch0 * (1 + 0.025 * max(level, 0))
        hw = (12 + 0.55 * (level + 3)) * s
        hh = 0.39 * pitch  # discs take about a fifth of each level
        c = (float(rng.normal(0, 0.8)), yk, spine_z)
        win = canvas.window(c[0], yk, hw * 2.2)
        if win is not None:
            xs, ys = x[win], y[win]
            ax = (hw, hh, hw * 0.85)
            outer_len = length(superquadric(xs, ys, c, ax, p=3.2))
            inner_len = length(superquadric(xs, ys, c, (hw * 0.9, hh * 0.9, hw * 0.77), p=3.2))
            # mostly trabecular bodies with a thin cortex, seen through the dense mediastinum: faint on a real PA film
            a_bone[win] += 0.5 * _bone(canvas, cfg, outer_len, inner_len)
            if level >= 0:
                for sx in (-1, 1):
                    pc = (sx * hw * 0.78, yk + 0.15 * pitch, spine_z - hw * 0.6)
                    po = length(ellipsoid(xs, ys, pc, (4.5 * s, 6.5 * s, 10 * s)))
                    pi = length(ellipsoid(xs, ys, pc, (2.6 * s, 4.2 * s, 8 * s)))
                    a_bone[win] += 0.6 * _bone(canvas, cfg, po, pi)
                sp = length(ellipsoid(xs, ys, (0, yk - 0.3 * pitch, spine_z - hw * 1.6), (3 * s, 7 * s, 10 * s)))
                a_bone[win] += (cfg.mu_cortical - mt) * 0.35 * sp
        yk -= pitch
        level += 1

    # ribs: 12 pairs round an elliptic thorax. Posterior arcs leave the spine near-horizontally with a
    # slight upward bow and turn down at the lateral wall; anterior arcs slope down towards the midline
    # and end 3-4 levels lower at the costochondral junction. Costal cartilage (nearly tissue density)
    # carries ribs 1-10 on to the sternum / costal margin; 11-12 float. The rib spacing is tied to the
    # right dome so that about ten posterior ribs lie over the lung fields.
    rib_pitch = float(np.clip((y_t1 - params["dome_top_right"]) / 9.6, 15 * s, 25 * s))
    posterior, anterior, cartilage = TubeSet.empty(), TubeSet.empty(), TubeSet.empty()
    step = min(canvas.spacing / canvas.zoom / 2, 1.2)
    calcified = _u(rng, 0.05, 0.3)  # costal cartilage calcification (older patients: denser)
    for k in range(1, 13):
        yr = y_t1 - 4 * s - (k - 1) * rib_pitch
        grow = min(1.0, 0.45 + 0.17 * (k - 1)) - 0.04 * max(k - 8, 0)
        rx = width * 0.91 * grow  # inner rib margin at the lateral lung edge
        rz = depth * (0.5 + 0.4 * grow)
        t_bone = 0.8 if k <= 7 else (0.72 if k <= 10 else 0.58 - 0.1 * (k - 11))
        theta0 = np.arcsin(min(0.95, 22 * s / rx))
        theta_st = np.pi - np.arcsin(min(0.95, 16 * s / rx))  # sternal edge
        t_end = min(1.0, (theta_st - theta0) / (np.pi - theta0)) if k <= 7 else (0.86 if k <= 10 else t_bone)
        rise = max(16.0 - 1.1 * k, 3.0) * s
        drop = (80 + 4 * min(k, 8)) * s * _u(rng, 0.9, 1.1)
        oblique = 9 * s * max(k - 6, 0)
        radius = (4.0 + 0.3 * min(k, 6)) * s
        for side in (-1, 1):
            t = np.linspace(0.0, t_end, 48)
            theta = theta0 + t * (np.pi - theta0)
            px = side * rx * np.sin(theta)
            pz = -depth * 0.2 - rz * np.cos(theta)
            py = yr + rise * np.sin(np.pi * np.clip(t / 0.55, 0, 1)) - drop * t**2 - oblique * t
            pts = np.stack([px, py, pz], axis=1)
            split = int(np.searchsorted(t, 0.5))
            bone_end = int(np.searchsorted(t, t_bone))
            posterior.add_curve(pts[: split + 1], radius, step)
            if bone_end > split:
                # anterior rib: thinner, tapering towards its cartilage
                taper = np.linspace(0.95, 0.75, bone_end + 1 - split) * radius
                anterior.add_curve(pts[split: bone_end + 1], taper, step)
            if len(pts) - bone_end > 2:
                cartilage.add_curve(pts[bone_end:], radius * 0.8, step)
    for tubes, weight in ((posterior, 1.0), (anterior, 0.8)):
        a_bone += weight * _bone(canvas, cfg, *tubes.chords(canvas, (1.0, 0.6), k=1))
    a_bone += (cfg.mu_cortical - mt) * calcified * 0.35 * cartilage.chord(canvas, k=1)

    # clavicles: from the sternoclavicular joint (over the first anterior rib, next to the spine) out and
    # up to the acromion above the humeral head; S-curve, thick medial head, flattened lateral end
    clav = TubeSet.empty()
    clav_lift = _u(rng, 28, 44) * s  # how far the lateral end rides above the medial one
    for side in (-1, 1):
        t = np.linspace(0, 1, 30)
        px = side * (16 * s + t * (width * 0.97 - 16 * s))
        py = y_sh - 48 * s + clav_lift * t**1.5 + 5 * s * np.sin(2 * np.pi * t)
        pz = depth * (0.9 - 0.95 * t)
        rad = (7.5 - 2.5 * np.sin(np.pi * t) + 1.0 * t) * s
        clav.add_curve(np.stack([px, py, pz], axis=1), rad, min(canvas.spacing / 2, 1.2))
    a_bone += _bone(canvas, cfg, *clav.chords(canvas, (1.0, 0.55), k=1))

    # scapulae (thin plates with a thick lateral border) and humeral heads
    for side in (-1, 1):
        ang = side * np.deg2rad(_u(rng, 8, 18))
        sc = (side * width * 0.78, y_sh - 75 * s, -depth * 0.8)
        plate = length(superquadric(x, y, sc, (38 * s, 72 * s, 4 * s), angle=ang, p=2.2))
        a_bone += (cfg.mu_cortical - mt) * 0.8 * plate
        border = capsule_chord(canvas, (sc[0] + side * 34 * s, sc[1] + 55 * s, sc[2]),
                               (sc[0] + side * 10 * s, sc[1] - 65 * s, sc[2]), 5 * s)
        a_bone += (cfg.mu_cortical - mt) * 0.6 * border
        hc = (side * (width * 1.0 + 6 * s), y_sh - 16 * s, -5 * s)
        win = canvas.window(hc[0], hc[1], 30 * s)
        if win is not None:
            ho = length(ellipsoid(x[win], y[win], hc, (24 * s,) * 3))
            hi = length(ellipsoid(x[win], y[win], hc, (21 * s,) * 3))
            a_bone[win] += _bone(canvas, cfg, ho, hi) * (body_len[win] > 0)

    # humeral shafts down the upper arms
    for side, (top, bottom) in arm_top.items():
        shaft = (top[0] + side * 4 * s, top[1] + 4 * s, top[2])
        a_bone += 0.7 * _bone(canvas, cfg, segment_chord(canvas, shaft, bottom, 11 * s),
                              segment_chord(canvas, shaft, bottom, 8 * s))
    params["hila"] = hila
    a_bone *= body_len > 0  # bones never poke out of the skin
    lung_aerated = np.clip(aerated, 0.0, None)
    return Anatomy(a_soft.astype(np.float32), a_bone.astype(np.float32), lung_aerated.astype(np.float32),
                   vessel_len.astype(np.float32), body_len.astype(np.float32), sides, params)


def _rotate(d: np.ndarray, angle: np.ndarray) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.stack([c * d[:, 0] - s * d[:, 1], s * d[:, 0] + c * d[:, 1]], axis=1)


def _grow_tree(rng, tubes: TubeSet, canvas: Canvas, lung_2d: np.ndarray, hilum, side: int, s: float,
               fan: tuple[float, ...], max_branches: int = 160) -> None:
    """Branch pulmonary vessels from a hilum, one generation at a time (vectorised).

    Trunks fan out from the hilum; every generation wanders a little, stops at the pleura (where the
    projected lung ends), then splits in two thinner, shorter children.
    """
    h, w = lung_2d.shape

    def inside(p: np.ndarray) -> np.ndarray:
        row, col = canvas.to_pixel(p[:, 0], p[:, 1])
        r, c = np.rint(row).astype(np.int64), np.rint(col).astype(np.int64)
        ok = (r >= 0) & (r < h) & (c >= 0) & (c < w)
        ok[ok] = lung_2d[r[ok], c[ok]]
        return ok

    n0 = len(fan)
    ang = np.deg2rad(np.asarray(fan, dtype=float) + rng.normal(0, 8, n0))  # from straight up, towards lateral
    direction = np.stack([side * np.sin(ang), np.cos(ang)], axis=1)
    pos = np.tile(np.asarray(hilum, dtype=float), (n0, 1))
    radius = 6.0 * s * rng.uniform(0.85, 1.1, n0)
    seg_len = np.full(n0, 40.0 * s)
    starts, ends, radii = [], [], []
    for depth in range(9):
        if len(pos) == 0:
            break
        alive = np.ones(len(pos), bool)
        for _ in range(6):
            direction = _rotate(direction, rng.normal(0, 0.12, len(pos)))
            new = pos + direction * (seg_len / 6)[:, None]
            if depth > 0:
                alive &= inside(new)
            starts.append(pos[alive])
            ends.append(new[alive])
            radii.append(radius[alive])
            pos = np.where(alive[:, None], new, pos)
        keep = alive & (radius * 0.78 >= 0.5)
        pos, direction, radius, seg_len = pos[keep], direction[keep], radius[keep], seg_len[keep]
        n = len(pos)
        spread = np.deg2rad(rng.uniform(18, 38, (n, 2))) * np.array([-1.0, 1.0])
        direction = _rotate(np.repeat(direction, 2, axis=0), spread.ravel())
        pos = np.repeat(pos, 2, axis=0)
        radius = np.repeat(radius, 2) * rng.uniform(0.75, 0.86, 2 * n)
        seg_len = np.repeat(seg_len, 2) * rng.uniform(0.68, 0.82, 2 * n)
        if len(pos) > max_branches:
            pick = np.sort(rng.choice(len(pos), max_branches, replace=False))
            pos, direction, radius, seg_len = pos[pick], direction[pick], radius[pick], seg_len[pick]
    if starts:
        a, b = np.concatenate(starts), np.concatenate(ends)
        samples = int(np.clip(np.ceil(np.linalg.norm(b - a, axis=1).max() / max(canvas.spacing, 0.8)), 2, 8))
        tubes.add_polylines(a, b, np.concatenate(radii) * 1.1, samples=samples)
