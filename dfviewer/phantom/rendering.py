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
* Geometry is separate: :func:`random_pose` / :func:`apply_pose` are applied by the caller to BOTH
  input and target.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage

__all__ = [
    "FAMILIES", "Pose", "apply_pose", "burn_in_text", "collimation", "detector_blur", "detector_noise",
    "equalize", "grid_lines", "identity", "jpeg", "multiscale_enhance", "quantize", "random_pose",
    "render", "render_description", "resample_spacing", "tone_curve", "unsharp", "voi_linear",
    "voi_sigmoid",
]

#: named rendering families for evaluation (``render(..., family=name)``)
FAMILIES = ("raw", "png8", "cr12", "clahe_jpeg", "multiscale")

_BITS = (8, 10, 12, 16)


# ----------------------------------------------------------------------------------- helpers
def _check_image(img) -> np.ndarray:
    arr = np.asarray(img)
    if arr.ndim != 2:
        raise ValueError(f"Expected a 2-D image, got an array of shape {arr.shape}.")
    return arr.astype(np.float32, copy=False)


def _finite32(arr: np.ndarray) -> np.ndarray:
    """Float32 with any non-finite value replaced (defensive: the steps should never make one)."""
    out = np.asarray(arr, dtype=np.float32)
    if not np.isfinite(out).all():
        out = np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0)
    return out


def _unit(img: np.ndarray) -> np.ndarray:
    return np.clip(img, 0.0, 1.0)


