"""scripts/stages_study_leg3.sh end to end at a tiny scale: the runs, the shared stage 1 and the tables."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "stages_study_leg3.sh"


@pytest.mark.skipif(shutil.which("dfviewer") is None, reason="needs the dfviewer command installed")
def test_the_leg_trains_scores_and_tabulates_its_runs(tmp_path):
    env = {**os.environ, "SIZE": "64", "N": "20", "S1": "1", "E23": "1", "BASE": "1", "SEEDS": "0", "NLL": "0.1",
           "INPUTS": "attention", "WIDTHS": "8", "ONE": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(["bash", str(SCRIPT), str(tmp_path)], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    for table in ("clean_test.md", "clean_indep.md"):
        rows = [line.strip("| \n").split(" | ") for line in (tmp_path / table).read_text().splitlines()[2:]]
        assert [r[0].split()[0] for r in rows] == ["e1_s0", "one1_s0"]
        cascade, single = rows
        # the cascade's stage 1 (trained apart, then resumed) is the one-stage run's model, to the digit
        assert cascade[1] == single[1] and cascade[6].split(" / ")[0] == single[6]
        assert cascade[3] != "—" and single[2:6] == ["—"] * 4
    # the shared stage 1 was trained once and taken over
    assert (tmp_path / "s1_s0" / "resume.safetensors").exists()
    assert "stage 1:" not in (tmp_path / "e1_s0.train.log").read_text()
