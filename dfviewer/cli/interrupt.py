"""The one Ctrl-C handling of the long commands (``train``, ``generate``): stop gently, then at once."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

#: the signals that ask a run to stop: Ctrl-C and a polite kill (a scheduler's, torchrun's)
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def stop_on_signals(stop: threading.Event, message: Callable[[], None]) -> Iterator[threading.Event]:
    """Within the block the first Ctrl-C (or SIGTERM) sets ``stop`` and calls ``message``; a second one
    puts the previous handlers back and raises :class:`KeyboardInterrupt` at once.

    The previous handlers are back when the block ends, however it ends. Off the main thread, where
    Python allows no handlers, the block runs with the handlers as they are.
    """
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    # None: a handler not set from Python, which cannot be put back; the default stands in
    previous = {sig: signal.getsignal(sig) or signal.SIG_DFL for sig in STOP_SIGNALS}

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    def on_signal(signum: int, frame: Any) -> None:
        if stop.is_set():
            restore()
            raise KeyboardInterrupt
        stop.set()
        message()

    for sig in STOP_SIGNALS:
        signal.signal(sig, on_signal)
    try:
        yield stop
    finally:
        restore()
