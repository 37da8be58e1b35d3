"""The options and argument types the commands share: every number is checked where it is parsed.

``--mc``, ``--device`` and ``--threads`` read the same in ``predict``, ``generate``, ``evaluate`` and ``train``; their
defaults and the device names come from :mod:`dfviewer.core.results`, which the viewer uses too.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from dfviewer.core import sizes
from dfviewer.core.results import DEFAULT_MC_SAMPLES, DEVICE_HELP, is_device_name
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


def non_negative(text: str) -> int:
    """An argparse type: a whole number >= 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, not {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, not {value}")
    return value


def positive(text: str) -> int:
    """An argparse type: a whole number > 0."""
    value = non_negative(text)
    if value == 0:
        raise argparse.ArgumentTypeError("expected a number > 0, not 0")
    return value


def thread_count(text: str) -> int:
    """An argparse type: compute threads, a whole number from 1 to :data:`~dfviewer.threads.MAX_THREADS`."""
    from dfviewer.threads import MAX_THREADS

    value = positive(text)
    if value > MAX_THREADS:
        raise argparse.ArgumentTypeError(f"expected a number from 1 to {MAX_THREADS}, not {value}")
    return value


#: what automatic threads means, for the --threads help of every command
THREADS_AUTOMATIC = "the cores this process may use that other processes leave free when the work starts"


def add_threads(parser: argparse.ArgumentParser, note: str = "") -> None:
    """``--threads N``: CPU compute threads (default automatic, :mod:`dfviewer.threads`); ``note`` ends the help."""
    parser.add_argument("--threads", type=thread_count, default=None, metavar="N",
                        help=f"CPU compute threads (default: automatic, {THREADS_AUTOMATIC}{note})")


def device(text: str) -> str:
    """An argparse type: a device name (:data:`~dfviewer.core.results.DEVICE_NAMES` or ``cuda:N``).

    Whether the machine has it is checked when the model is loaded.
    """
    if not is_device_name(text):
        raise argparse.ArgumentTypeError(f"expected {DEVICE_HELP}, not {text!r}")
    return text


def add_mc(parser: argparse.ArgumentParser, what: str = "", metavar: str = "N") -> None:
    """``--mc N``: Monte Carlo dropout samples (default :data:`DEFAULT_MC_SAMPLES`); ``what`` ends the
    first words of the help (``" per image"``)."""
    parser.add_argument("--mc", type=non_negative, default=DEFAULT_MC_SAMPLES, metavar=metavar,
                        help=f"Monte Carlo dropout samples{what} (default {DEFAULT_MC_SAMPLES}; 0: one deterministic "
                             "pass, no epistemic map)")


def add_device(parser: argparse.ArgumentParser, note: str = "") -> None:
    """``--device DEV`` (default auto); ``note`` is added to the help (``"; under torchrun: ..."``)."""
    parser.add_argument("--device", type=device, default="auto", metavar="DEV",
                        help=f"compute device: {DEVICE_HELP} (default auto: CUDA, then Apple MPS, then CPU{note})")
