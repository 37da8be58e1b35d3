"""scripts/stage_clean_table.py: clean-case stage figures and lung sigma of the stages study, from a real phantom."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from dfviewer.core.dataset_check import check_dataset
from dfviewer.core.predictors import open_predictor
from dfviewer.io.reader import read_pixels
from dfviewer.phantom import write_dataset

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "stage_clean_table.py"
# the bundled model: trained, so its sigma differs between cases (a random model's barely does)
MODEL = ROOT / "resources" / "models" / "demo.safetensors"


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=180)


def test_clean_table_matches_the_report_and_the_model(tmp_path):
    data = write_dataset(tmp_path / "phantom", 16, 64, seed=3, splits=(0.25, 0.0, 0.75)).parent
    report_path = tmp_path / "eval.json"
    done = _run("-m", "dfviewer", "evaluate", "--model", str(MODEL), "--data", str(data), "--split", "test",
                "--mc", "0", "--threads", "1", "--out", str(report_path))
    assert done.returncode == 0, done.stderr
    done = _run(str(SCRIPT), str(data), f"demo={report_path}@{MODEL}")
    assert done.returncode == 0, done.stderr
    row = done.stdout.splitlines()[2].strip("| ").split(" | ")
    clean = json.loads(report_path.read_text())["by_group"]["clean"]["stages"]
    mse = {k: clean[str(k)]["mse"]["mean"] for k in (1, 2, 3)}
    assert row[0] == "demo"
    assert row[1].startswith(f"{mse[1]:.5f} / ") and row[3].startswith(f"{mse[3]:.5f} / ")
    assert row[4].startswith(f"{mse[3] / mse[1]:.3f}x / ") and row[5].startswith(f"{mse[3] / mse[2]:.3f}x / ")
    # the lung sigma, recomputed here over the clean test cases only
    predictor = open_predictor(MODEL, device="cpu", threads=1)
    sums: dict[int, list[float]] = {1: [], 2: [], 3: []}
    pairs = [p for p in check_dataset(data).split("test") if not p.ood]
    assert pairs and len(pairs) < len(check_dataset(data).split("test"))  # both kinds present: the filter matters
    for pair in pairs:
        lungs = read_pixels(pair.lung_mask) > 0
        for res in predictor.predict(read_pixels(pair.attenuation), mc_samples=0, network_units=True):
            sums[res.stage].append(float(np.mean(res.aleatoric[lungs])))
    assert row[6] == " / ".join(f"{np.mean(sums[k]):.4f}" for k in (1, 2, 3))
    # RG1's lungs, with the lung mask the viewer's crop uses
    from pydicom.data import get_testdata_file

    from dfviewer.io import lung_mask, read_radiograph

    rg1 = read_radiograph(get_testdata_file("RG1_UNCR.dcm")).pixels
    lungs = lung_mask(rg1).mask
    assert 0.1 < lungs.mean() < 0.6
    real = [float(np.mean(r.aleatoric[lungs])) for r in predictor.predict(rg1, mc_samples=0, network_units=True)]
    assert row[7] == " / ".join(f"{v:.4f}" for v in real)


def test_clean_table_without_arguments_explains_itself():
    done = _run(str(SCRIPT))
    assert done.returncode == 2 and "Usage" in done.stderr


def test_a_one_stage_model_gets_its_stage_and_dashes_for_the_stages_it_lacks():
    import importlib.util

    spec = importlib.util.spec_from_file_location("stage_clean_table", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    report = {"by_group": {"clean": {"stages": {"1": {"mse": {"mean": 0.0065}, "psnr": {"mean": 22.3},
                                                      "ssim": {"mean": 0.47}}}}}}
    cells = module.row("one", report, [0.1125], [0.0812]).strip("| ").split(" | ")
    assert cells == ["one", "0.00650 / 22.30 / 0.470", "—", "—", "—", "—", "0.1125", "0.0812"]
