"""Clinical rendering of quantitative ``-ln T`` images: what vendor processing delivers.

The phantom gives absolute attenuation line integrals; clinical radiographs arrive windowed,
tone-mapped, edge-enhanced, quantised and sometimes JPEG-compressed, with collimation borders and
burnt-in annotations. :func:`render` draws a random chain of such steps (seeded, deterministic for a
given generator state) so a network trained on rendered inputs learns to ignore absolute values.

Conventions
-----------
* Every step takes and returns a 2-D float image and never changes its shape; outputs are finite
  float32. Nothing in :func:`render` moves pixels (no rotation, crop, shift or zoom), so the rendered
  input stays pixel-aligned with the untouched dark-field target.
* Polarity is attenuation-like throughout: bone and mediastinum bright, lungs dark, air darkest (the
  convention of ``dfviewer.io`` after reflecting MONOCHROME1).
* Steps between the VOI and the final quantisation work on a 0..1 display image.
* Geometry is separate: :func:`dfviewer.phantom.poses.random_pose` / ``apply_pose`` are applied by
  the caller to BOTH input and target.
"""

from __future__ import annotations

import numpy as np

from dfviewer.imaging.rendering_steps import (  # noqa: F401 - the steps are part of this module's interface
    BITS,
    _check_image,
    _finite32,
    _percentiles,
    burn_in_text,
    collimation,
    detector_blur,
    detector_noise,
    equalize,
    grid_lines,
    identity,
    jpeg,
    multiscale_enhance,
    quantize,
    resample_spacing,
    tone_curve,
    unsharp,
    voi_linear,
    voi_sigmoid,
)

__all__ = [
    "FAMILIES", "burn_in_text", "collimation", "detector_blur", "detector_noise", "equalize", "grid_lines",
    "identity", "jpeg", "multiscale_enhance", "quantize", "render", "render_description", "resample_spacing",
    "tone_curve", "unsharp", "voi_linear", "voi_sigmoid",
]

#: named rendering families for evaluation (``render(..., family=name)``)
FAMILIES = ("raw", "png8", "cr12", "clahe_jpeg", "multiscale")





# ----------------------------------------------------------------------------------- the chain
class _Chain:
    """Applies steps and records ``(name, params)`` for each."""

    def __init__(self, img: np.ndarray):
        self.img = img
        self.steps: list[tuple[str, dict]] = []

    def __call__(self, name: str, fn, *args, **params):
        self.img = fn(self.img, *args, **params)
        self.steps.append((name, {k: (round(v, 4) if isinstance(v, float) else v) for k, v in params.items()}))


def _window(img: np.ndarray, rng: np.random.Generator, tight: bool = False) -> tuple[float, float]:
    """Centre and width from the image's own percentiles with random margins (never saturating much)."""
    q_lo = rng.uniform(0.5, 3.0) if not tight else rng.uniform(1.0, 5.0)
    q_hi = rng.uniform(99.0, 99.9)
    lo, hi = (float(v) for v in _percentiles(img, (q_lo, q_hi)))
    span = max(hi - lo, 1e-6)
    lo -= rng.uniform(-0.02, 0.12) * span
    hi += rng.uniform(-0.02, 0.12) * span
    return 0.5 * (lo + hi), max(hi - lo, 1e-6)


def _voi(chain: _Chain, rng: np.random.Generator, kind: str | None = None) -> None:
    center, width = _window(chain.img, rng)
    kind = kind or ("sigmoid" if rng.random() < 0.4 else "linear")
    if kind == "sigmoid":
        # the sigmoid reaches ~0.02 / 0.98 at centre -/+ width; a narrower nominal width spans the range
        chain("voi_sigmoid", voi_sigmoid, center=center, width=width * rng.uniform(0.55, 0.8))
    else:
        chain("voi_linear", voi_linear, center=center, width=width)


def _normalize(chain: _Chain, rng: np.random.Generator) -> None:
    """Map the body range to about 0..1 (a wide linear VOI) before processing in a 0..1 domain."""
    center, width = _window(chain.img, rng)
    chain("voi_linear", voi_linear, center=center, width=width * 1.15)


def _maybe_tone(chain: _Chain, rng: np.random.Generator, p: float = 0.6) -> None:
    if rng.random() < p:
        if rng.random() < 0.6:
            chain("tone_curve", tone_curve, kind="gamma", param=float(rng.uniform(0.6, 1.5)))
        else:
            chain("tone_curve", tone_curve, kind="log", param=float(rng.uniform(0.5, 6.0)))


def _png8(chain: _Chain, rng: np.random.Generator) -> None:
    _voi(chain, rng)
    chain("tone_curve", tone_curve, kind="gamma", param=float(rng.uniform(0.6, 1.5)))
    chain("quantize", quantize, bits=8)


