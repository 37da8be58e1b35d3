"""The table of maps: key, label, symbol, colormap, units, shortcut, tooltip, file name. Qt-free.

One table for the viewer's panels, the exports of the viewer and of ``dfviewer predict``, and
the wizard's previews (docs/method.md §7).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MapInfo:
    key: str
    label: str  # long name for titles and tables
    symbol: str  # short name for the status bar readout
    colormap: str
    units: str
    shortcut: str
    tooltip: str
    file_name: str  # in exported file names: ``<stem>_stage<k>_<file_name>.png``


#: every map a panel can show; the order is the order of the overlay buttons
MAPS: dict[str, MapInfo] = {
    "attenuation": MapInfo(
        "attenuation", "Attenuation (input)", "Att", "gray", "a.u.", "",
        "The attenuation radiograph as read from the file (bone and heart bright, lungs dark).",
        "attenuation",
    ),
    "mean": MapInfo(
        "mean", "Generated dark-field", "DF", "gray", "a.u.", "",
        "The dark-field image the model generates: lungs appear bright (many alveolar air-tissue "
        "interfaces scatter X-rays), emphysema shows as darker patches, bones and heart are nearly invisible.",
        "darkfield",
    ),
    "truth": MapInfo(
        "truth", "Real dark-field", "DF true", "gray", "a.u.", "",
        "The measured dark-field image loaded beside the input, for comparison.",
        "truth",
    ),
    "alpha": MapInfo(
        "alpha", "Alpha (GGD scale)", "α", "viridis", "a.u.", "A",
        "Alpha: the scale of the generalized Gaussian the model predicts for its residual; "
        "larger alpha means a wider error distribution at that pixel.",
        "alpha",
    ),
    "beta": MapInfo(
        "beta", "Beta (GGD shape)", "β", "cividis", "", "B",
        "Beta: the shape of the generalized Gaussian (2 Gaussian, 1 Laplacian, below 1 heavy-tailed: "
        "occasional large errors are likely).",
        "beta",
    ),
    "aleatoric": MapInfo(
        "aleatoric", "Aleatoric σ", "σ_al", "magma", "a.u.", "L",
        "Aleatoric uncertainty (standard deviation from alpha and beta): ambiguous signal in the data "
        "itself; it concentrates in the lungs and falls from stage to stage.",
        "aleatoric",
    ),
    "epistemic": MapInfo(
        "epistemic", "Epistemic σ", "σ_ep", "inferno", "a.u.", "E",
        "Epistemic uncertainty (spread over Monte Carlo dropout samples): high where the input is unlike "
        "the training data, e.g. cables, pacemakers or unusual contrast. Zero in the quick preview.",
        "epistemic",
    ),
    "total": MapInfo(
        "total", "Total σ", "σ", "magma", "a.u.", "T",
        "Total uncertainty: sqrt(aleatoric² + epistemic²), the overall standard deviation to expect "
        "between the generated and the real dark-field.",
        "total",
    ),
    "error": MapInfo(
        "error", "Absolute error", "|err|", "inferno", "a.u.", "X",
        "Absolute difference between the generated and the real dark-field (only when a real "
        "dark-field is loaded).",
        "error",
    ),
}

#: maps the overlay panel can show, in button order
OVERLAY_MAPS = ("alpha", "beta", "aleatoric", "epistemic", "total", "error")

#: overlay display modes: the map alone, or blended over another panel's image
OVERLAY_MODES = {"alone": "Map alone", "darkfield": "Over dark-field", "attenuation": "Over attenuation"}

#: the maps the predictor computes for every stage (the order of ``core.inference.MAP_NAMES``)
PREDICTED_MAPS = ("mean", "alpha", "beta", "aleatoric", "epistemic", "total")

#: maps of one stage in an export (the error only with a real dark-field)
STAGE_MAPS = PREDICTED_MAPS + ("error",)
