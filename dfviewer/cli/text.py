"""Small wording helpers for the command-line output."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from dfviewer.wording import duration, plural


def is_terminal(stream: TextIO | Any) -> bool:
    """Whether ``stream`` is a terminal (progress bars redraw one line there; logs and pipes get lines)."""
    return bool(getattr(stream, "isatty", lambda: False)())


def plan_text(phases: list[dict[str, Any]]) -> str:
    """The training plan in words: ``3 stages x 2 epochs each (--epochs counts per stage) = 6 epochs``."""
    stages = [p["epochs"] for p in phases if p["phase"] == "stage"]
    finetune = sum(p["epochs"] for p in phases if p["phase"] != "stage")
    total = sum(stages) + finetune
    if stages and len(set(stages)) == 1:
        text = f"{plural(len(stages), 'stage')} x {plural(stages[0], 'epoch')} each (--epochs counts per stage)"
    else:
        text = f"{plural(len(stages), 'stage')} of {', '.join(str(e) for e in stages)} epochs"
    if finetune:
        text += f" + {plural(finetune, 'fine-tuning epoch')}"
    return f"{text} = {plural(total, 'epoch')}"


class ProgressLine:
    """Progress of a long job on ``stream`` (stderr by default), readable on a terminal and in a log.

    On a terminal one line is redrawn with ``\\r``; on a pipe or in a log a plain line is printed
    each time another tenth of the work is done (and at the end), never a carriage return.
    With ``log_lines=False`` nothing is printed off a terminal (for a job that logs its own line per item);
    with ``log_every`` a log line is printed every that many seconds instead of every tenth.
    ``rate`` adds items per second (a long job over many items). ``clock`` gives the time in seconds.
    """

    def __init__(self, label: str, stream: TextIO | None = None, width: int = 28, unit: str = "",
                 log_lines: bool = True, rate: bool = False, log_every: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.terminal = is_terminal(self.stream)
        self.label = label
        self.width = width
        self.unit = f" {unit}" if unit else ""
        self._clock = clock
        self.start = self._clock()
        self._tenth = 0
        self._drawn = False
        self.log_lines = log_lines
        self.rate = rate
        self.log_every = log_every
        self._last_line = self.start

    def __call__(self, done: int, total: int) -> None:
        if total <= 0:
            return
        now = self._clock()
        elapsed = now - self.start
        eta = elapsed / done * (total - done) if done else 0.0
        counts = f"{done}/{total}{self.unit}"
        if self.rate:
            counts += f", {done / elapsed if elapsed > 0 else 0.0:.2f}{self.unit}/s, ~{duration(eta)} left"
        else:
            counts += f", {elapsed:.0f} s, ~{eta:.0f} s left"
        if self.terminal:
            filled = int(self.width * done / total)
            bar = "#" * filled + "-" * (self.width - filled)
            self.stream.write(f"\r{self.label} [{bar}] {counts} \033[K")
            self._drawn = True
        elif self.log_lines:
            if self.log_every is not None:
                if now - self._last_line < self.log_every and done < total:
                    return
                self._last_line = now
            else:
                tenth = done * 10 // total
                if tenth <= self._tenth and done != total:
                    return
                self._tenth = tenth
            self.stream.write(f"{self.label} {counts}\n")
        else:
            return
        self.stream.flush()

    def close(self) -> None:
        """Clear the redrawn line on a terminal (nothing to do in a log)."""
        if self.terminal and self._drawn:
            self.stream.write("\r\033[K")
            self.stream.flush()
            self._drawn = False
