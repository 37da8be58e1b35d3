"""The thread policy (dfviewer.threads): its decisions, the wait policy at start-up, --threads on the commands."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from dfviewer.threads import CpuSample, busy_elsewhere, choose_threads, free_cores, set_wait_policy


@pytest.mark.parametrize(("allowed", "free", "requested", "expected"), [
    (2, 2.0, None, 2),    # a quiet 2-core machine: both cores
    (2, 1.9, None, 2),    # a little background work leaves both
    (2, 1.0, None, 1),    # one core taken: one thread, none waiting for a busy core
    (2, 0.0, None, 1),    # every core taken: still one thread
    (2, 1.4, None, 1),    # 1.5 free cores count as 2, less as 1
    (2, 1.5, None, 2),
    (8, 5.7, None, 6),
    (8, 12.0, None, 8),   # never more than the cores this process may use
    (2, None, None, 2),   # unknown load: the allowed cores, as before
    (1, None, None, 1),
    (2, 0.0, 4, 4),       # a number the user gives is used as given
    (16, 16.0, 3, 3),
    (0, None, None, 1),   # never fewer than one
])
def test_choose_threads(allowed, free, requested, expected):
    assert choose_threads(allowed, free, requested) == expected


def test_busy_elsewhere_leaves_out_this_process():
    ticks = os.sysconf("SC_CLK_TCK")
    # 1 s on 2 cores: 2 * ticks in all, 1.5 cores busy, 0.5 s of them this process's own
    start = CpuSample(busy=1000, total=5000, cores=2, own_s=10.0, at=0.0)
    end = CpuSample(busy=1000 + int(1.5 * ticks), total=5000 + 2 * ticks, cores=2, own_s=10.5, at=1.0)
    assert busy_elsewhere(start, end) == pytest.approx(1.0)
    assert busy_elsewhere(end, end) is None  # no time between them


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/stat is Linux's")
def test_free_cores_sees_a_busy_process():
    """A real busy loop on the only allowed core leaves no core free; without it the core is mostly free."""
    cpu = sorted(os.sched_getaffinity(0))[0]
    old = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu})
    try:
        quiet = max(free_cores() for _ in range(5))
        busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        try:
            time.sleep(0.5)
            loaded = min(free_cores() for _ in range(5))
        finally:
            busy.kill()
            busy.wait()
    finally:
        os.sched_setaffinity(0, old)
    assert loaded is not None and loaded <= 0.3  # the loop has the core (give or take a tick)
    assert quiet is not None and 0.0 <= quiet <= 1.0


def test_set_wait_policy_keeps_the_users_choice():
    env = {"OMP_WAIT_POLICY": "ACTIVE"}
    set_wait_policy(env)
    assert env == {"OMP_WAIT_POLICY": "ACTIVE"}  # no spin count added: it would cut the user's active wait short
    env = {"GOMP_SPINCOUNT": "0"}
    set_wait_policy(env)
    assert env == {"GOMP_SPINCOUNT": "0"}
    env = {}
    set_wait_policy(env)
    assert env == {"OMP_WAIT_POLICY": "PASSIVE", "GOMP_SPINCOUNT": "3000"}


def _fresh_python(code: str, **env_extra: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    env.update(env_extra)
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)


def test_the_cli_sets_the_wait_policy_before_torch_loads():
    """Importing the entry point sets it, and torch is not loaded yet: its OpenMP runtime will read it."""
    done = _fresh_python("import os, sys; import dfviewer.cli.main; "
                         "print(os.environ.get('OMP_WAIT_POLICY'), 'torch' in sys.modules)")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["PASSIVE", "False"]
    done = _fresh_python("import os, dfviewer.cli.main; print(os.environ['OMP_WAIT_POLICY'])", OMP_WAIT_POLICY="active")
    assert done.stdout.strip() == "active"  # the user's own setting stays


def test_torchs_openmp_runtime_waits_passively():
    """libgomp's own report: after the entry point, idle threads spin 3000 turns (default 300000) before sleeping."""
    code = "import dfviewer.cli.main, torch; torch.ones(4).sum()"
    done = _fresh_python(code, OMP_DISPLAY_ENV="VERBOSE")
    if "GOMP_SPINCOUNT" not in done.stderr:
        pytest.skip("torch's OpenMP runtime is not libgomp (no GOMP_SPINCOUNT in its report)")
    assert "GOMP_SPINCOUNT = '3000'" in done.stderr
    default = _fresh_python("import torch; torch.ones(4).sum()", OMP_DISPLAY_ENV="VERBOSE")
    assert "GOMP_SPINCOUNT = '3000'" not in default.stderr  # torch alone spins longer: the check can tell


