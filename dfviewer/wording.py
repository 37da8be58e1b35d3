"""Wording shared by the CLI, the viewer and the wizard (Qt-free)."""

from __future__ import annotations


def plural(count: int, word: str, plural_form: str | None = None) -> str:
    """``1 epoch``, ``2 epochs`` (``plural_form`` for irregular words)."""
    return f"{count} {word if count == 1 else (plural_form or word + 's')}"


def duration(seconds: float, decimals: int = 0) -> str:
    """``45 s``, ``12 min``, ``3.5 h``: seconds below 90, minutes below 90, hours beyond."""
    if seconds < 90:
        return f"{seconds:.{decimals}f} s"
    if seconds < 5400:
        return f"{seconds / 60:.{decimals}f} min"
    return f"{seconds / 3600:.1f} h"
