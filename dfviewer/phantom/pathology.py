"""Lung pathology as 3-D patches inside the lungs: emphysema and consolidation.

Emphysema destroys alveolar walls: fewer air-tissue interfaces, so the diffusion coefficient drops
(30-80 % per patch, mostly in the upper lobes) while the density drops only a little, so the
attenuation image barely changes. Consolidation fills alveoli with fluid: more attenuation, almost
no dark-field in the filled part.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dfviewer.phantom.anatomy import Anatomy, LungSide
from dfviewer.phantom.config import PhantomConfig
from dfviewer.phantom.ray_geometry import Canvas, ellipsoid, intersect, minus_union, smooth_noise


@dataclass
class Pathology:
    eps_loss: np.ndarray  # mm of healthy-equivalent lung path that no longer scatters
    a_delta: np.ndarray  # change of the attenuation line integral
    masks: dict[str, np.ndarray] = field(default_factory=dict)
    attributes: dict = field(default_factory=dict)


def _patch_chord(canvas: Canvas, side: LungSide, center, axes, angle) -> tuple[tuple[slice, slice] | None, np.ndarray]:
    win = canvas.window(center[0], center[1], max(axes[:2]) * 1.05)
    if win is None:
        return None, np.zeros(0)
    xs, ys = canvas.x[win], canvas.y[win]
    patch = ellipsoid(xs, ys, center, axes, angle)
    outer = (side.outer[0][win], side.outer[1][win])
    cut = [(c[0][win], c[1][win]) for c in side.cut]
    return win, minus_union(intersect(outer, patch), cut)


def _place(rng, side: LungSide, upper_bias: float, scale: float):
    cx, cy, cz = side.center
    ax, ay, az = side.axes
    height = side.apex_y - side.base_y
    if rng.random() < upper_bias:
        py = side.apex_y - height * rng.uniform(0.12, 0.5)
    else:
        py = side.apex_y - height * rng.uniform(0.2, 0.85)
    px = cx + ax * rng.uniform(-0.55, 0.55)
    pz = cz + az * rng.uniform(-0.4, 0.4)
    r = scale * rng.uniform(0.6, 1.0)
    axes = (r * rng.uniform(0.8, 1.25), r * rng.uniform(0.8, 1.25), r * rng.uniform(0.8, 1.3))
    return (px, py, pz), axes, rng.uniform(0, np.pi)


def build_pathology(rng: np.random.Generator, canvas: Canvas, anatomy: Anatomy, cfg: PhantomConfig,
                    emphysema: bool, consolidation: bool) -> Pathology:
    """Place patches; returns the dark-field loss, attenuation change, masks and a summary."""
    shape = canvas.shape
    eps_loss = np.zeros(shape, np.float32)
    a_delta = np.zeros(shape, np.float32)
    emph_loss = np.zeros(shape, np.float32)
    cons_len = np.zeros(shape, np.float32)
    s = anatomy.params["size"]
    lumpy = np.clip(1.0 + 0.35 * smooth_noise(rng, shape, 6.0 / canvas.spacing), 0.3, 1.7)
    attributes: dict = {}
    if emphysema:
        n = int(rng.integers(2, 7))
        severities = []
        for _ in range(n):
            side = anatomy.lungs[int(rng.integers(0, 2))]
            center, axes, angle = _place(rng, side, 0.8, 45 * s)
            win, chord = _patch_chord(canvas, side, center, axes, angle)
            if win is None:
                continue
            f = rng.uniform(0.3, 0.8)
            severities.append(f)
            emph_loss[win] += f * chord * lumpy[win]
        if rng.random() < 0.3:  # diffuse component, upper-zone weighted
            top = max(sd.apex_y for sd in anatomy.lungs)
            bottom = min(sd.base_y for sd in anatomy.lungs)
            w = np.clip((canvas.y - bottom) / (top - bottom), 0, 1)
            emph_loss += anatomy.lung_len * rng.uniform(0.1, 0.25) * w
            attributes["emphysema_diffuse"] = True
        emph_loss = np.minimum(emph_loss, 0.85 * anatomy.lung_len)
        eps_loss += emph_loss
        a_delta -= cfg.mu_lung * 0.35 * emph_loss  # slightly lower density
        attributes["emphysema_severity"] = float(np.mean(severities)) if severities else 0.0
    if consolidation:
        n = int(rng.integers(1, 3))
        for _ in range(n):
            side = anatomy.lungs[int(rng.integers(0, 2))]
            center, axes, angle = _place(rng, side, 0.15, 50 * s)
            win, chord = _patch_chord(canvas, side, center, axes, angle)
            if win is not None:
                cons_len[win] += chord * np.clip(lumpy[win], 0.5, 1.2)
        cons_len = np.minimum(cons_len, anatomy.lung_len - eps_loss * 0.0)
        cons_len = np.minimum(cons_len, anatomy.lung_len)
        a_delta += (cfg.mu_tissue - cfg.mu_lung) * 0.85 * cons_len
        eps_loss = np.minimum(eps_loss + 0.9 * cons_len, anatomy.lung_len)
    lung_ok = anatomy.lung_len > 5.0
    masks = {
        "emphysema": (emph_loss > 0.12 * anatomy.lung_len) & lung_ok,
        "consolidation": (cons_len > 0.15 * anatomy.lung_len) & (cons_len > 4.0),
    }
    return Pathology(eps_loss, a_delta, masks, attributes)