@pytest.fixture
def torch_threads():
    import torch

    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def radiograph(tmp_path):
    path = tmp_path / "chest.png"
    Image.fromarray((np.random.default_rng(0).random((40, 48)) * 65535).astype(np.uint16)).save(path)
    return path


@pytest.mark.parametrize("value", ["0", "-2", "two", "1.5"])
def test_predict_refuses_a_bad_thread_count(value, radiograph, tmp_path, capsys):
    from dfviewer.cli.main import main

    with pytest.raises(SystemExit) as stop:
        main(["predict", str(radiograph), "--out", str(tmp_path / "out"), "--threads", value])
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "argument --threads: expected" in err and value in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("value", ["0", "x"])
def test_evaluate_refuses_a_bad_thread_count(value, tmp_path, capsys):
    from dfviewer.cli.main import main

    with pytest.raises(SystemExit) as stop:
        main(["evaluate", "--model", "m.safetensors", "--data", str(tmp_path), "--threads", value])
    assert stop.value.code == 2
    assert "argument --threads: expected" in capsys.readouterr().err


def test_predict_runs_with_the_threads_asked_for(radiograph, tmp_path, tiny_checkpoint, capsys, torch_threads):
    """The logged count is the ONNX Runtime session's (predict runs no torch)."""
    from dfviewer.cli.main import main

    out = tmp_path / "out"
    assert main(["predict", str(radiograph), "--model", str(tiny_checkpoint), "--out", str(out), "--mc", "1",
                 "--stages", "1", "--threads", "1"]) == 0
    assert "1 thread (as asked)" in capsys.readouterr().err
    assert main(["predict", str(radiograph), "--model", str(tiny_checkpoint), "--out", str(out), "--mc", "0",
                 "--stages", "1"]) == 0
    automatic = re.search(r"(\d+) threads? \(automatic\)", capsys.readouterr().err)
    assert automatic is not None and 1 <= int(automatic.group(1)) <= len(os.sched_getaffinity(0))


def test_evaluate_runs_with_the_threads_asked_for(tmp_path, tiny_checkpoint, capsys, torch_threads):
    from _dfv_pairs import make_pairs

    from dfviewer.cli.main import main

    data = make_pairs(tmp_path / "data", n=3, size=40, val=0, test=1)
    assert main(["evaluate", "--model", str(tiny_checkpoint), "--data", str(data), "--mc", "1", "--device", "cpu",
                 "--threads", "1"]) == 0
    assert "1 thread (as asked)" in capsys.readouterr().err


@pytest.mark.parametrize(("allowed", "free", "requested", "processes", "readers", "expected"), [
    (2, 2.0, None, 1, 0, 2),   # one process, no reader: what choose_threads says
    (2, 2.0, None, 1, 1, 1),   # generate's reader gets a core of its own
    (8, 8.0, None, 1, 1, 7),
    (8, 3.2, None, 1, 1, 2),   # the free cores, not the allowed ones, minus the reader
    (2, 0.0, None, 1, 1, 1),   # never fewer than one
    (8, 5.0, None, 4, 0, 2),   # 3 of the 5 busy cores are the other ranks starting: 8 shared by 4
    (8, 1.0, None, 4, 0, 1),   # 7 busy cores, 3 of them the other ranks: 4 cores for 4 ranks
    (16, 16.0, None, 2, 1, 7),
    (2, None, None, 2, 0, 1),  # unknown load: the allowed cores shared
    (2, 0.0, 3, 4, 1, 3),      # a number given is each process's, as given
])
def test_threads_per_process(allowed, free, requested, processes, readers, expected):
    from dfviewer.threads import threads_per_process

    assert threads_per_process(allowed, free, requested, processes=processes, readers=readers) == expected


