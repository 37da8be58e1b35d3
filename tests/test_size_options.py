"""Every size a user can ask for is bounded where it is parsed: one sentence up front, exit 2 (issue 23 item 9)."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from dfviewer.cli.main import build_parser, main
from dfviewer.core import sizes
from dfviewer.errors import UserError

#: (command line before the option, option, lowest, highest): every size option of every command
SIZE_OPTIONS = [
    (["predict", "x.png", "--out", "o"], "--working-size", sizes.MIN_WORKING_SIZE, sizes.MAX_WORKING_SIZE),
    (["generate", "src", "--out", "o"], "--size", 1, sizes.MAX_STORED_SIZE),
    (["generate", "src", "--out", "o"], "--batch-size", 1, sizes.MAX_GENERATE_BATCH),
    (["generate", "src", "--out", "o"], "--shard-size", 1, sizes.MAX_SHARD_SIZE),
    (["evaluate", "--model", "m", "--data", "d"], "--working-size", sizes.MIN_WORKING_SIZE, sizes.MAX_WORKING_SIZE),
    (["train", "--data", "d", "--out", "o"], "--working-size", sizes.MIN_WORKING_SIZE, sizes.MAX_WORKING_SIZE),
    (["train", "--data", "d", "--out", "o"], "--batch-size", 1, sizes.MAX_TRAIN_BATCH),
    (["phantom", "--out", "o"], "--size", *sizes.PHANTOM_SIZES),
    (["phantom", "--out", "o"], "--n", 1, sizes.MAX_PHANTOM_CASES),
]
IDS = [f"{line[0]} {option}" for line, option, _, _ in SIZE_OPTIONS]


@pytest.mark.parametrize(("line", "option", "low", "high"), SIZE_OPTIONS, ids=IDS)
def test_the_bounds_themselves_are_accepted(line, option, low, high):
    parser = build_parser()
    dest = option.lstrip("-").replace("-", "_")
    for value in (low, high):
        args, _ = parser.parse_known_args([*line, option, str(value)])
        assert getattr(args, dest) == value


@pytest.mark.parametrize(("line", "option", "low", "high"), SIZE_OPTIONS, ids=IDS)
def test_sizes_beyond_the_bounds_are_one_sentence_at_parsing(line, option, low, high, capsys):
    huge = 100 * high
    for value, said in ((str(high + 1), f"must be from {low} to {high}, not {high + 1}"),
                        (str(low - 1), f"must be from {low} to {high}, not {low - 1}"),
                        (str(huge), f"must be from {low} to {high}, not {huge}"),
                        ("1e3", f"must be a whole number from {low} to {high}, not '1e3'")):
        with pytest.raises(SystemExit) as info:
            main([*line, option, value])
        assert info.value.code == 2
        err = capsys.readouterr().err.strip().splitlines()[-1]
        assert err == f"dfviewer {line[0]}: error: argument {option}: {said}"


def test_working_size_100000_is_refused_before_any_input_is_read_or_any_output_written(tmp_path, tiny_checkpoint):
    image = tmp_path / "tiny.png"
    Image.fromarray(np.full((8, 8), 128, dtype=np.uint8)).save(image)
    out = tmp_path / "out"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "dfviewer", "predict", str(image), "--out", str(out), "--model",
                           str(tiny_checkpoint), "--working-size", "100000"], env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == (
        f"dfviewer predict: error: argument --working-size: must be from {sizes.MIN_WORKING_SIZE} to "
        f"{sizes.MAX_WORKING_SIZE}, not 100000")
    assert "Traceback" not in proc.stderr and not out.exists()


def test_the_core_refuses_a_working_size_beyond_the_bounds_too(tiny_checkpoint):
    from dfviewer.core.inference import Predictor

    predictor = Predictor.from_checkpoint(tiny_checkpoint, device="cpu")
    image = np.random.default_rng(0).random((40, 40)).astype(np.float32)
    for size in (4096, 0, 31):
        with pytest.raises(UserError) as info:
            predictor.predict(image, mc_samples=0, working_size=size)
        assert str(info.value) == f"the working size must be from 32 to {sizes.MAX_WORKING_SIZE}, not {size}"
    assert predictor.predict(image, mc_samples=0, working_size=32)[-1].mean.shape == (40, 40)


def test_a_model_config_may_not_declare_a_working_size_beyond_the_bound():
    from dfviewer.core.config import ConfigError, ModelConfig

    ModelConfig(base_width=4, depth=2, working_size=sizes.MAX_WORKING_SIZE)
    with pytest.raises(ConfigError, match=f"working_size must be at most {sizes.MAX_WORKING_SIZE}"):
        ModelConfig(base_width=4, depth=2, working_size=4096)


def test_the_phantom_bounds_are_the_simulators_own():
    from dfviewer.phantom import PhantomConfig
    from dfviewer.phantom.config import PhantomConfigError

    low, high = sizes.PHANTOM_SIZES
    PhantomConfig(size=low)
    PhantomConfig(size=high)
    for size in (low - 1, high + 1):
        with pytest.raises(PhantomConfigError) as info:
            PhantomConfig(size=size)
        assert str(info.value) == f"phantom size must be an integer from {low} to {high}, not {size}."


def test_the_viewers_working_size_preference_is_bounded(qtbot, tmp_path, tiny_checkpoint):
    from PyQt6.QtCore import QSettings

    from dfviewer.gui.dialogs import PreferencesDialog
    from dfviewer.gui.main_window import MainWindow

    settings = QSettings(str(tmp_path / "dfviewer.ini"), QSettings.Format.IniFormat)
    settings.setValue("working_size", "100000")  # a settings file edited by hand, or by an older version
    window = MainWindow(settings=settings, model_path=str(tiny_checkpoint), device="cpu", mc_samples=1)
    qtbot.addWidget(window)
    try:
        assert window.state.preferences.working_size == 0  # the model's own size
        window.apply_preferences(model=str(tiny_checkpoint), mc=1, working_size=4096, device="cpu")
        assert window.state.preferences.working_size == 0 and int(settings.value("working_size")) == 0
        window.apply_preferences(model=str(tiny_checkpoint), mc=1, working_size=512, device="cpu")
        assert window.state.preferences.working_size == 512
        dialog = PreferencesDialog(window, str(tiny_checkpoint), 1, 512, "cpu", ["cpu"], 0)
        qtbot.addWidget(dialog)
        assert dialog.working.maximum() == sizes.MAX_WORKING_SIZE
        dialog.working.setValue(100000)
        assert dialog.values()["working_size"] == sizes.MAX_WORKING_SIZE
    finally:
        window.shutdown()


@pytest.mark.parametrize("size", ["100000x800", "1280x9000", "100x100", "big"])
def test_the_screenshot_size_is_bounded(size):
    from dfviewer.gui.app import parse_size

    with pytest.raises(SystemExit, match="200x150 to 7680x4320"):
        parse_size(size)
    assert parse_size("7680x4320") == (7680, 4320)


def test_every_cli_size_option_uses_the_shared_bounds():
    """A size option added later without a bound fails here: each one's type is the shared validator."""
    parser = build_parser()
    commands = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction").choices
    unbounded = []
    for name, sub in commands.items():
        for action in sub._actions:
            flag = next((o for o in action.option_strings if o.startswith("--")), "")
            if flag.endswith(("-size", "--n")) and getattr(action.type, "__name__", "").startswith("number from"):
                continue
            if flag.endswith(("-size", "--n")):
                unbounded.append(f"{name} {flag}")
    assert unbounded == []
    covered = {f"{line[0]} {option}" for line, option, _, _ in SIZE_OPTIONS}
    found = {f"{name} {flag}" for name, sub in commands.items() for action in sub._actions
             for flag in action.option_strings if flag.endswith(("-size", "--n"))}
    assert found == covered


def test_the_size_check_names_what_it_checks():
    assert sizes.check_size(" 64 ", "x", 1, 64) == 64
    for value in (True, None, "abc", 2.5):
        with pytest.raises(UserError, match="must be a whole number from 1 to 64"):
            sizes.check_size(value, "x", 1, 64)
