"""Run a Python function off the GUI thread, with progress, cancel and a result or an error signal."""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable
from typing import Any

from PyQt6.QtCore import QObject, QThread, pyqtSignal

from dfviewer.errors import first_line


class _Runner(QThread):
    progressed = pyqtSignal(int, int)
    succeeded = pyqtSignal(object)
    failed = pyqtSignal(str, str)

    def __init__(self, function: Callable[..., Any], cancel: threading.Event) -> None:
        super().__init__()
        self.function = function
        self.cancel = cancel

    def run(self) -> None:
        try:
            result = self.function(lambda done, total: self.progressed.emit(int(done), int(total)), self.cancel)
        except Exception as exc:  # noqa: BLE001 - every failure reaches the page that started the task
            message = first_line(exc)
            self.failed.emit(message, traceback.format_exc())
        else:
            self.succeeded.emit(result)


class BackgroundTask(QObject):
    """One function at a time on a worker thread: ``start(fn)`` where ``fn(progress, cancel)``.

    Signals: ``progress(done, total)``, ``finished(result)``, ``failed(message, details)``;
    ``running`` says whether a function is under way. ``cancel()`` sets the function's
    ``threading.Event``; ``wait()`` blocks until the thread has ended (used on close).
    """

    progress = pyqtSignal(int, int)
    finished = pyqtSignal(object)
    failed = pyqtSignal(str, str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._runner: _Runner | None = None
        self._old: list[_Runner] = []

    @property
    def running(self) -> bool:
        return self._runner is not None and self._runner.isRunning()

    def start(self, function: Callable[[Callable[[int, int], None], threading.Event], Any]) -> None:
        if self.running:
            raise RuntimeError("a task is already running")
        runner = _Runner(function, threading.Event())
        runner.progressed.connect(self.progress)
        runner.succeeded.connect(lambda result, r=runner: self._done(r, result, None))
        runner.failed.connect(lambda message, details, r=runner: self._done(r, None, (message, details)))
        self._runner = runner
        runner.start()

    def _done(self, runner: _Runner, result: Any, error: tuple[str, str] | None) -> None:
        if runner is not self._runner:
            return
        runner.wait()
        self._runner = None
        self._old = [r for r in self._old if r.isRunning()] + [runner]
        if error is None:
            self.finished.emit(result)
        else:
            self.failed.emit(*error)

    def cancel(self) -> None:
        if self._runner is not None:
            self._runner.cancel.set()

    def wait(self, msecs: int = 60_000) -> bool:
        """Cancel and wait for the thread (True when it ended in time)."""
        runner = self._runner
        if runner is None:
            return True
        runner.cancel.set()
        return runner.wait(msecs)