@pytest.mark.parametrize(("env", "expected"), [
    ({}, 1),
    ({"WORLD_SIZE": "4", "LOCAL_WORLD_SIZE": "2"}, 2),  # two machines, two ranks each
    ({"WORLD_SIZE": "1", "LOCAL_WORLD_SIZE": "3"}, 1),
    ({"WORLD_SIZE": "2", "LOCAL_WORLD_SIZE": "x"}, 1),
])
def test_local_processes_reads_torchruns_environment(env, expected):
    from dfviewer.threads import local_processes

    assert local_processes(env) == expected


@pytest.mark.parametrize("command", [
    ["predict", "x.png", "--out", "o"], ["evaluate", "--model", "m", "--data", "d"],
    ["generate", "src", "--out", "o"], ["train", "--data", "d", "--out", "o"],
])
def test_every_command_takes_the_same_thread_counts(command, capsys):
    from dfviewer.cli.main import build_parser, main
    from dfviewer.threads import MAX_THREADS

    parser = build_parser()
    assert parser.parse_args([*command, "--threads", "3"]).threads == 3
    assert parser.parse_args(command).threads is None  # automatic
    for value in ("0", str(MAX_THREADS + 1)):
        with pytest.raises(SystemExit) as stop:
            main([*command, "--threads", value])
        assert stop.value.code == 2
        assert "argument --threads: expected a number " in capsys.readouterr().err


@pytest.fixture
def sources(tmp_path):
    folder = tmp_path / "src"
    folder.mkdir()
    rng = np.random.default_rng(1)
    for i in range(2):
        Image.fromarray((rng.random((40, 48)) * 65535).astype(np.uint16)).save(folder / f"c{i}.png")
    return folder


def test_generate_uses_the_threads_asked_for_and_else_the_policy(sources, tmp_path, tiny_checkpoint, capsys,
                                                                 torch_threads):
    import torch

    from dfviewer.cli.main import main
    from dfviewer.core import store as st

    common = ["generate", str(sources), "--model", str(tiny_checkpoint), "--mc", "1", "--workers", "0",
              "--batch-size", "2"]
    assert main([*common, "--out", str(tmp_path / "one"), "--threads", "1"]) == 0
    assert "1 thread (as asked) + 0 reader processes" in capsys.readouterr().err
    assert torch.get_num_threads() == 1
    assert [r["status"] for r in st.read_index(tmp_path / "one")] == ["done", "done"]
    assert main([*common, "--out", str(tmp_path / "auto")]) == 0
    err = capsys.readouterr().err
    assert f"{torch.get_num_threads()} thread" in err and "(automatic)" in err
    assert 1 <= torch.get_num_threads() <= len(os.sched_getaffinity(0))


def _tiny_train(data, out, config, *extra):
    return ["train", "--data", str(data), "--out", str(out), "--config", str(config), "--epochs", "1",
            "--working-size", "32", "--batch-size", "3", "--device", "cpu", *extra]


def test_train_uses_the_threads_asked_for_and_else_the_policy(tmp_path, capsys, torch_threads):
    import json

    import torch
    from _dfv_pairs import make_pairs

    from dfviewer.cli.main import main
    from dfviewer.threads import describe

    data = make_pairs(tmp_path / "data", n=8, size=40)
    config = tmp_path / "tiny.json"
    config.write_text(json.dumps({"model": {"base_width": 4, "depth": 2, "n_stages": 1},
                                  "train": {"val_mc_samples": 0}}))
    torch.set_num_threads(2)
    assert main(_tiny_train(data, tmp_path / "one", config, "--threads", "1")) == 0
    assert "dfviewer train: 1 thread (as asked)" in capsys.readouterr().err
    assert torch.get_num_threads() == 1  # the thread that trained
    assert (tmp_path / "one" / "model.safetensors").is_file()
    assert main(_tiny_train(data, tmp_path / "auto", config)) == 0
    assert f"dfviewer train: {describe(torch.get_num_threads())}" in capsys.readouterr().err  # automatic


def test_the_wizard_passes_its_thread_count_to_train():
    from dfviewer.gui.wizard.runs import DeviceChoice, train_command

    cpu = DeviceChoice("CPU", "cpu")
    command = train_command("d", "o", cpu, threads=3)
    assert command.arguments[command.arguments.index("--threads") + 1] == "3"
    assert "OMP_NUM_THREADS" not in command.env
    assert "--threads" not in train_command("d", "o", cpu).arguments  # automatic: the command's policy
