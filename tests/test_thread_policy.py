"""The thread policy (dfviewer.threads): its decisions, the wait policy at start-up, --threads on the commands."""

from __future__ import annotations

import os
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
    import torch

    from dfviewer.cli.main import main

    out = tmp_path / "out"
    assert main(["predict", str(radiograph), "--model", str(tiny_checkpoint), "--out", str(out), "--mc", "1",
                 "--stages", "1", "--threads", "1"]) == 0
    assert "1 thread (as asked)" in capsys.readouterr().err
    assert torch.get_num_threads() == 1
    assert main(["predict", str(radiograph), "--model", str(tiny_checkpoint), "--out", str(out), "--mc", "0",
                 "--stages", "1"]) == 0
    assert "(automatic)" in capsys.readouterr().err
    assert 1 <= torch.get_num_threads() <= len(os.sched_getaffinity(0))


def test_evaluate_runs_with_the_threads_asked_for(tmp_path, tiny_checkpoint, capsys, torch_threads):
    import torch
    from _dfv_pairs import make_pairs

    from dfviewer.cli.main import main

    data = make_pairs(tmp_path / "data", n=3, size=40, val=0, test=1)
    assert main(["evaluate", "--model", str(tiny_checkpoint), "--data", str(data), "--mc", "1", "--device", "cpu",
                 "--threads", "1"]) == 0
    assert "1 thread (as asked)" in capsys.readouterr().err
    assert torch.get_num_threads() == 1
