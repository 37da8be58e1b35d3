"""Argument types shared by the commands: every size option is bounded where it is parsed."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from dfviewer.core import sizes
from dfviewer.errors import UserError


def bounded(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: a whole number from ``low`` to ``high`` (argparse names the option, exit 2)."""

    def parse(text: str) -> int:
        try:
            return sizes.check_size(text, "the value", low, high)
        except UserError as exc:
            raise argparse.ArgumentTypeError(str(exc)[len("the value "):]) from None

    parse.__name__ = f"number from {low} to {high}"
    return parse


#: --working-size of predict, evaluate and train
working_size = bounded(sizes.MIN_WORKING_SIZE, sizes.MAX_WORKING_SIZE)
WORKING_SIZE_RANGE = f"{sizes.MIN_WORKING_SIZE} to {sizes.MAX_WORKING_SIZE}"
