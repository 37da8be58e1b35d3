"""Small wording helpers for the command-line output."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from dfviewer.text import plural


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
    With ``log_lines=False`` nothing is printed off a terminal (for a job that logs its own line per item).
    """

    def __init__(self, label: str, stream: TextIO | None = None, width: int = 28, unit: str = "",
                 log_lines: bool = True) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.terminal = is_terminal(self.stream)
        self.label = label
        self.width = width
        self.unit = f" {unit}" if unit else ""
        self._clock = time.monotonic
        self.start = self._clock()
        self._tenth = 0
        self._drawn = False
        self.log_lines = log_lines

    def __call__(self, done: int, total: int) -> None:
        if total <= 0:
            return
        elapsed = self._clock() - self.start
        eta = elapsed / done * (total - done) if done else 0.0
        counts = f"{done}/{total}{self.unit}, {elapsed:.0f} s, ~{eta:.0f} s left"
        if self.terminal:
            filled = int(self.width * done / total)
            bar = "#" * filled + "-" * (self.width - filled)
            self.stream.write(f"\r{self.label} [{bar}] {counts} ")
            self._drawn = True
        elif self.log_lines:
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
