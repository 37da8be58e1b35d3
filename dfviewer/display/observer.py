"""A small observer: a :class:`Signal` that calls its subscribers in order. Qt-free.

The viewer model emits these; the widgets subscribe. Callbacks run synchronously in the thread
that emits (the GUI thread for the viewer). As in napari's event emitters, a bound method is held
weakly (a subscriber that is deleted is simply no longer called), a plain function or lambda
strongly; a callback that raises is logged and the others are still called.
"""

from __future__ import annotations

import inspect
import logging
import weakref
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


def _reference(callback: Callable[..., Any]) -> Callable[[], Callable[..., Any] | None]:
    """A callable that gives ``callback`` back, or None once its object is gone (bound methods only)."""
    if inspect.ismethod(callback):
        return weakref.WeakMethod(callback)
    return lambda: callback


class Signal:
    """Subscribers of one kind of change: ``connect(callback)``, ``emit(*args)``."""

    def __init__(self) -> None:
        self._refs: list[Callable[[], Callable[..., Any] | None]] = []

    def connect(self, callback: Callable[..., Any]) -> Callable[..., Any]:
        """Call ``callback(*args)`` on every :meth:`emit`; returns it (usable as a decorator)."""
        self._refs.append(_reference(callback))
        return callback

    def disconnect(self, callback: Callable[..., Any]) -> None:
        """Stop calling ``callback``; ValueError when it is not connected."""
        for i, ref in enumerate(self._refs):
            if ref() == callback:
                del self._refs[i]
                return
        raise ValueError(f"{callback!r} is not connected")

    def emit(self, *args: Any) -> None:
        """Call every live subscriber with ``args``; a failing one is logged, the rest still run."""
        for ref in list(self._refs):
            callback = ref()
            if callback is None:  # its object was deleted
                if ref in self._refs:
                    self._refs.remove(ref)
                continue
            try:
                callback(*args)
            except Exception:  # noqa: BLE001 - one broken view must not starve the others
                log.exception("a subscriber of a viewer signal failed: %r", callback)

    def __len__(self) -> int:
        return sum(ref() is not None for ref in self._refs)
