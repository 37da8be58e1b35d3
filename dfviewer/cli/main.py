"""The ``dfviewer`` command: sub-commands for the headless jobs, the viewer otherwise.

``dfviewer predict|generate|train|evaluate|phantom|combine|domain-fit|export ...`` run headless; anything else (no
arguments, files, ``--demo``) opens the viewer. Each sub-command lives in
``dfviewer/cli/<name>.py`` with ``add_arguments(parser)`` and ``run(args) -> int``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from dfviewer import __version__
from dfviewer.errors import UserError, sentence
from dfviewer.threads import set_wait_policy

# Before any sub-command imports torch: its OpenMP runtime reads the wait policy once, at load.
set_wait_policy()

#: sub-command -> one-line help; the module ``dfviewer.cli.<name>`` implements it.
COMMANDS: dict[str, str] = {
    "predict": "generate dark-field and uncertainty maps for radiographs",
    "generate": "generate maps for a whole collection into a sharded store (resumable, torchrun-ready)",
    "phantom": "write a simulated paired attenuation / dark-field chest dataset",
    "train": "train the progressive model on paired attenuation / dark-field images",
    "evaluate": "score a model per stage on paired data (MSE, PSNR, SSIM, uncertainty quality)",
    "combine": "write one manifest over several paired datasets, to train or evaluate on them together",
    "domain-fit": "store in a model a check that flags inputs unlike frontal chest radiographs",
    "export": "write a model's ONNX inference graph (the network, with the dropout masks as inputs)",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dfviewer",
        usage="dfviewer [FILE ...] [--demo] [viewer options]\n       dfviewer view [FILE ...]\n"
              "       dfviewer COMMAND [options]",
        description="Uncertainty-guided dark-field generation from attenuation chest radiographs.",
        epilog="Without a command dfviewer opens the viewer: `dfviewer FILE...` (or `dfviewer view FILE...`) "
               "opens radiographs and folders, `dfviewer --demo` a bundled sample case with the bundled model; "
               "`dfviewer view --help` lists the viewer's options (--model, --device, --mc, --screenshot, ...). "
               "`dfviewer COMMAND --help` explains a command.",
    )
    parser.add_argument("--version", action="version", version=f"dfviewer {__version__}")
    # prog: without it every command's usage and errors would start with the 3-line usage above
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", prog="dfviewer")
    for name, help_text in COMMANDS.items():
        module = importlib.import_module(f"dfviewer.cli.{name.replace('-', '_')}")
        command_parser = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(command_parser)
        command_parser.set_defaults(_module=module, _parser=command_parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in COMMANDS and argv[0] not in ("-h", "--help", "--version"):
        return _run_viewer(argv)
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # said by the command's parser: its usage, not the top-level one
        getattr(args, "_parser", parser).error(f"unrecognized arguments: {' '.join(unknown)}")
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return int(args._module.run(args) or 0)
    except UserError as exc:
        print(f"dfviewer {args.command}: {sentence(str(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"dfviewer {args.command}: cancelled", file=sys.stderr)
        return 130


def _run_viewer(argv: list[str]) -> int:
    # imported here: the headless commands never load Qt
    gui = importlib.import_module("dfviewer.gui.app")
    return int(gui.main(argv) or 0)