def _cr12(chain: _Chain, rng: np.random.Generator) -> None:
    _normalize(chain, rng)
    if rng.random() < 0.5:
        chain("multiscale_enhance", multiscale_enhance, gain=float(rng.uniform(1.0, 1.6)),
              levels=int(rng.integers(3, 6)), power=float(rng.uniform(0.6, 0.95)),
              residual_scale=float(rng.uniform(0.5, 0.9)))
    else:
        n = int(rng.integers(1, 3))
        sig = np.sort(rng.uniform(1.0, 8.0, n))
        bands = tuple((round(float(s), 3), round(float(a), 3)) for s, a in zip(sig, rng.uniform(0.2, 1.2, n)))
        chain("unsharp", unsharp, bands=bands)
    if rng.random() < 0.5:
        chain("detector_blur", detector_blur, sigma=float(rng.uniform(0.3, 1.0)))
    chain("detector_noise", detector_noise, rng, level=float(rng.uniform(0.003, 0.02)))
    _voi(chain, rng)
    if rng.random() < 0.3:
        chain("collimation", collimation, rng)
    if rng.random() < 0.3:
        chain("burn_in_text", burn_in_text, rng, value=1.0)
    chain("quantize", quantize, bits=12)


def _clahe_jpeg(chain: _Chain, rng: np.random.Generator) -> None:
    _voi(chain, rng, kind="linear")
    chain("equalize", equalize, clip_limit=float(rng.uniform(0.004, 0.015)),
          kernel_fraction=float(rng.uniform(0.2, 0.35)))
    _maybe_tone(chain, rng, p=0.3)
    chain("jpeg", jpeg, quality=int(rng.integers(70, 96)))


def _multiscale(chain: _Chain, rng: np.random.Generator) -> None:
    _normalize(chain, rng)
    chain("multiscale_enhance", multiscale_enhance, gain=float(rng.uniform(1.5, 2.5)),
          levels=int(rng.integers(4, 7)), power=float(rng.uniform(0.45, 0.7)),
          residual_scale=float(rng.uniform(0.3, 0.6)))
    _voi(chain, rng)
    chain("quantize", quantize, bits=int(rng.choice([10, 12, 16])))


def _mixture(chain: _Chain, rng: np.random.Generator) -> None:
    _normalize(chain, rng)
    if rng.random() < 0.3:
        chain("resample_spacing", resample_spacing, factor=float(rng.uniform(0.7, 2.0)))
    if rng.random() < 0.3:
        chain("detector_blur", detector_blur, sigma=float(rng.uniform(0.3, 1.2)))
    if rng.random() < 0.5:
        chain("detector_noise", detector_noise, rng, level=float(rng.uniform(0.002, 0.02)))
    u = rng.random()
    if u < 0.35:
        chain("multiscale_enhance", multiscale_enhance, gain=float(rng.uniform(1.0, 2.2)),
              levels=int(rng.integers(3, 7)), power=float(rng.uniform(0.5, 0.95)),
              residual_scale=float(rng.uniform(0.35, 0.9)))
    elif u < 0.65:
        n = int(rng.integers(1, 4))
        sig = np.sort(rng.uniform(0.8, 10.0, n))
        bands = tuple((round(float(s), 3), round(float(a), 3)) for s, a in zip(sig, rng.uniform(0.1, 1.0, n)))
        chain("unsharp", unsharp, bands=bands)
    if rng.random() < 0.3:
        chain("grid_lines", grid_lines, rng)
    _voi(chain, rng)
    _maybe_tone(chain, rng, p=0.5)
    u = rng.random()
    if u < 0.15:
        chain("equalize", equalize, clip_limit=float(rng.uniform(0.004, 0.015)),
              kernel_fraction=float(rng.uniform(0.2, 0.35)))
    elif u < 0.2:
        chain("equalize", equalize, clip_limit=None)
    if rng.random() < 0.2:
        chain("collimation", collimation, rng)
    if rng.random() < 0.2:
        chain("burn_in_text", burn_in_text, rng, value=1.0)
    u = rng.random()
    if u < 0.25:
        chain("jpeg", jpeg, quality=int(rng.integers(70, 96)))
    elif u < 0.85:
        chain("quantize", quantize, bits=int(rng.choice(BITS)))


_FAMILY_FUNCS = {"png8": _png8, "cr12": _cr12, "clahe_jpeg": _clahe_jpeg, "multiscale": _multiscale,
                 "mixture": _mixture}


