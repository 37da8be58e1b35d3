"""Small wording helpers for the command-line output."""

from __future__ import annotations

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
