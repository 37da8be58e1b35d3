"""Narrowing of the Qt getters that PyQt6 types as optional where the viewer always has the object."""

from __future__ import annotations

from typing import TypeVar

T = TypeVar("T")


def required(value: T | None, what: str) -> T:
    """``value`` itself; a RuntimeError naming ``what`` when Qt returned None (a programming error)."""
    if value is None:
        raise RuntimeError(f"Qt returned no {what}")
    return value
