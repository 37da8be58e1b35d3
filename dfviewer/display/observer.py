"""A small observer: a :class:`Signal` that calls its subscribers in order. Qt-free.

The viewer model emits these; the widgets subscribe. Callbacks run synchronously in the thread
that emits (the GUI thread for the viewer).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class Signal:
    """Subscribers of one kind of change: ``connect(callback)``, ``emit(*args)``."""

    def __init__(self) -> None:
        self._callbacks: list[Callable[..., Any]] = []

    def connect(self, callback: Callable[..., Any]) -> Callable[..., Any]:
        """Call ``callback(*args)`` on every :meth:`emit`; returns it (usable as a decorator)."""
        self._callbacks.append(callback)
        return callback

    def disconnect(self, callback: Callable[..., Any]) -> None:
        self._callbacks.remove(callback)

    def emit(self, *args: Any) -> None:
        for callback in list(self._callbacks):
            callback(*args)

    def __len__(self) -> int:
        return len(self._callbacks)
