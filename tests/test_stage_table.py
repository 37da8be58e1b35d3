"""scripts/stage_table.py: the stage-wise table of the stages study from real evaluation reports."""

import json
import subprocess
import sys
from pathlib import Path

from _dfv_pairs import make_pairs

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "stage_table.py"


def test_stage_table_reads_real_reports(tiny_checkpoint, tmp_path):
    data = make_pairs(tmp_path / "pairs", n=8, size=40)
    report_path = tmp_path / "eval.json"
    done = subprocess.run([sys.executable, "-m", "dfviewer", "evaluate", "--model", str(tiny_checkpoint),
                           "--data", str(data), "--split", "train", "--mc", "0", "--threads", "1",
                           "--out", str(report_path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    table = subprocess.run([sys.executable, str(SCRIPT), f"tiny={report_path}"], capture_output=True, text=True,
                           timeout=60, check=True).stdout.splitlines()
    report = json.loads(report_path.read_text())
    s1, s3 = report["stages"]["1"], report["stages"]["3"]
    assert table[2] == (f"| tiny | 1 | {s1['mse']['mean']:.5f} | {s1['psnr']['mean']:.2f} | "
                        f"{s1['ssim']['mean']:.3f} |")
    n = report["n_images"]
    assert table[5].startswith(f"| tiny | 1 → 3 | {s3['mse']['mean'] / s1['mse']['mean']:.3f}x | ")
    assert table[5].endswith(f"/{n} images |")


def test_stage_table_without_reports_explains_itself():
    done = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "Usage" in done.stderr
