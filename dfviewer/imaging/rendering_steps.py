"""The steps of the clinical rendering chain: VOI, tone curves, enhancement, quantisation, JPEG,
and the acquisition artefacts (spacing, blur, noise, collimation, burnt-in text, grid lines).

Each step takes and returns a 2-D float image of the same shape (finite float32); how they are
drawn into chains is :mod:`dfviewer.imaging.clinical_rendering`.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage

#: the bit depths :func:`quantize` offers
BITS = (8, 10, 12, 16)


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
    if bits not in BITS:
        raise ValueError(f"The bit depth must be one of {BITS}, got {bits}.")
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
