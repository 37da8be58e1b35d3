"""The training child process: ``dfviewer train --events-json`` under a QProcess, its events, pause and cancel.

Why a child process rather than a thread: training stays out of the GUI process entirely (an
out-of-memory kill, a CUDA error or a crash in a native library ends the child, not the viewer),
cancel and pause are plain signals, several GPUs need separate processes anyway (torchrun), and
the wizard runs exactly the command a user could type, so the two can never diverge.

On POSIX the child starts in its own session, so pause (SIGSTOP/SIGCONT) and cancel (SIGINT, which
the CLI turns into "stop after this step") reach torchrun's workers too. Cancel keeps the last
complete epoch: checkpoints are written atomically, so even a hard kill (Windows, or a child that
ignores the request) leaves the last one intact.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

from PyQt6.QtCore import QObject, QProcess, QProcessEnvironment, QTimer, pyqtSignal

from dfviewer.core.training_events import Finished, event_from_json
from dfviewer.gui.wizard.runs import TrainCommand

KILL_AFTER_MS = 20_000


class TrainingProcess(QObject):
    """Runs one :class:`TrainCommand` at a time and turns its stdout into training events.

    Signals: ``event_received(Event)``; ``log(text, kind)`` with kind ``info``/``stdout``/``stderr``;
    ``state_changed(state)`` (``running``, ``paused``, ``stopping``, ``idle``);
    ``ended(status, model_path, message, details)`` with status ``completed``, ``cancelled`` or
    ``failed`` (``model_path`` may be empty).
    """

    event_received = pyqtSignal(object)
    log = pyqtSignal(str, str)
    state_changed = pyqtSignal(str)
    ended = pyqtSignal(str, str, str, str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.process: QProcess | None = None
        self.state = "idle"
        self._buffer = b""
        self._stderr: list[str] = []
        self._finished: Finished | None = None
        self._cancel_requested = False
        self._out_dir: Path | None = None
        self.paused_seconds = 0.0
        self._paused_at: float | None = None
        self._kill_timer = QTimer(self)
        self._kill_timer.setSingleShot(True)
        self._kill_timer.timeout.connect(self._kill)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.state() != QProcess.ProcessState.NotRunning

    @staticmethod
    def can_pause() -> bool:
        return hasattr(signal, "SIGSTOP") and hasattr(os, "killpg")

    def start(self, command: TrainCommand, out_dir: str | Path | None = None) -> None:
        if self.running:
            raise RuntimeError("training is already running")
        self._buffer, self._stderr, self._finished = b"", [], None
        self._cancel_requested = False
        self._out_dir = Path(out_dir) if out_dir else None
        self.paused_seconds, self._paused_at = 0.0, None
        proc = QProcess(self)
        env = QProcessEnvironment.systemEnvironment()
        for key, value in command.env.items():
            env.insert(key, value)
        proc.setProcessEnvironment(env)
        if hasattr(proc, "setUnixProcessParameters") and os.name == "posix":
            flags = QProcess.UnixProcessFlag.CreateNewSession
            proc.setUnixProcessParameters(flags)
        proc.readyReadStandardOutput.connect(self._read_stdout)
        proc.readyReadStandardError.connect(self._read_stderr)
        proc.finished.connect(self._on_finished)
        proc.errorOccurred.connect(self._on_error)
        self.process = proc
        self.log.emit(f"$ {command.shell_text()}", "info")
        self._set_state("running")
        proc.start(command.program, command.arguments)

    # -- control --

    def _signal(self, sig: int) -> bool:
        if self.process is None or not self.running:
            return False
        pid = int(self.process.processId())
        if pid <= 0:
            return False
        try:
            if os.name == "posix":
                os.killpg(pid, sig)  # the child leads its own session and process group
            else:
                os.kill(pid, sig)
        except (ProcessLookupError, PermissionError, OSError):
            return False
        return True

    def pause(self) -> None:
        if self.state == "running" and self.can_pause() and self._signal(signal.SIGSTOP):
            self._paused_at = time.perf_counter()
            self.log.emit("paused", "info")
            self._set_state("paused")

    def resume(self) -> None:
        if self.state == "paused" and self._signal(signal.SIGCONT):
            if self._paused_at is not None:
                self.paused_seconds += time.perf_counter() - self._paused_at
            self._paused_at = None
            self.log.emit("continued", "info")
            self._set_state("running")

    def cancel(self) -> None:
        """Stop after the current step; the last complete epoch's checkpoint stays."""
        if not self.running or self._cancel_requested:
            return
        self._cancel_requested = True
        was_paused = self.state == "paused"
        self._set_state("stopping")
        self.log.emit("stopping after the current step…", "info")
        if os.name == "posix":
            self._signal(signal.SIGINT)
            if was_paused:
                self._signal(signal.SIGCONT)
            self._kill_timer.start(KILL_AFTER_MS)
        else:
            self._kill()

    def _kill(self) -> None:
        if self.running:
            self.log.emit("the training process did not stop in time; ending it", "info")
            if os.name == "posix":
                self._signal(signal.SIGKILL)
            elif self.process is not None:
                self.process.kill()

    def wait(self, msecs: int = 30_000) -> bool:
        """Block until the child has ended (after :meth:`cancel`)."""
        if self.process is None or not self.running:
            return True
        return self.process.waitForFinished(msecs)

    # -- reading --

    def _set_state(self, state: str) -> None:
        self.state = state
        self.state_changed.emit(state)

    def _read_stdout(self) -> None:
        if self.process is None:
            return
        self._buffer += self.process.readAllStandardOutput().data()
        *lines, self._buffer = self._buffer.split(b"\n")
        for raw in lines:
            self._handle_line(raw)

    def _handle_line(self, raw: bytes) -> None:
        text = raw.decode("utf-8", "replace").strip()
        if not text:
            return
        if text.startswith("{"):
            try:
                event = event_from_json(text)
            except (json.JSONDecodeError, KeyError, TypeError, ValueError):
                pass
            else:
                if isinstance(event, Finished):
                    self._finished = event
                self.event_received.emit(event)
                return
        self.log.emit(text, "stdout")

    def _read_stderr(self) -> None:
        if self.process is None:
            return
        text = self.process.readAllStandardError().data().decode("utf-8", "replace")
        for line in text.splitlines():
            if line.strip():
                self._stderr.append(line)
                del self._stderr[:-400]
                self.log.emit(line, "stderr")

    def _on_error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            self._kill_timer.stop()
            self._set_state("idle")
            self.ended.emit("failed", "", "the training process could not be started "
                            f"({self.process.errorString() if self.process is not None else error.name})", "")

    def _on_finished(self, code: int, status: QProcess.ExitStatus) -> None:
        self._kill_timer.stop()
        if self._buffer:
            self._handle_line(self._buffer)
            self._buffer = b""
        self._read_stderr_rest()
        self._set_state("idle")
        fin = self._finished
        if fin is not None and fin.status == "completed" and code == 0:
            self.ended.emit("completed", fin.model_path or "", "", "")
            return
        if self._cancel_requested or (fin is not None and fin.status == "cancelled"):
            path = fin.model_path if fin is not None and fin.model_path else self._last_checkpoint()
            self.ended.emit("cancelled", path, "", "")
            return
        details = "\n".join(self._stderr[-200:])
        message = _error_sentence(self._stderr)
        if status == QProcess.ExitStatus.CrashExit:
            message = message or "the training process crashed"
        elif not message:
            message = f"the training process ended with exit code {code}"
        self.ended.emit("failed", "", message, details)

    def _read_stderr_rest(self) -> None:
        if self.process is not None:
            rest = self.process.readAllStandardError().data().decode("utf-8", "replace")
            for line in rest.splitlines():
                if line.strip():
                    self._stderr.append(line)
                    self.log.emit(line, "stderr")

    def _last_checkpoint(self) -> str:
        if self._out_dir is not None:
            from dfviewer.core.run_files import LAST_NAME

            last = self._out_dir / LAST_NAME
            if last.is_file():
                return str(last)
        return ""


def _error_sentence(lines: list[str]) -> str:
    """The one-sentence error of the CLI (``dfviewer train: ...``) or a traceback's last line."""
    for line in reversed(lines):
        text = line.strip()
        for prefix in ("dfviewer train: ", "dfviewer: "):
            if text.startswith(prefix):
                return text[len(prefix):]
    for line in reversed(lines):
        text = line.strip()
        if text and not text.startswith(("File ", "^", "~")) and ("Error" in text or "Exception" in text):
            return text
    return ""
