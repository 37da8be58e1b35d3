"""The cascade's stage count limit and stage-number checks, in a module that imports nothing but errors."""

from __future__ import annotations

from collections.abc import Sequence

from dfviewer.errors import UserError

#: the most stages a cascade may have (the viewer offers a button and a key for each)
MAX_STAGES = 8


def check_stages(stages: Sequence[int] | None, n: int) -> list[int]:
    """The requested stage numbers sorted and checked against a cascade of ``n`` (None: all of them)."""
    if stages is None:
        return list(range(1, n + 1))
    wanted = sorted({int(s) for s in stages})
    if not wanted or wanted[0] < 1 or wanted[-1] > n:
        raise UserError(f"stages must be numbers from 1 to {n}, not {list(stages)}")
    return wanted
