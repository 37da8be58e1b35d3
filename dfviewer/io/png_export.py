"""PNG export: the image at native resolution plus a labelled colorbar in a right-hand margin.

The image area is exactly :func:`~dfviewer.imaging.colormaps.apply_colormap` of the array (never
resampled); an optional title band sits above it (with the input's warning, when it was flagged)
and the colorbar to its right. Text uses Pillow's built-in font, so no font files are needed.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from dfviewer.atomic import WriteError, atomic_path
from dfviewer.imaging.colormaps import apply_colormap, colormap_lut
from dfviewer.imaging.voi_windows import format_number, window_limits
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


#: the warning lines of a flagged input, under the title (dark orange: legible on white, prints gray)
WARNING_INK = (168, 72, 0, 255)
#: PNG text chunks: the title strip's text and the input's warning sentence
TITLE_KEY, WARNING_KEY = "Title", "Warning"


def warning_sentence(text: str) -> str:
    """``text`` as one sentence: capitalised, ending in a full stop ("" stays "")."""
    text = " ".join(str(text or "").split()).rstrip(".")
    return f"{text[:1].upper()}{text[1:]}." if text else ""


def _wrap(draw, text: str, font, width: int) -> list[str]:
    """Greedy word wrap of ``text`` to lines at most ``width`` pixels wide (a long word gets a line of its own)."""
    lines: list[str] = []
    line = ""
    for word in text.split():
        trial = f"{line} {word}" if line else word
        if line and _text_size(draw, trial, font)[0] > width:
            lines.append(line)
            line = word
        else:
            line = trial
    return lines + [line] if line else lines


@dataclass
class _Plan:
    """Everything :func:`render_rgba` draws, measured before any pixel is made."""

    data: np.ndarray
    window: tuple[float, float]
    font: Any
    small: Any
    pad: int
    line_h: int
    small_h: int
    title: str
    warning_lines: list[str]
    title_h: int
    labels: list[str]
    caption: str
    range_text: str
    bar_w: int
    needed_h: int
    width: int
    height: int


def _plan(array, window, colorbar: bool, title: str, units: str, mask, warning: str, colormap: str) -> _Plan:
    from PIL import Image, ImageDraw

    title = title.translate(_SPELLED_OUT)
    units = units.translate(_SPELLED_OUT)
    data = np.asarray(array, dtype=np.float32)
    if data.ndim != 2 or data.size == 0:
        raise ValueError(f"render_png needs a non-empty 2-D array, got shape {data.shape}")
    if window is None:
        window = auto_window(data)
    window = (float(window[0]), float(window[1]))
    h, w = data.shape
    font_size = int(np.clip(round(max(h, w) / 40), 12, 28))
    font = _font(font_size)
    small = _font(max(11, int(font_size * 0.85)))
    probe = ImageDraw.Draw(Image.new("RGB", (4, 4)))
    line_h = _text_size(probe, "Ag0", font)[1]
    small_h = _text_size(probe, "Ag0", small)[1]
    pad = max(4, font_size // 2)

    low, high = window_limits(window)
    labels = [format_number(v) for v in (high, (low + high) / 2, low)]
    finite = data[np.isfinite(data)] if mask is None else data[np.isfinite(data) & np.asarray(mask, bool)]
    caption = f"{colormap}" + (f" [{units}]" if units else "")
    range_text = (f"data {format_number(float(finite.min()))} to {format_number(float(finite.max()))}"
                  if finite.size else "data: none")
    bar_w = max(10, font_size)
    label_w = max(_text_size(probe, t, small)[0] for t in labels)
    caption_w = max(_text_size(probe, caption, small)[0], _text_size(probe, range_text, small)[0])
    bar_block_w = bar_w + pad + 3 + label_w
    margin_w = (2 * pad + max(bar_block_w, caption_w)) if colorbar else 0
    # margin, top to bottom: caption (map and units), the bar with its labels, the data range
    needed_h = 2 * pad + 2 * (small_h + pad) + 3 * small_h if colorbar else 0
    width = w + margin_w
    if title:
        width = max(width, _text_size(probe, title, font)[0] + 2 * pad)
    warning = warning_sentence(warning).translate(_SPELLED_OUT)
    # the warning wraps to the image and colorbar's width, though never narrower than ~40 characters
    wrap_w = max(width - 2 * pad, _text_size(probe, "x" * 40, small)[0])
    warning_lines = _wrap(probe, f"Warning: {warning}", small, wrap_w) if warning else []
    if warning_lines:
        width = max(width, max(_text_size(probe, t, small)[0] for t in warning_lines) + 2 * pad)
    title_h = (line_h + 2 * pad if title else 0) + (len(warning_lines) * (small_h + pad // 2) + pad
                                                    if warning_lines else 0)
    height = title_h + max(h, needed_h)
    return _Plan(data, window, font, small, pad, line_h, small_h, title, warning_lines, title_h, labels, caption,
                 range_text, bar_w, needed_h, width, height)


def png_size(array: np.ndarray, colormap: str = "gray", window: tuple[float, float] | None = None,
             colorbar: bool = True, title: str = "", units: str = "", mask: np.ndarray | None = None,
             warning: str = "") -> tuple[int, int]:
    """(width, height) of the PNG :func:`render_png` would write with these arguments (nothing is drawn)."""
    plan = _plan(array, window, colorbar, title, units, mask, warning, colormap)
    return plan.width, plan.height


def render_rgba(array: np.ndarray, colormap: str = "gray", window: tuple[float, float] | None = None,
                colorbar: bool = True, title: str = "", units: str = "", mask: np.ndarray | None = None,
                warning: str = "", size: tuple[int, int] | None = None):
    """Compose the export image in memory: returns (PIL.Image, PngLayout). See :func:`render_png`."""
    from PIL import Image, ImageDraw

    plan = _plan(array, window, colorbar, title, units, mask, warning, colormap)
    data, pad, small, small_h, title_h = plan.data, plan.pad, plan.small, plan.small_h, plan.title_h
    h, w = data.shape
    has_alpha = mask is not None
    pixels = apply_colormap(data, colormap, plan.window, mask=mask)
    image = Image.fromarray(pixels, "RGBA" if has_alpha else "RGB")
    canvas_w, canvas_h = plan.width, plan.height
    if size is not None:  # padded on the right and at the bottom, so several files tile
        canvas_w, canvas_h = max(canvas_w, int(size[0])), max(canvas_h, int(size[1]))
    canvas = Image.new("RGBA" if has_alpha else "RGB", (canvas_w, canvas_h), BACKGROUND if has_alpha else BACKGROUND[:3])
    canvas.paste(image, (0, title_h))
    draw = ImageDraw.Draw(canvas)
    ink = INK if has_alpha else INK[:3]
    y = pad
    if plan.title:
        draw.text((pad, y), plan.title, font=plan.font, fill=ink)
        y += plan.line_h + pad
    for line in plan.warning_lines:
        draw.text((pad, y), line, font=small, fill=WARNING_INK if has_alpha else WARNING_INK[:3])
        y += small_h + pad // 2

    bar_box = None
    if colorbar:
        x0 = w + pad
        area_h = max(h, plan.needed_h)
        caption_block = small_h + pad
        draw.text((x0, title_h + pad), plan.caption, font=small, fill=ink)
        y0 = title_h + pad + caption_block + small_h // 2
        bar_h = max(3 * small_h, area_h - 2 * pad - 2 * caption_block - small_h)
        lut = colormap_lut(colormap)
        ramp = lut[np.linspace(255, 0, bar_h).round().astype(np.intp)]
        bar_w = plan.bar_w
        bar = np.repeat(ramp[:, None, :], bar_w, axis=1)
        canvas.paste(Image.fromarray(np.ascontiguousarray(bar), "RGB"), (x0, y0))
        bar_box = (x0, y0, x0 + bar_w, y0 + bar_h)
        draw.rectangle((x0 - 1, y0 - 1, x0 + bar_w, y0 + bar_h), outline=ink)
        tx = x0 + bar_w + pad + 3
        for text, frac in zip(plan.labels, (0.0, 0.5, 1.0)):
            tick_y = int(round(y0 + frac * (bar_h - 1)))
            draw.line((x0 + bar_w, tick_y, x0 + bar_w + pad // 2, tick_y), fill=ink)
            left, top, right, bottom = draw.textbbox((0, 0), text, font=small)
            draw.text((tx, tick_y - (top + bottom) // 2), text, font=small, fill=ink)
        draw.text((x0, y0 + bar_h + small_h // 2 + pad // 2), plan.range_text, font=small, fill=ink)
    layout = PngLayout(canvas_w, canvas_h, (0, title_h, w, title_h + h), bar_box, plan.window,
                       "RGBA" if has_alpha else "RGB")
    return canvas, layout


def save_png(canvas, path: str | Path, title: str = "", warning: str = "") -> Path:
    """Write a composed image atomically, the title and the warning sentence as PNG text chunks."""
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    if title:
        info.add_itxt(TITLE_KEY, title)
    if warning:
        info.add_itxt(WARNING_KEY, warning_sentence(warning))
    path = Path(path)
    with atomic_path(path) as tmp:
        canvas.save(tmp, format="PNG", pnginfo=info)
    return path


def render_png(path: str | Path, array: np.ndarray, colormap: str = "gray", window: tuple[float, float] | None = None,
               colorbar: bool = True, title: str = "", units: str = "", mask: np.ndarray | None = None,
               warning: str = "", size: tuple[int, int] | None = None) -> PngLayout:
    """Write ``array`` as a PNG (atomically) and return where the parts landed.

    The image area (``layout.image_box``) holds exactly ``apply_colormap(array, colormap, window)``
    at native resolution; a title band sits above it when ``title`` is given, and with
    ``colorbar`` a right-hand margin carries the gradient, the window's low/middle/high values,
    the map name with ``units`` and the data range. With ``mask`` the PNG is RGBA and pixels outside
    the mask are transparent. ``window=None``: the 0.5-99.5 percentile window. A ``warning`` (the
    input was flagged) is printed under the title and stored, with the title, as PNG text chunks
    (``Warning``, ``Title``). ``size``: at least this (width, height), padded on the right and below.
    """
    path = Path(path)
    try:
        canvas, layout = render_rgba(array, colormap, window, colorbar, title, units, mask, warning, size)
    except ValueError as exc:
        raise RadiographError(path, str(exc), action="write") from None
    try:
        save_png(canvas, path, title, warning)
    except WriteError:
        raise
    except OSError as exc:  # from the encoder itself, not the file system write
        raise RadiographError(path, f"it could not be encoded ({exc.strerror or exc})", action="write") from None
    return layout
