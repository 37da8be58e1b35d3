"""What the command line says: help that names the viewer, plurals, the training plan per stage."""

from __future__ import annotations

import io

import pytest

from dfviewer.cli.text import is_terminal, plan_text
from dfviewer.wording import plural


def test_help_names_the_viewer_view_demo_and_files(capsys):
    from dfviewer.cli.main import main

    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    for words in ("FILE", "dfviewer view", "--demo", "opens the viewer"):
        assert words in text


def test_plurals():
    assert plural(1, "epoch") == "1 epoch" and plural(2, "epoch") == "2 epochs" and plural(0, "image") == "0 images"
    assert plural(1, "process", "processes") == "1 process" and plural(4, "process", "processes") == "4 processes"


def test_the_plan_says_epochs_count_per_stage():
    phases = [{"phase": "stage", "stage": k, "epochs": 1} for k in (1, 2, 3)]
    assert plan_text(phases) == "3 stages x 1 epoch each (--epochs counts per stage) = 3 epochs"
    phases.append({"phase": "finetune", "stage": 0, "epochs": 2})
    assert plan_text(phases).endswith("+ 2 fine-tuning epochs = 5 epochs")
    mixed = [{"phase": "stage", "stage": 1, "epochs": 5}, {"phase": "stage", "stage": 2, "epochs": 3}]
    assert plan_text(mixed) == "2 stages of 5, 3 epochs = 8 epochs"


def test_train_progress_first_line_and_no_redraws_in_a_log():
    from dfviewer.cli.train import _Progress
    from dfviewer.core.training_events import RunStarted, StageStarted, StepDone

    log = io.StringIO()
    assert not is_terminal(log)
    progress = _Progress(log)
    progress(RunStarted("out", "cpu", 1, [{"phase": "stage", "stage": k, "epochs": 1} for k in (1, 2)], 2, 0,
                        {"pairs": {"train": 6, "val": 1}}, 1.0))
    progress(StageStarted(1, "stage", 1, 0, 1e-3))
    progress(StepDone(1, 1, 1, 3, 1, 6, {"g_total": 0.5}))
    lines = log.getvalue().splitlines()
    assert lines[0].startswith("training on cpu (1 process): 6 train / 1 val pairs, 2 stages x 1 epoch each "
                               "(--epochs counts per stage) = 2 epochs")
    assert lines[1] == "stage 1: 1 epoch, lr 0.001" and "\r" not in log.getvalue()


class _Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def test_progress_redraws_on_a_terminal_and_writes_tenths_in_a_log():
    from dfviewer.cli.text import ProgressLine

    log = _Stream(tty=False)
    bar = ProgressLine("evaluating", stream=log, unit="images")
    for done in range(1, 101):
        bar(done, 100)
    bar.close()
    lines = log.getvalue().splitlines()
    assert "\r" not in log.getvalue() and len(lines) == 10
    assert lines[0].startswith("evaluating 10/100 images") and lines[-1].startswith("evaluating 100/100 images")
    quiet = _Stream(tty=False)
    ProgressLine("x", stream=quiet, log_lines=False)(1, 2)
    assert quiet.getvalue() == ""
    term = _Stream(tty=True)
    bar = ProgressLine("evaluating", stream=term)
    bar(1, 4)
    bar(2, 4)
    bar.close()
    assert term.getvalue().count("\r") == 3 and "\n" not in term.getvalue() and term.getvalue().endswith("\033[K")


def test_progress_with_rate_logs_every_few_seconds_with_images_per_second_and_time_left():
    from dfviewer.cli.text import ProgressLine

    log = _Stream(tty=False)
    now = [100.0]
    bar = ProgressLine("generate", stream=log, unit="images", rate=True, log_every=5.0, clock=lambda: now[0])
    for done in range(1, 21):
        now[0] += 2.0  # 0.5 images/s
        bar(done, 20)
    lines = log.getvalue().splitlines()
    assert len(lines) == 7  # every 5 s of a 40 s run (each 6 s apart at 2 s a step), and the end
    assert lines[0] == "generate 3/20 images, 0.50 images/s, ~34 s left"
    assert lines[-1].startswith("generate 20/20 images, 0.50 images/s")


def test_phantom_reports_progress_in_lines_off_a_terminal(tmp_path):
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "dfviewer", "phantom", "--out", str(tmp_path / "p"), "--n", "3",
                             "--size", "64", "--seed", "1"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "\r" not in result.stderr and "phantom 3/3 cases" in result.stderr


def _command_parsers():
    """(name, parser) for every sub-command and for the viewer (``dfviewer view``)."""
    import argparse

    from dfviewer.cli.main import build_parser
    from dfviewer.gui.app import build_parser as viewer_parser

    top = build_parser()
    sub = next(a for a in top._actions if isinstance(a, argparse._SubParsersAction))
    return [*sub.choices.items(), ("view", viewer_parser("dfviewer view"))]


def test_every_option_of_every_command_is_explained_with_its_default():
    import argparse

    flags = (argparse._StoreTrueAction, argparse._StoreFalseAction, argparse._StoreConstAction,
             argparse._HelpAction, argparse._VersionAction)
    missing, no_default = [], []
    parsers = _command_parsers()
    assert {name for name, _ in parsers} >= {"predict", "generate", "train", "evaluate", "phantom", "combine",
                                              "domain-fit", "view"}
    for name, parser in parsers:
        for action in parser._actions:
            label = f"{name} {'/'.join(action.option_strings) or action.dest}"
            if not action.help or action.help == argparse.SUPPRESS:
                missing.append(label)
            elif (not isinstance(action, flags) and action.default not in (None, argparse.SUPPRESS)
                  and "default" not in action.help):
                no_default.append(f"{label} (default {action.default!r})")
    assert not missing, f"options without help: {missing}"
    assert not no_default, f"options whose help does not state the default: {no_default}"


def test_each_command_has_its_own_usage_and_error_prefix(capsys):
    from dfviewer.cli.main import main

    for name, _ in _command_parsers():
        with pytest.raises(SystemExit) as done:
            main([name, "--help"])
        assert done.value.code == 0
        out = capsys.readouterr().out
        assert out.startswith(f"usage: dfviewer {name} [-h]"), out[:200]
        assert "COMMAND" not in out.split("\n\n")[0]  # not the top-level usage
        with pytest.raises(SystemExit) as done:
            main([name, "--no-such-option"])
        assert done.value.code == 2
        err = capsys.readouterr().err
        assert err.startswith(f"usage: dfviewer {name} "), err[:200]
        assert f"\ndfviewer {name}: error: " in err and "COMMAND" not in err
