"""scripts/train_stage_budget.py: an epoch budget per stage, and later stages trained on a shared stage 1."""

import json
import os
import subprocess
import sys
from pathlib import Path

from safetensors.numpy import load_file

from dfviewer.core.resume_state import read_resume
from dfviewer.phantom import write_dataset

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "train_stage_budget.py"


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})


def test_each_stage_trains_its_own_budget_and_a_shared_stage_1_gives_the_same_run(tmp_path):
    data = write_dataset(tmp_path / "phantom", 10, 64, seed=4, splits=(0.8, 0.2, 0.0)).parent
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"model": {"n_stages": 2}, "train": {"val_mc_samples": 0}}))
    common = ("--size", "64", "--seed", "3", "--threads", "1")
    whole, first, shared = tmp_path / "whole", tmp_path / "first", tmp_path / "shared"
    done = _run(str(SCRIPT), str(data), str(whole), str(config), "--budget", "1,2", *common)
    assert done.returncode == 0, done.stderr
    assert "stage 2: 2 epochs, 3 in all" in done.stdout
    state, _ = read_resume(whole)
    assert state["phase_epochs"] == [1, 2]
    done = _run(str(SCRIPT), str(data), str(first), str(config), "--budget", "1", *common)
    assert done.returncode == 0, done.stderr
    assert read_resume(first)[0]["next_phase"] == 1  # stopped between the stages
    done = _run(str(SCRIPT), str(data), str(shared), str(config), "--budget", "1,2", "--stage1-from", str(first),
                *common)
    assert done.returncode == 0, done.stderr
    # stage 1 was taken over, not trained again
    assert "stage 1:" not in done.stdout and "stage 2: 2 epochs, 3 in all" in done.stdout
    assert (shared / "best_stage1.safetensors").stat().st_mtime == (first / "best_stage1.safetensors").stat().st_mtime
    a, b = load_file(whole / "model.safetensors"), load_file(shared / "model.safetensors")
    assert a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a)
    assert (first / "resume.safetensors").exists() and read_resume(first)[0]["next_phase"] == 1  # left as it was


def test_a_shared_stage_1_that_is_no_run_is_refused(tmp_path):
    done = _run(str(SCRIPT), str(tmp_path), str(tmp_path / "out"), "config.json", "--budget", "1,1",
                "--stage1-from", str(tmp_path / "nothing"))
    assert done.returncode == 2 and "holds no resumable run" in done.stderr
