"""The keyboard shortcuts (shown in Help > Shortcuts and docs/viewer.md)."""

from __future__ import annotations

SHORTCUTS: list[tuple[str, str]] = [
    ("Ctrl+O", "Open image(s)"),
    ("Ctrl+Shift+O", "Open folder"),
    ("Ctrl+E", "Export the panel last clicked (default: overlay) as PNG, as shown"),
    ("Ctrl+Shift+E", "Export all maps of all stages to a folder"),
    ("1 / 2 / 3 (… 8)", "Show stage 1, 2, 3 (and up to 8 in longer cascades)"),
    ("A", "Overlay: alpha (GGD scale)"),
    ("B", "Overlay: beta (GGD shape)"),
    ("L", "Overlay: aleatoric σ"),
    ("E", "Overlay: epistemic σ"),
    ("T", "Overlay: total σ"),
    ("X", "Overlay: absolute error (with a real dark-field)"),
    ("R", "Reset view (fit image or crop box)"),
    ("C", "Toggle lung crop"),
    ("O", "Cycle overlay mode (alone / over dark-field / over attenuation)"),
    ("[ / ]", "Overlay opacity down / up"),
    ("W", "Reset the window of the active panel"),
    ("Page Down / Page Up", "Next / previous image of the folder"),
    ("Esc", "Cancel inference"),
    ("F5", "Run inference again"),
    ("Ctrl+,", "Preferences"),
    ("Ctrl+Q", "Quit"),
    ("Mouse: left-drag / wheel", "Pan / zoom (all panels together)"),
    ("Mouse: right-drag", "Window: horizontal = width, vertical = level"),
    ("Mouse: double-click", "Reset view"),
]
