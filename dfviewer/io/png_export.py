"""PNG export: the image at native resolution plus a labelled colorbar in a right-hand margin.

The image area is exactly :func:`~dfviewer.io.colormaps.apply_colormap` of the array (never
resampled); an optional title band sits above it and the colorbar to its right. Text uses
Pillow's built-in font, so no font files are needed.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from dfviewer.atomic import WriteError, atomic_path
from dfviewer.display.windows import format_number, window_limits
from dfviewer.io.colormaps import apply_colormap, colormap_lut
from dfviewer.io.errors import RadiographError
from dfviewer.io.radiograph import auto_window

BACKGROUND = (255, 255, 255, 255)
INK = (0, 0, 0, 255)


@dataclass(frozen=True)
class PngLayout:
    """Where things landed in a rendered PNG (pixels; x is the column, y the row)."""

    width: int
    height: int
    image_box: tuple[int, int, int, int]  # x0, y0, x1, y1 of the image area (x1, y1 exclusive)
    colorbar_box: tuple[int, int, int, int] | None  # x0, y0, x1, y1 of the gradient bar
    window: tuple[float, float]
    mode: str  # "RGB" or "RGBA"


@lru_cache(maxsize=16)
def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: fixed-size bitmap font
        return ImageFont.load_default()


def _text_size(draw, text: str, font) -> tuple[int, int]:
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    return right - left, bottom - top


#: Pillow's built-in font has no Greek letters (they come out as boxes): spelled out instead
_SPELLED_OUT = str.maketrans({"σ": "sigma", "α": "alpha", "β": "beta", "μ": "mu"})


def render_rgba(array: np.ndarray, colormap: str = "gray", window: tuple[float, float] | None = None,
                colorbar: bool = True, title: str = "", units: str = "", mask: np.ndarray | None = None):
    """Compose the export image in memory: returns (PIL.Image, PngLayout). See :func:`render_png`."""
    from PIL import Image, ImageDraw

    title, units = title.translate(_SPELLED_OUT), units.translate(_SPELLED_OUT)
    data = np.asarray(array, dtype=np.float32)
    if data.ndim != 2 or data.size == 0:
        raise ValueError(f"render_png needs a non-empty 2-D array, got shape {data.shape}")
    if window is None:
        window = auto_window(data)
    window = (float(window[0]), float(window[1]))
    h, w = data.shape
    has_alpha = mask is not None
    pixels = apply_colormap(data, colormap, window, mask=mask)
    image = Image.fromarray(pixels, "RGBA" if has_alpha else "RGB")

    font_size = int(np.clip(round(max(h, w) / 40), 12, 28))
    font = _font(font_size)
    small = _font(max(11, int(font_size * 0.85)))
    probe = ImageDraw.Draw(Image.new("RGB", (4, 4)))
    line_h = _text_size(probe, "Ag0", font)[1]
    pad = max(4, font_size // 2)

    title_h = line_h + 2 * pad if title else 0
    low, high = window_limits(window)
    labels = [format_number(v) for v in (high, (low + high) / 2, low)]
    finite = data[np.isfinite(data)] if not has_alpha else data[np.isfinite(data) & np.asarray(mask, bool)]
    caption = f"{colormap}" + (f" [{units}]" if units else "")
    range_text = (f"data {format_number(float(finite.min()))} to {format_number(float(finite.max()))}"
                  if finite.size else "data: none")

    bar_w = max(10, font_size)
    small_h = _text_size(probe, "Ag0", small)[1]
    label_w = max(_text_size(probe, t, small)[0] for t in labels)
    caption_w = max(_text_size(probe, caption, small)[0], _text_size(probe, range_text, small)[0])
    bar_block_w = bar_w + pad + 3 + label_w
    margin_w = (2 * pad + max(bar_block_w, caption_w)) if colorbar else 0
    # margin, top to bottom: caption (map and units), the bar with its labels, the data range
    min_bar_h = 3 * small_h
    caption_block = small_h + pad
    needed_h = 2 * pad + 2 * caption_block + min_bar_h if colorbar else 0
    canvas_h = title_h + max(h, needed_h)
    canvas_w = w + margin_w
    if title:
        canvas_w = max(canvas_w, _text_size(probe, title, font)[0] + 2 * pad)
    canvas = Image.new("RGBA" if has_alpha else "RGB", (canvas_w, canvas_h), BACKGROUND if has_alpha else BACKGROUND[:3])
    canvas.paste(image, (0, title_h))
    draw = ImageDraw.Draw(canvas)
    ink = INK if has_alpha else INK[:3]
    if title:
        draw.text((pad, pad), title, font=font, fill=ink)

    bar_box = None
    if colorbar:
        x0 = w + pad
        area_h = max(h, needed_h)
        draw.text((x0, title_h + pad), caption, font=small, fill=ink)
        y0 = title_h + pad + caption_block + small_h // 2
        bar_h = max(min_bar_h, area_h - 2 * pad - 2 * caption_block - small_h)
        lut = colormap_lut(colormap)
        ramp = lut[np.linspace(255, 0, bar_h).round().astype(np.intp)]
        bar = np.repeat(ramp[:, None, :], bar_w, axis=1)
        canvas.paste(Image.fromarray(np.ascontiguousarray(bar), "RGB"), (x0, y0))
        bar_box = (x0, y0, x0 + bar_w, y0 + bar_h)
        draw.rectangle((x0 - 1, y0 - 1, x0 + bar_w, y0 + bar_h), outline=ink)
        tx = x0 + bar_w + pad + 3
        for text, frac in zip(labels, (0.0, 0.5, 1.0)):
            tick_y = int(round(y0 + frac * (bar_h - 1)))
            draw.line((x0 + bar_w, tick_y, x0 + bar_w + pad // 2, tick_y), fill=ink)
            left, top, right, bottom = draw.textbbox((0, 0), text, font=small)
            draw.text((tx, tick_y - (top + bottom) // 2), text, font=small, fill=ink)
        draw.text((x0, y0 + bar_h + small_h // 2 + pad // 2), range_text, font=small, fill=ink)
    layout = PngLayout(canvas_w, canvas_h, (0, title_h, w, title_h + h), bar_box, window,
                       "RGBA" if has_alpha else "RGB")
    return canvas, layout


def render_png(path: str | Path, array: np.ndarray, colormap: str = "gray", window: tuple[float, float] | None = None,
               colorbar: bool = True, title: str = "", units: str = "", mask: np.ndarray | None = None) -> PngLayout:
    """Write ``array`` as a PNG (atomically) and return where the parts landed.

    The image area (``layout.image_box``) holds exactly ``apply_colormap(array, colormap, window)``
    at native resolution; a title band sits above it when ``title`` is given, and with
    ``colorbar`` a right-hand margin carries the gradient, the window's low/middle/high values,
    the map name with ``units`` and the data range. With ``mask`` the PNG is RGBA and pixels outside
    the mask are transparent. ``window=None``: the 0.5-99.5 percentile window.
    """
    path = Path(path)
    try:
        canvas, layout = render_rgba(array, colormap, window, colorbar, title, units, mask)
    except ValueError as exc:
        raise RadiographError(path, str(exc), action="write") from None
    try:
        with atomic_path(path) as tmp:
            canvas.save(tmp, format="PNG")
    except WriteError:
        raise
    except OSError as exc:  # from the encoder itself, not the file system write
        raise RadiographError(path, f"it could not be encoded ({exc.strerror or exc})", action="write") from None
    return layout