def render(image: np.ndarray, rng: np.random.Generator, family: str | None = None,
           return_steps: bool = False):
    """Render a ``-ln T`` image as a clinical system might deliver it (pixel-aligned, same shape).

    ``family`` (one of :data:`FAMILIES`, ``"mixture"``, or ``None`` to draw one):

    * ``raw``: the input unchanged (an exact float32 copy).
    * ``png8``: VOI (LINEAR, or SIGMOID with 40 %) from the image's own percentiles -> gamma 0.6-1.5
      -> 8-bit values (0..255).
    * ``cr12``: wide linear normalisation -> either MUSICA-like enhancement (gain 1-1.6, 3-5 levels,
      power 0.6-0.95, residual 0.5-0.9) or 1-2 band unsharp masking (sigma 1-8 px, amount 0.2-1.2)
      -> blur 0.3-1 px (50 %) -> noise level 0.003-0.02 -> VOI -> collimation (30 %) -> burnt-in
      text (30 %) -> 12-bit values (0..4095).
    * ``clahe_jpeg``: linear VOI -> CLAHE (clip 0.004-0.015, tiles 20-35 % of the size) -> tone
      curve (30 %) -> 8-bit JPEG quality 70-95 (0..255).
    * ``multiscale``: normalisation -> strong multi-scale enhancement (gain 1.5-2.5, 4-6 levels,
      power 0.45-0.7, residual 0.3-0.6) -> VOI -> 10, 12 or 16-bit values.
    * ``mixture``: a random selection of all steps (resampling 0.7-2x pitch, blur, noise,
      enhancement, grid lines, VOI, tone curve gamma 0.6-1.5 / log 0.5-6, CLAHE or global
      equalisation, collimation, text) ending in JPEG (25 %), quantisation to 8-16 bits (60 %) or
      a 0..1 float image (15 %).
    * ``None``: ``raw`` with probability 0.15, else one of the other families (png8, cr12,
      clahe_jpeg, multiscale, mixture; mixture twice as likely as each named one).

    VOI windows are placed from the image's 0.5-5th and 99-99.9th percentiles with margins of
    -2..+12 % of that span, so the anatomy is always shown (never fully saturated). The output
    scale therefore varies by family (float 0..1, 0..255, 0..4095, ...); polarity is always
    attenuation-like. Deterministic for a given ``rng`` state. ``return_steps=True`` returns
    ``(image, steps)`` with ``steps`` a list of ``(name, params)``.
    """
    arr = _check_image(image)
    if not np.isfinite(arr).all():
        raise ValueError("The image to render contains NaN or infinite values.")
    if family is None:
        if rng.random() < 0.15:
            family = "raw"
        else:
            names = ("png8", "cr12", "clahe_jpeg", "multiscale", "mixture", "mixture")
            family = names[int(rng.integers(len(names)))]
    steps: list[tuple[str, dict]]
    if family == "raw":
        out, steps = arr.copy(), [("identity", {})]
    elif family in _FAMILY_FUNCS:
        chain = _Chain(arr)
        _FAMILY_FUNCS[family](chain, rng)
        out, steps = _finite32(chain.img), chain.steps
        if not steps:
            steps = [("voi_linear", {})]
    else:
        raise ValueError(f"Unknown rendering family {family!r}; use one of {FAMILIES + ('mixture',)} or None.")
    if out is arr:
        out = arr.copy()
    return (out, steps) if return_steps else out


_SHORT = {"voi_linear": "lin", "voi_sigmoid": "sig", "tone_curve": "tone", "multiscale_enhance": "msc",
          "unsharp": "usm", "equalize": "eq", "quantize": "q", "jpeg": "jpg", "resample_spacing": "rs",
          "detector_blur": "blur", "detector_noise": "noise", "collimation": "coll",
          "burn_in_text": "text", "grid_lines": "grid", "identity": "raw"}


def render_description(steps, short: bool = True) -> str:
    """A one-line label for the steps returned by ``render(..., return_steps=True)``.

    ``short``: abbreviated names with the key parameter (``lin>msc>sig>q12``); else full names
    with all parameters.
    """
    parts = []
    for name, params in steps:
        if not short:
            args = ", ".join(f"{k}={v}" for k, v in params.items())
            parts.append(f"{name}({args})")
            continue
        label = _SHORT.get(name, name)
        if name == "quantize":
            label += str(params.get("bits", ""))
        elif name == "jpeg":
            label += str(params.get("quality", ""))
        elif name == "tone_curve":
            label = "gam" if params.get("kind") == "gamma" else "log"
        elif name == "equalize":
            label = "clahe" if params.get("clip_limit") is not None else "histeq"
        parts.append(label)
    return ">".join(parts) if short else " > ".join(parts)