def _percentiles(img: np.ndarray, qs) -> np.ndarray:
    """Percentiles of a strided subsample (fast, plenty accurate for choosing windows)."""
    step = max(1, min(img.shape) // 96)
    return np.percentile(img[::step, ::step], qs)


# ----------------------------------------------------------------------------------- steps
def identity(img: np.ndarray) -> np.ndarray:
    """Return an exact float32 copy of ``img``."""
    return _check_image(img).copy()


def voi_linear(img: np.ndarray, center: float, width: float) -> np.ndarray:
    """DICOM VOI LUT function LINEAR (in its exact, continuous form ``LINEAR_EXACT``) to 0..1.

    ``y = clip((x - center) / width + 0.5, 0, 1)``; the continuous form suits float images whose
    whole range may be narrower than one stored-value step.
    """
    arr = _check_image(img)
    if not np.isfinite(width) or width <= 0:
        raise ValueError(f"The window width must be a positive number, got {width}.")
    out = (arr - np.float32(center)) / np.float32(width) + np.float32(0.5)
    return _finite32(_unit(out))


def voi_sigmoid(img: np.ndarray, center: float, width: float) -> np.ndarray:
    """DICOM VOI LUT function SIGMOID to 0..1: ``y = 1 / (1 + exp(-4 (x - center) / width))``."""
    arr = _check_image(img)
    if not np.isfinite(width) or width <= 0:
        raise ValueError(f"The window width must be a positive number, got {width}.")
    z = np.clip(-4.0 * (arr - np.float32(center)) / np.float32(width), -60.0, 60.0)
    return _finite32(1.0 / (1.0 + np.exp(z)))


def tone_curve(img: np.ndarray, kind: str, param: float) -> np.ndarray:
    """Monotone tone curve on a 0..1 image (input clipped to 0..1, output 0..1).

    ``kind="gamma"``: ``y = x ** param`` (param > 0; < 1 brightens mid-tones);
    ``kind="log"``: ``y = log(1 + param x) / log(1 + param)`` (param > 0; larger = stronger lift).
    """
    arr = _unit(_check_image(img))
    if not np.isfinite(param) or param <= 0:
        raise ValueError(f"The tone-curve parameter must be positive, got {param}.")
    if kind == "gamma":
        out = np.power(arr, np.float32(param))
    elif kind == "log":
        out = np.log1p(np.float32(param) * arr) / np.float32(np.log1p(param))
    else:
        raise ValueError(f"Unknown tone curve {kind!r}; use 'gamma' or 'log'.")
    return _finite32(out)


def _down(x: np.ndarray) -> np.ndarray:
    """Half-resolution by 2x2 block means (shape must be even)."""
    return 0.25 * (x[0::2, 0::2] + x[1::2, 0::2] + x[0::2, 1::2] + x[1::2, 1::2])


def _up(x: np.ndarray) -> np.ndarray:
    """Double resolution: pixel replication smoothed by a small Gaussian (centres stay aligned)."""
    big = np.repeat(np.repeat(x, 2, axis=0), 2, axis=1)
    return ndimage.gaussian_filter(big, 0.7, truncate=2.5, mode="nearest")


def multiscale_enhance(img: np.ndarray, gain: float = 1.5, levels: int = 4, power: float = 0.7,
                       residual_scale: float = 0.6) -> np.ndarray:
    """MUSICA-like multi-scale contrast equalisation through a Laplacian pyramid.

    Each detail level ``c`` is normalised by its largest magnitude ``m`` and remapped
    ``c -> gain * m * sign(c) * |c / m| ** power``: with ``power < 1`` small details gain more than
    large ones, with ``gain > 1`` all details are amplified. The coarsest (density) level is
    compressed towards its mean by ``residual_scale`` (< 1 flattens large-scale density). With
    ``gain = power = residual_scale = 1`` the image is reconstructed exactly (to rounding).
    """
    arr = _check_image(img)
    levels = int(levels)
    if levels < 1 or levels > 8:
        raise ValueError(f"The number of pyramid levels must be between 1 and 8, got {levels}.")
    if gain <= 0 or power <= 0 or residual_scale < 0:
        raise ValueError("The gain and power must be positive and the residual scale non-negative.")
    h, w = arr.shape
    block = 2 ** levels
    ph, pw = (-h) % block, (-w) % block
    x = np.pad(arr, ((0, ph), (0, pw)), mode="edge").astype(np.float32) if ph or pw else arr.copy()
    details = []
    for _ in range(levels):
        small = _down(x)
        details.append(x - _up(small))
        x = small
    mean = np.float32(x.mean())
    x = mean + np.float32(residual_scale) * (x - mean)
    for c in reversed(details):
        m = float(np.abs(c).max())
        if m > 0:
            c = np.float32(gain * m) * np.sign(c) * np.power(np.abs(c) / np.float32(m), np.float32(power))
        x = _up(x) + c
    return _finite32(x[:h, :w])


def unsharp(img: np.ndarray, bands=((2.0, 0.5),)) -> np.ndarray:
    """Unsharp masking in 1-3 frequency bands: ``y = x + sum_k a_k (x - G_{s_k} * x)``.

    ``bands`` is a sequence of ``(sigma_px, amount)`` pairs (sigma > 0, amount >= 0).
    """
    arr = _check_image(img)
    bands = list(bands)
    if not 1 <= len(bands) <= 3:
        raise ValueError(f"Unsharp masking takes 1 to 3 bands, got {len(bands)}.")
    out = arr.copy()
    for sigma, amount in bands:
        if sigma <= 0 or amount < 0:
            raise ValueError("Each unsharp band needs a positive sigma and a non-negative amount.")
        out += np.float32(amount) * (arr - ndimage.gaussian_filter(arr, sigma, truncate=3.0, mode="nearest"))
    return _finite32(out)


def equalize(img: np.ndarray, clip_limit: float | None = 0.01, kernel_fraction: float = 0.25) -> np.ndarray:
    """Histogram equalisation of a 0..1 image (input clipped to 0..1, output 0..1).

    ``clip_limit`` given: CLAHE (``skimage.exposure.equalize_adapthist``, tiles of
    ``kernel_fraction`` of the image size, 256 bins); ``None``: global histogram equalisation.
    """
    from skimage import exposure

    arr = _unit(_check_image(img))
    if clip_limit is None:
        out = exposure.equalize_hist(arr, nbins=256)
    else:
        if not 0 < clip_limit <= 1:
            raise ValueError(f"The CLAHE clip limit must lie in (0, 1], got {clip_limit}.")
        ks = tuple(max(4, int(round(s * kernel_fraction))) for s in arr.shape)
        out = exposure.equalize_adapthist(arr, kernel_size=ks, clip_limit=float(clip_limit), nbins=256)
    return _finite32(_unit(out))


def quantize(img: np.ndarray, bits: int = 12) -> np.ndarray:
    """Integer stored values of a 0..1 image: ``round(clip(x) * (2**bits - 1))`` as float32.

    ``bits`` is one of 8, 10, 12, 16.
    """
    if bits not in _BITS:
        raise ValueError(f"The bit depth must be one of {_BITS}, got {bits}.")
    arr = _unit(_check_image(img))
    return _finite32(np.rint(arr * np.float32(2 ** bits - 1)))


def jpeg(img: np.ndarray, quality: int = 90) -> np.ndarray:
    """In-memory 8-bit JPEG round trip (Pillow) of a 0..1 image; returns float32 values 0..255."""
    if not 1 <= int(quality) <= 100:
        raise ValueError(f"The JPEG quality must be between 1 and 100, got {quality}.")
    arr = _unit(_check_image(img))
    u8 = np.rint(arr * 255.0).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(u8, mode="L").save(buf, format="JPEG", quality=int(quality))
    buf.seek(0)
    with Image.open(buf) as im:
        out = np.asarray(im.convert("L"), dtype=np.float32)
    return _finite32(out)


def _resize(arr: np.ndarray, shape: tuple[int, int], order: int) -> np.ndarray:
    """Pixel-area aligned resize: output pixel centres map onto the same physical positions."""
    h, w = arr.shape
    sy, sx = h / shape[0], w / shape[1]
    matrix = np.array([sy, sx])
    offset = np.array([0.5 * sy - 0.5, 0.5 * sx - 0.5])
    return ndimage.affine_transform(arr, matrix, offset=offset, output_shape=shape, order=order,
                                    mode="nearest", prefilter=False)


def resample_spacing(img: np.ndarray, factor: float) -> np.ndarray:
    """Simulate a detector pitch ``factor`` times the current one, back on the same grid.

    ``factor > 1``: anti-alias (Gaussian, sigma ~ factor / 2.5), down-sample, up-sample bilinearly;
    ``factor < 1``: a finer pitch (up-sample then down-sample; a mild blur). Pixel centres stay put.
    """
    arr = _check_image(img)
    if not 0.25 <= factor <= 4.0:
        raise ValueError(f"The resampling factor must lie in [0.25, 4], got {factor}.")
    if factor == 1:
        return arr.copy()
    h, w = arr.shape
    small = (max(2, int(round(h / factor))), max(2, int(round(w / factor))))
    src = ndimage.gaussian_filter(arr, factor / 2.5, truncate=3.0, mode="nearest") if factor > 1 else arr
    mid = _resize(src, small, order=1)
    if factor < 1:
        mid = ndimage.gaussian_filter(mid, 0.4 / factor, truncate=3.0, mode="nearest")
    return _finite32(_resize(mid, (h, w), order=1))


def detector_blur(img: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian detector/focal-spot blur of ``sigma`` pixels (0 = copy)."""
    arr = _check_image(img)
    if sigma < 0:
        raise ValueError(f"The blur sigma must be non-negative, got {sigma}.")
    if sigma == 0:
        return arr.copy()
    return _finite32(ndimage.gaussian_filter(arr, sigma, truncate=3.0, mode="nearest"))


def detector_noise(img: np.ndarray, rng: np.random.Generator, level: float = 0.01) -> np.ndarray:
    """Signal-dependent quantum-like noise plus a small additive electronic noise on a 0..1 image.

    In attenuation polarity bright pixels received fewer photons, so the standard deviation grows
    with the value: ``std = level * (0.5 + x_clipped) + 0.2 * level``. The output is not clipped.
    """
    arr = _check_image(img)
    if level < 0:
        raise ValueError(f"The noise level must be non-negative, got {level}.")
    std = np.float32(level) * (np.float32(0.5) + _unit(arr)) + np.float32(0.2 * level)
    noise = rng.standard_normal(arr.shape, dtype=np.float32)
    return _finite32(arr + std * noise)


def collimation(img: np.ndarray, rng: np.random.Generator, value: float | None = None) -> np.ndarray:
    """A constant border (collimator shadow / electronic shutter) of 2-6 % on 1-4 random sides.

    ``value`` defaults to the image maximum (unexposed, bright, as on CR) or, one time in three, the
    minimum (black electronic shutter).
    """
    arr = _check_image(img).copy()
    h, w = arr.shape
    sides = rng.random(4) < 0.5
    if not sides.any():
        sides[rng.integers(4)] = True
    widths = rng.uniform(0.02, 0.06, 4)
    if value is None:
        value = float(arr.min()) if rng.random() < 1 / 3 else float(arr.max())
    top, bottom, left, right = (max(1, int(round(f * s))) for f, s in zip(widths, (h, h, w, w)))
    if sides[0]:
        arr[:top] = value
    if sides[1]:
        arr[h - bottom:] = value
    if sides[2]:
        arr[:, :left] = value
    if sides[3]:
        arr[:, w - right:] = value
    return _finite32(arr)


_WORDS = ("PA", "AP", "ERECT", "SUPINE", "PORTABLE", "CHEST", "THORAX", "INSP", "STANDING", "1.8M",
          "CR", "DX", "mAs 2.5", "kVp 125", "ID 0", "ACC", "WARD", "RADIOLOGY")


def _text_line(rng: np.random.Generator) -> str:
    n = int(rng.integers(1, 4))
    words = [_WORDS[i] for i in rng.integers(0, len(_WORDS), n)]
    if rng.random() < 0.5:
        words.append(f"{int(rng.integers(1, 29)):02d}.{int(rng.integers(1, 13)):02d}.{int(rng.integers(1990, 2030))}")
    return " ".join(words)


def burn_in_text(img: np.ndarray, rng: np.random.Generator, value: float | None = None) -> np.ndarray:
    """Burnt-in annotation: 1-3 text lines in a top or bottom corner and an ``L``/``R`` marker
    in a corner of the opposite edge, drawn with Pillow's default font at a saturated ``value`` (default: the
    image maximum). Everything stays in the outer 18 % of rows, away from the lung centre.
    """
    arr = _check_image(img).copy()
    h, w = arr.shape
    if value is None:
        value = float(arr.max())
    mask = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(mask)
    font = ImageFont.load_default()
    band = max(4, int(0.18 * h))
    # text block
    line_h = 11
    n_lines = min(int(rng.integers(1, 4)), max(1, (band - 2) // line_h))
    lines = [_text_line(rng) for _ in range(n_lines)]
    top = rng.random() < 0.5
    right = rng.random() < 0.5
    gap = int(rng.integers(1, max(2, band // 4)))
    y0 = gap if top else h - 1 - line_h * len(lines) - gap
    for k, line in enumerate(lines):
        x0 = int(rng.integers(1, max(2, w // 20)))
        if right:
            tw = int(draw.textlength(line, font=font))
            x0 = max(0, w - tw - x0)
        draw.text((x0, y0 + k * line_h), line, fill=255, font=font)
    # side marker near the opposite edge (top if the text sits at the bottom, and vice versa)
    marker = "L" if rng.random() < 0.5 else "R"
    my = int(rng.integers(1, max(2, band // 2))) if not top else h - 12 - int(rng.integers(1, max(2, band // 3)))
    mx = int(rng.integers(1, max(2, w // 10)))
    if rng.random() < 0.5:
        mx = w - 8 - mx
    draw.text((mx, my), marker, fill=255, font=font)
    m = np.asarray(mask) > 127
    m[band:h - band] = False  # small images: never let glyphs reach the central rows
    arr[m] = value
    return _finite32(arr)


def grid_lines(img: np.ndarray, rng: np.random.Generator, amplitude: float | None = None) -> np.ndarray:
    """Faint periodic anti-scatter-grid lines (an aliased sinusoid along rows or columns).

    Period 2.2-6 px, amplitude (default) 0.3-1.5 % of the image's 1-99 percentile range.
    """
    arr = _check_image(img)
    h, w = arr.shape
    lo, hi = _percentiles(arr, (1, 99))
    if amplitude is None:
        amplitude = rng.uniform(0.003, 0.015) * max(float(hi - lo), 1e-6)
    period = rng.uniform(2.2, 6.0)
    phase = rng.uniform(0, 2 * np.pi)
    vertical = rng.random() < 0.5
    n = w if vertical else h
    wave = (np.float32(amplitude) * np.sin(2 * np.pi * np.arange(n) / period + phase)).astype(np.float32)
    out = arr + (wave[None, :] if vertical else wave[:, None])
    return _finite32(out)


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
        chain("quantize", quantize, bits=int(rng.choice(_BITS)))


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


# ----------------------------------------------------------------------------------- geometry
@dataclass(frozen=True)
class Pose:
    """A small in-plane pose change about the image centre: rotation (degrees, counter-clockwise
    as displayed), isotropic zoom (> 1 enlarges) and shift (fractions of the width / height)."""

    angle_deg: float = 0.0
    zoom: float = 1.0
    shift_x: float = 0.0
    shift_y: float = 0.0

    @property
    def is_identity(self) -> bool:
        return self.angle_deg == 0 and self.zoom == 1 and self.shift_x == 0 and self.shift_y == 0


def random_pose(rng: np.random.Generator, max_rotation_deg: float = 5.0, max_zoom: float = 0.12,
                max_shift: float = 0.05) -> Pose:
    """Uniform rotation in ±max_rotation_deg, zoom in 1 ± max_zoom, shifts in ±max_shift."""
    if max_rotation_deg < 0 or not 0 <= max_zoom < 1 or max_shift < 0:
        raise ValueError("Pose limits must be non-negative and the zoom limit below 1.")
    angle, zoom, sx, sy = rng.uniform(-1.0, 1.0, 4)
    return Pose(angle_deg=float(angle * max_rotation_deg), zoom=float(1.0 + zoom * max_zoom),
                shift_x=float(sx * max_shift), shift_y=float(sy * max_shift))


def apply_pose(image: np.ndarray, pose: Pose, order: int = 1) -> np.ndarray:
    """Apply ``pose`` to a 2-D image (or each plane of a ``(..., H, W)`` stack); same shape, float32.

    Rotation and zoom are about the image centre, edges are replicated (``mode="nearest"``); the
    identity pose returns an exact copy. Use the same pose for input and target to keep them aligned.
    """
    arr = np.asarray(image)
    if arr.ndim < 2:
        raise ValueError(f"Expected an image with at least 2 dimensions, got shape {arr.shape}.")
    if pose.zoom <= 0:
        raise ValueError(f"The pose zoom must be positive, got {pose.zoom}.")
    if pose.is_identity:
        return arr.astype(np.float32, copy=True)
    if arr.ndim > 2:
        flat = arr.reshape((-1,) + arr.shape[-2:])
        return np.stack([apply_pose(p, pose, order) for p in flat]).reshape(arr.shape)
    h, w = arr.shape
    centre = np.array([(h - 1) / 2.0, (w - 1) / 2.0])
    t = np.deg2rad(pose.angle_deg)
    # output (row, col) -> input: undo shift, then inverse rotation and zoom about the centre
    # (rows point down, so a counter-clockwise display rotation uses this sign convention)
    inv = np.array([[np.cos(t), np.sin(t)], [-np.sin(t), np.cos(t)]]) / pose.zoom
    shift = np.array([pose.shift_y * h, pose.shift_x * w])
    offset = centre - inv @ (centre + shift)
    out = ndimage.affine_transform(arr.astype(np.float32, copy=False), inv, offset=offset, order=order,
                                   mode="nearest", output=np.float32)
    return _finite32(out)
