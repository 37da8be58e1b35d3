"""Settings of the paired chest phantom (one validated dataclass)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from dfviewer.errors import UserError


class PhantomConfigError(UserError):
    """A phantom setting is out of range."""


@dataclass(frozen=True)
class PhantomConfig:
    """Everything that shapes a simulated case; defaults give a clinical-looking healthy/diseased mix.

    Geometry: ``size`` pixels square over ``field_of_view_mm`` (pixel spacing = fov / size unless
    ``pixel_spacing_mm`` is given). Physics: linear attenuation ``mu_*`` in 1/mm at ~60 keV effective,
    ``epsilon_lung`` the healthy linear diffusion coefficient in 1/mm (2.5/m). Pathology: a case is healthy
    with probability ``healthy_fraction``, otherwise it gets emphysema and/or consolidation with the given
    (conditional) probabilities; ``pathology=False`` forces every case healthy with the same anatomy.
    Detector: ``photons_per_mm2`` unattenuated fluence summed over ``phase_steps``, scaled by ``dose``.
    Out of distribution: ``ood_probability`` is the chance that :func:`simulate_case` makes a case OOD
    when not told; ``ood_fraction_train`` / ``ood_fraction_eval`` are the shares of OOD cases that
    :func:`write_dataset` puts in the training split and in the val/test splits.
    An OOD case always carries at least one device (pacemaker, ECG electrodes, lead marker) and may in
    addition get an unusual dose, rotation or scale.
    """

    size: int = 256
    field_of_view_mm: float = 400.0
    pixel_spacing_mm: float | None = None
    # pathology
    healthy_fraction: float = 0.4
    emphysema_probability: float = 0.7
    consolidation_probability: float = 0.4
    pathology: bool = True
    # physics
    mu_tissue: float = 0.020
    mu_lung: float = 0.005
    mu_cortical: float = 0.055
    mu_trabecular: float = 0.029
    epsilon_lung: float = 0.0025
    beam_hardening_tissue: float = 0.008
    beam_hardening_bone: float = 0.03
    texture_strength: float = 0.12
    # detector
    dose: float = 1.0
    photons_per_mm2: float = 150_000.0
    visibility: float = 0.3
    phase_steps: int = 5
    reference_dose_factor: float = 4.0
    blur_mm: float = 0.6
    stripe_strength: float = 0.012
    noise: bool = True
    # variation
    rotation_deg: float = 3.0
    position_mm: float = 8.0
    # out of distribution
    ood_probability: float = 0.0
    ood_fraction_train: float = 0.0
    ood_fraction_eval: float = 0.3
    pacemaker_probability: float = 0.5
    ecg_probability: float = 0.6
    marker_probability: float = 0.5
    ood_dose_probability: float = 0.25
    ood_rotation_probability: float = 0.25
    ood_scale_probability: float = 0.25

    def __post_init__(self) -> None:
        if not isinstance(self.size, int) or not 16 <= self.size <= 4096:
            raise PhantomConfigError(f"phantom size must be an integer from 16 to 4096, not {self.size!r}.")
        positive = ("field_of_view_mm", "mu_tissue", "mu_cortical", "mu_trabecular", "epsilon_lung",
                    "dose", "photons_per_mm2", "reference_dose_factor")
        for name in positive:
            if not getattr(self, name) > 0:
                raise PhantomConfigError(f"phantom setting {name} must be positive, not {getattr(self, name)!r}.")
        if self.pixel_spacing_mm is not None and not self.pixel_spacing_mm > 0:
            raise PhantomConfigError(f"phantom pixel_spacing_mm must be positive, not {self.pixel_spacing_mm!r}.")
        fractions = ("healthy_fraction", "emphysema_probability", "consolidation_probability",
                     "ood_probability", "ood_fraction_train", "ood_fraction_eval", "pacemaker_probability",
                     "ecg_probability", "marker_probability", "ood_dose_probability",
                     "ood_rotation_probability", "ood_scale_probability", "texture_strength")
        for name in fractions:
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise PhantomConfigError(f"phantom setting {name} must lie between 0 and 1, not {value!r}.")
        if not 0 < self.visibility < 1:
            raise PhantomConfigError(f"phantom visibility must lie between 0 and 1, not {self.visibility!r}.")
        if not isinstance(self.phase_steps, int) or self.phase_steps < 3:
            raise PhantomConfigError(f"phantom phase_steps must be an integer of at least 3, not {self.phase_steps!r}.")
        for name in ("mu_lung", "beam_hardening_tissue", "beam_hardening_bone", "blur_mm", "stripe_strength",
                     "rotation_deg", "position_mm"):
            if getattr(self, name) < 0:
                raise PhantomConfigError(f"phantom setting {name} must not be negative, not {getattr(self, name)!r}.")

    @property
    def spacing_mm(self) -> float:
        """Pixel spacing in mm at the detector."""
        return self.pixel_spacing_mm if self.pixel_spacing_mm is not None else self.field_of_view_mm / self.size

    def replace(self, **changes) -> PhantomConfig:
        """A validated copy with some fields changed."""
        return dataclasses.replace(self, **changes)
