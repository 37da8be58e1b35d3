"""Two CPU processes under torchrun (Gloo) train together and end with identical weights."""

import json
import os
import socket
import subprocess
import sys

from _dfv_pairs import make_pairs

from dfviewer.core.checkpoint import load_checkpoint


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_hold_identical_weights(tmp_path):
    data = make_pairs(tmp_path / "data", n=10, size=32)
    config = tmp_path / "tiny.json"
    config.write_text(json.dumps({
        "model": {"base_width": 4, "depth": 2, "working_size": 32, "n_stages": 2},
        "train": {"epochs_per_stage": 1, "batch_size": 2, "val_mc_samples": 0},
    }))
    env = {**os.environ, "DFVIEWER_RANK_DIGEST_DIR": str(tmp_path / "digests"), "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
        "--master_addr=127.0.0.1", f"--master_port={_free_port()}",
        "-m", "dfviewer.cli.train", "--data", str(data), "--out", str(tmp_path / "out"),
        "--config", str(config), "--device", "cpu",
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    digests = [(tmp_path / "digests" / f"rank{r}.sha256").read_text() for r in (0, 1)]
    assert digests[0] == digests[1]
    ckpt = load_checkpoint(tmp_path / "out" / "model.safetensors")
    assert ckpt.metadata["world_size"] == 2
    # only rank 0 printed the progress
    assert proc.stderr.count("training on cpu (2 processes)") == 1
