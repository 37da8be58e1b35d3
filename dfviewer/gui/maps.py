"""What each displayed map is: label, colormap, units, tooltip (METHOD.md section 7). Qt-free.

Also the windowing helpers every panel and the exporter share, so a window means the same
thing on screen and in a file: a window is ``(centre, width)`` like a DICOM VOI window, and
pixels map linearly from ``centre - width / 2`` (darkest) to ``centre + width / 2``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dfviewer.io.png_export import format_number


@dataclass(frozen=True)
class MapInfo:
    key: str
    label: str  # long name for titles and tables
    symbol: str  # short name for the status bar readout
    colormap: str
    units: str
    shortcut: str
    tooltip: str


#: every map a panel can show; the order is the order of the overlay buttons
MAPS: dict[str, MapInfo] = {
    "attenuation": MapInfo(
        "attenuation", "Attenuation (input)", "Att", "gray", "a.u.", "",
        "The attenuation radiograph as read from the file (bone and heart bright, lungs dark).",
    ),
    "mean": MapInfo(
        "mean", "Generated dark-field", "DF", "gray", "a.u.", "",
        "The dark-field image the model generates: lungs appear bright (many alveolar air-tissue "
        "interfaces scatter X-rays), emphysema shows as darker patches, bones and heart are nearly invisible.",
    ),
    "truth": MapInfo(
        "truth", "Real dark-field", "DF true", "gray", "a.u.", "",
        "The measured dark-field image loaded beside the input, for comparison.",
    ),
    "alpha": MapInfo(
        "alpha", "Alpha (GGD scale)", "α", "viridis", "a.u.", "A",
        "Alpha: the scale of the generalized Gaussian the model predicts for its residual; "
        "larger alpha means a wider error distribution at that pixel.",
    ),
    "beta": MapInfo(
        "beta", "Beta (GGD shape)", "β", "cividis", "", "B",
        "Beta: the shape of the generalized Gaussian (2 Gaussian, 1 Laplacian, below 1 heavy-tailed: "
        "occasional large errors are likely).",
    ),
    "aleatoric": MapInfo(
        "aleatoric", "Aleatoric σ", "σ_al", "magma", "a.u.", "L",
        "Aleatoric uncertainty (standard deviation from alpha and beta): ambiguous signal in the data "
        "itself; it concentrates in the lungs and falls from stage to stage.",
    ),
    "epistemic": MapInfo(
        "epistemic", "Epistemic σ", "σ_ep", "inferno", "a.u.", "E",
        "Epistemic uncertainty (spread over Monte Carlo dropout samples): high where the input is unlike "
        "the training data, e.g. cables, pacemakers or unusual contrast. Zero in the quick preview.",
    ),
    "total": MapInfo(
        "total", "Total σ", "σ", "magma", "a.u.", "T",
        "Total uncertainty: sqrt(aleatoric² + epistemic²), the overall standard deviation to expect "
        "between the generated and the real dark-field.",
    ),
    "error": MapInfo(
        "error", "Absolute error", "|err|", "inferno", "a.u.", "R",
        "Absolute difference between the generated and the real dark-field (only when a real "
        "dark-field is loaded).",
    ),
}

#: maps the overlay panel can show, in button order
OVERLAY_MAPS = ("alpha", "beta", "aleatoric", "epistemic", "total", "error")

#: overlay display modes: the map alone, or blended over another panel's image
OVERLAY_MODES = {"alone": "Map alone", "darkfield": "Over dark-field", "attenuation": "Over attenuation"}

Window = tuple[float, float]


def finite_sample(array: np.ndarray, limit: int = 100_000) -> np.ndarray:
    """A strided sample of the finite values (fast percentiles on big images)."""
    flat = np.asarray(array, dtype=np.float32).ravel()
    step = max(1, flat.size // limit)
    flat = flat[::step]
    return flat[np.isfinite(flat)]


def percentile_window(arrays: np.ndarray | list[np.ndarray], low: float = 0.5, high: float = 99.5) -> Window:
    """The window spanning the ``low``-th to ``high``-th percentile of the finite pixels."""
    if isinstance(arrays, np.ndarray):
        arrays = [arrays]
    values = np.concatenate([finite_sample(a) for a in arrays]) if arrays else np.zeros(0)
    if values.size == 0:
        return 0.5, 1.0
    lo, hi = (float(v) for v in np.percentile(values, [low, high]))
    return window_from_limits(lo, hi)


def window_from_limits(low: float, high: float) -> Window:
    """``(centre, width)`` for the value range [low, high], never of zero width."""
    if high < low:
        low, high = high, low
    width = high - low
    if not width > 0:
        width = max(abs(high), 1.0) * 1e-3
    return (low + high) / 2.0, width


def window_limits(window: Window) -> tuple[float, float]:
    centre, width = window
    return centre - width / 2.0, centre + width / 2.0


def attenuation_presets(pixels: np.ndarray, file_presets=()) -> list[tuple[str, Window]]:
    """Window presets for an attenuation image: the file's own, then Lung, Bone, Full range, Auto.

    The radiograph's units vary by vendor, so Lung and Bone are percentile windows of this image:
    Lung spans the darker part (1st-65th percentile, the air-filled lungs), Bone the brighter part
    (35th-99.9th percentile); Full range is min-max, Auto the 0.5th-99.5th percentile.
    """
    presets: list[tuple[str, Window]] = []
    for item in file_presets or ():
        name, centre, width = item
        if width and width > 0:
            presets.append((f"File: {name}", (float(centre), float(width))))
    sample = finite_sample(pixels)
    if sample.size == 0:
        return presets
    presets.append(("Lung", percentile_window(pixels, 1.0, 65.0)))
    presets.append(("Bone", percentile_window(pixels, 35.0, 99.9)))
    presets.append(("Full range", window_from_limits(float(sample.min()), float(sample.max()))))
    presets.append(("Auto", percentile_window(pixels)))
    return presets


def format_value(value: float) -> str:
    """Compact number for the readout and colorbar labels: the same text as exported PNGs."""
    return format_number(value)
