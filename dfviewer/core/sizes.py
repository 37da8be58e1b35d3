"""The bounds of every size a user or a file can ask for, and the one check that applies them.

Each command checks its size options where it parses them (``dfviewer.cli.options``), the viewer
its preference, and the core again where a size is used, so an absurd size is one sentence up
front instead of a run that takes minutes per image or fails for every input.
"""

from __future__ import annotations

from typing import Any

from dfviewer.errors import UserError

#: the largest working size (pixels on the network's longer side) anyone may ask for: room for the
#: paper preset's 960. A 32 x 32 PNG with 20 MC samples and the bundled model on the idle 2-core
#: machine (`/usr/bin/time dfviewer predict tiny.png --working-size N`): 1024 took 15.5 s and 1.0 GB,
#: 2048 took 63 s and 3.4 GB (182 s beside other jobs); 4096 would take about four times that again.
MAX_WORKING_SIZE = 1024
#: the smallest: below it a chest's lungs are a few pixels wide and the maps have no meaning
MIN_WORKING_SIZE = 32
#: stored maps are resampled from the working size, so a larger stored size only adds interpolation
MAX_STORED_SIZE = MAX_WORKING_SIZE
#: images per generate batch: every image of a batch is held at its working size at once
MAX_GENERATE_BATCH = 64
#: images per training step
MAX_TRAIN_BATCH = 256
#: images per shard file of a generate store
MAX_SHARD_SIZE = 10_000
#: a phantom's side in pixels (the simulator's own limits)
PHANTOM_SIZES = (16, 4096)
#: cases of one phantom dataset
MAX_PHANTOM_CASES = 1_000_000


def check_size(value: Any, what: str, low: int, high: int) -> int:
    """``value`` as an int when it is a whole number from ``low`` to ``high``; else one sentence naming ``what``."""
    try:
        number = int(str(value).strip()) if not isinstance(value, bool) else None
    except ValueError:
        number = None
    if number is None:
        raise UserError(f"{what} must be a whole number from {low} to {high}, not {str(value)[:40]!r}")
    if not low <= number <= high:
        raise UserError(f"{what} must be from {low} to {high}, not {number}")
    return number


def check_working_size(value: Any, what: str = "the working size") -> int:
    """A working size within :data:`MIN_WORKING_SIZE` .. :data:`MAX_WORKING_SIZE`."""
    return check_size(value, what, MIN_WORKING_SIZE, MAX_WORKING_SIZE)
