"""One simulated case: anatomy + pathology + devices -> ideal line integrals -> detector."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dfviewer.phantom.anatomy import build_anatomy
from dfviewer.phantom.config import PhantomConfig
from dfviewer.phantom.detector import acquire
from dfviewer.phantom.devices import build_devices
from dfviewer.phantom.pathology import build_pathology
from dfviewer.phantom.ray_geometry import Canvas, smooth_noise


@dataclass
class PhantomCase:
    """A simulated attenuation / dark-field pair (float32, H x W) with masks and attributes.

    ``attenuation`` is ``-ln T`` (larger = more attenuation), ``darkfield`` is ``-ln(V / V0)``; both
    measured with noise. ``*_clean`` are the ideal line integrals before blur, noise and stripes.
    """

    attenuation: np.ndarray
    darkfield: np.ndarray
    attenuation_clean: np.ndarray
    darkfield_clean: np.ndarray
    masks: dict[str, np.ndarray] = field(default_factory=dict)
    attributes: dict = field(default_factory=dict)


def _case_rngs(seed: int, index: int, redraw: int | None = None) -> list[np.random.Generator]:
    """Streams for flags, anatomy, pathology, texture, devices and noise; ``redraw`` replaces the
    pathology, texture and noise streams with fresh ones (the same patient, re-measured)."""
    children = np.random.SeedSequence([int(seed), int(index)]).spawn(6)
    rngs = [np.random.default_rng(c) for c in children]
    if redraw is not None:
        fresh = np.random.SeedSequence([int(seed), int(index), 0xD4A, int(redraw)]).spawn(3)
        rngs[2], rngs[3], rngs[5] = (np.random.default_rng(c) for c in fresh)
    return rngs


def simulate_case(seed: int, index: int, config: PhantomConfig | None = None, *,
                  ood: bool | None = None, redraw: int | None = None) -> PhantomCase:
    """Simulate case ``index`` of the stream ``seed``; identical inputs give identical outputs.

    ``ood`` forces the case in or out of distribution (default: drawn with ``config.ood_probability``).
    Separate random streams drive case flags, anatomy, pathology, texture, devices and noise, so e.g.
    ``config.replace(pathology=False)`` gives the same patient without disease. ``redraw=k``
    keeps the case flags, anatomy and devices but draws the pathology placement, alveolar
    texture and detector noise afresh (draw ``k``): what an attenuation image cannot pin down.
    """
    cfg = config or PhantomConfig()
    r_flags, r_anat, r_path, r_tex, r_dev, r_noise = _case_rngs(seed, index, redraw)

    # case flags (always drawn in the same order so the streams stay aligned)
    healthy = r_flags.random() < cfg.healthy_fraction
    emph = r_flags.random() < cfg.emphysema_probability
    cons = r_flags.random() < cfg.consolidation_probability
    if not (emph or cons):
        emph = True
    drawn_ood = r_flags.random() < cfg.ood_probability
    ood = drawn_ood if ood is None else bool(ood)
    u_dev = r_flags.random(3)
    u_ood = r_flags.random(3)
    rot = float(np.clip(r_flags.normal(0, cfg.rotation_deg / 2), -cfg.rotation_deg, cfg.rotation_deg))
    rot_ood = float(r_flags.choice([-1, 1]) * r_flags.uniform(9, 15))
    shift_x, shift_y = r_flags.uniform(-cfg.position_mm, cfg.position_mm, 2)
    shift = (float(shift_x), float(shift_y))
    zoom = float(r_flags.uniform(0.97, 1.03))
    zoom_ood = float(r_flags.choice([r_flags.uniform(0.72, 0.82), r_flags.uniform(1.18, 1.3)]))
    dose_ood = float(r_flags.choice([r_flags.uniform(0.1, 0.25), r_flags.uniform(4.0, 8.0)]))
    if healthy or not cfg.pathology:
        emph = cons = False

    devices: list[str] = []
    dose, unusual = cfg.dose, []
    if ood:
        probs = (cfg.pacemaker_probability, cfg.ecg_probability, cfg.marker_probability)
        devices = [name for name, u, pr in zip(("pacemaker", "ecg", "marker"), u_dev, probs) if u < pr]
        if not devices:
            devices = [("pacemaker", "ecg", "marker")[int(np.argmin(u_dev / np.maximum(probs, 1e-9)))]]
        if u_ood[0] < cfg.ood_dose_probability:
            dose *= dose_ood
            unusual.append("dose")
        if u_ood[1] < cfg.ood_rotation_probability:
            rot = rot_ood
            unusual.append("rotation")
        if u_ood[2] < cfg.ood_scale_probability:
            zoom = zoom_ood
            unusual.append("scale")

    canvas = Canvas.build(cfg.size, cfg.spacing_mm, zoom=zoom, angle=np.deg2rad(rot), shift=shift)
    anatomy = build_anatomy(r_anat, canvas, cfg)
    pathology = build_pathology(r_path, canvas, anatomy, cfg, emph, cons)
    dev = build_devices(r_dev, canvas, anatomy, devices)

    # dark-field: alveolar texture on the healthy diffusion coefficient
    sp = canvas.spacing / canvas.zoom
    texture = 0.6 * smooth_noise(r_tex, canvas.shape, 3.0 / sp) + 0.8 * smooth_noise(r_tex, canvas.shape, 12.0 / sp)
    eps = cfg.epsilon_lung * np.clip(1.0 + cfg.texture_strength * texture, 0.3, None)
    scatter_len = np.clip(anatomy.lung_len - pathology.eps_loss, 0.0, None)
    d_lung = eps * scatter_len
    a_soft = anatomy.a_soft + pathology.a_delta
    d_hard = cfg.beam_hardening_tissue * np.clip(a_soft, 0, None) + cfg.beam_hardening_bone * anatomy.a_bone
    gy, gx = np.gradient(dev.a_dev)
    d_dev = 0.12 * dev.a_dev + 0.25 * np.hypot(gx, gy)
    att_clean = (a_soft + anatomy.a_bone + dev.a_dev).astype(np.float32)
    dark_clean = (d_lung + d_hard + d_dev).astype(np.float32)
    att, dark = acquire(r_noise, att_clean, dark_clean, cfg, dose)

    masks = {
        "lung": anatomy.lung_len > 12.0,
        "emphysema": pathology.masks["emphysema"],
        "consolidation": pathology.masks["consolidation"],
        "device": dev.a_dev > 0.05,
        "body": anatomy.body_len > 0,
    }
    lung_px = max(int(masks["lung"].sum()), 1)
    attributes = {
        "seed": int(seed),
        "index": int(index),
        "healthy": not (emph or cons),
        "emphysema": bool(emph),
        "consolidation": bool(cons),
        "devices": "+".join(dev.names),
        "ood": bool(ood),
        "ood_kinds": "+".join(dev.names + unusual),
        "dose": float(dose),
        "rotation_deg": rot,
        "zoom": zoom,
        "patient_size": anatomy.params["size"],
        "inspiration": anatomy.params["inspiration"],
        "breasts": bool(anatomy.params.get("breasts", False)),
        "emphysema_area": float((masks["emphysema"] & masks["lung"]).sum() / lung_px),
        "consolidation_area": float((masks["consolidation"] & masks["lung"]).sum() / lung_px),
        "pixel_spacing_mm": float(cfg.spacing_mm),
        **pathology.attributes,
    }
    return PhantomCase(att, dark, att_clean, dark_clean, masks, attributes)
