"""The options every command shares: one --mc, one --device, one set of number checks (issue 24 item 3)."""

from __future__ import annotations

import argparse

import pytest

from dfviewer.cli import options
from dfviewer.cli.main import build_parser, main
from dfviewer.core.results import DEFAULT_MC_SAMPLES, device_choices, is_device_name

#: the start of a command line of each command that has --mc and --device
COMMANDS = {
    "predict": ["predict", "x.png", "--out", "o"],
    "generate": ["generate", "src", "--out", "o"],
    "evaluate": ["evaluate", "--model", "m", "--data", "d"],
    "train": ["train", "--data", "d", "--out", "o"],
}
MC_COMMANDS = ["predict", "generate", "evaluate"]


@pytest.mark.parametrize("command", MC_COMMANDS)
def test_every_command_samples_the_same_number_by_default(command):
    args, _ = build_parser().parse_known_args(COMMANDS[command])
    assert args.mc == DEFAULT_MC_SAMPLES == 20


@pytest.mark.parametrize("command", MC_COMMANDS)
def test_a_negative_sample_count_is_refused_at_parsing_by_every_command(command, capsys):
    with pytest.raises(SystemExit) as info:
        main([*COMMANDS[command], "--mc", "-1"])
    assert info.value.code == 2
    assert "--mc: expected a number >= 0, not -1" in capsys.readouterr().err


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("device", ["auto", "cpu", "cuda", "cuda:1", "CUDA:0", "mps"])
def test_every_command_takes_the_same_device_names(command, device):
    args, _ = build_parser().parse_known_args([*COMMANDS[command], "--device", device])
    assert args.device == device


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("device", ["xpu", "cuda:", "cuda:-1", "cuda:x", "gpu", ""])
def test_an_unknown_device_is_one_sentence_at_parsing(command, device, capsys):
    with pytest.raises(SystemExit) as info:
        main([*COMMANDS[command], "--device", device])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert f"--device: expected auto, cpu, cuda, cuda:N or mps, not {device!r}" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(("parse", "text", "value"), [
    (options.non_negative, "0", 0), (options.non_negative, "7", 7), (options.positive, "1", 1),
])
def test_the_number_types_accept(parse, text, value):
    assert parse(text) == value


@pytest.mark.parametrize(("parse", "text", "message"), [
    (options.non_negative, "-3", "expected a number >= 0, not -3"),
    (options.non_negative, "two", "expected a whole number, not 'two'"),
    (options.positive, "0", "expected a number > 0, not 0"),
    (options.positive, "1.5", "expected a whole number, not '1.5'"),
])
def test_the_number_types_refuse_with_one_sentence(parse, text, message):
    with pytest.raises(argparse.ArgumentTypeError, match=message):
        parse(text)


@pytest.mark.parametrize(("cuda", "mps", "expected"), [
    (0, False, ["auto", "cpu"]),
    (2, False, ["auto", "cpu", "cuda:0", "cuda:1"]),
    (1, True, ["auto", "cpu", "cuda:0", "mps"]),
])
def test_the_devices_offered_follow_the_machine(cuda, mps, expected):
    assert device_choices(cuda, mps) == expected
    assert all(is_device_name(name) for name in expected)


def test_the_devices_this_machine_offers_are_ones_the_predictor_accepts():
    from dfviewer.core.devices import available_devices, select_device

    devices = available_devices()
    assert devices[:2] == ["auto", "cpu"]
    for name in devices:
        assert select_device(name).type in ("cpu", "cuda", "mps")
