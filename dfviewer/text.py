"""Wording shared by the CLI, the viewer and the wizard (Qt-free)."""

from __future__ import annotations


def plural(count: int, word: str, plural_form: str | None = None) -> str:
    """``1 epoch``, ``2 epochs`` (``plural_form`` for irregular words)."""
    return f"{count} {word if count == 1 else (plural_form or word + 's')}"
