"""The viewer's Stages table and ``dfviewer evaluate`` give the same MSE, PSNR and SSIM for one case."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import tifffile

from dfviewer.imaging.voi_windows import format_number

MC = 3  # the window fixture's MC samples; both use dropout seed 0 (evaluate: --seed 0 + case index 0)


def _paired_case(folder, make_chest):
    """``case.tiff`` with ``case_darkfield.tiff`` beside it (the viewer finds it) and a manifest naming
    both as the one test pair (``evaluate`` reads it)."""
    attenuation, darkfield = make_chest(seed=5)
    tifffile.imwrite(folder / "case.tiff", attenuation)
    tifffile.imwrite(folder / "case_darkfield.tiff", darkfield)
    with open(folder / "manifest.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["case", "attenuation", "darkfield", "split"])
        writer.writeheader()
        writer.writerow({"case": "case", "attenuation": "case.tiff", "darkfield": "case_darkfield.tiff",
                         "split": "test"})
    return folder / "case.tiff"


def _evaluate(tiny_checkpoint, folder, tmp_path):
    """``dfviewer evaluate`` as a user runs it: its printed table's rows by stage, and its JSON rows."""
    out = tmp_path / "report.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-m", "dfviewer", "evaluate", "--model", str(tiny_checkpoint),
                             "--data", str(folder), "--split", "test", "--mc", str(MC), "--seed", "0",
                             "--device", "cpu", "--out", str(out)], capture_output=True, text=True, env=env,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    printed = {}
    for line in result.stdout.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[0].isdigit() and int(cells[0]) not in printed:  # the first table: one row per stage
            printed[int(cells[0])] = [c.split(" ± ")[0] for c in cells[1:4]]
    rows = {r["stage"]: r for r in json.loads(out.read_text())["per_image"]}
    return printed, rows


def test_the_stages_table_shows_evaluates_numbers_for_the_same_case(window, qtbot, tmp_path, tiny_checkpoint,
                                                                     make_chest):
    folder = tmp_path / "pair"
    folder.mkdir()
    case = _paired_case(folder, make_chest)
    printed, rows = _evaluate(tiny_checkpoint, folder, tmp_path)
    assert sorted(printed) == sorted(rows) == [1, 2, 3]

    with qtbot.waitSignal(window.inferenceFinished, timeout=180_000):
        assert window.open_file(case)
    table = window.summary
    qtbot.waitUntil(lambda: table.rowCount() == 3 and table.item(0, 5) is not None
                    and table.item(0, 5).text() not in ("", "…"), timeout=30_000)
    assert window.state.truth is not None and window.state.progress.done == MC
    for i, stage in enumerate((1, 2, 3)):
        mse, psnr, ssim = (table.item(i, j).text() for j in (3, 4, 5))
        row = rows[stage]
        # the viewer's digits are those of evaluate's per-image row ...
        assert (mse, psnr, ssim) == (format_number(row["mse"]), f"{row['psnr']:.2f}", f"{row['ssim']:.3f}")
        # ... and of the table evaluate prints (MSE there to 4 decimals)
        assert [f"{float(mse):.4f}", psnr, ssim] == printed[stage]
