"""Screenshots of every wizard page for the README (docs/screenshots/wizard_*.png).

Skipped unless DFVIEWER_WIZARD_SHOTS=DIR is set: it trains a small model for about a minute.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

pytest.importorskip("pytestqt")

SHOTS = os.environ.get("DFVIEWER_WIZARD_SHOTS")
pytestmark = pytest.mark.skipif(not SHOTS, reason="set DFVIEWER_WIZARD_SHOTS=DIR to write the screenshots")


def test_screenshots_of_every_page(qtbot, tmp_path):
    import torch
    from PyQt6.QtWidgets import QApplication

    from dfviewer.gui.theme import apply_theme
    from dfviewer.gui.wizard import TrainingWizard
    from dfviewer.phantom import write_dataset

    torch.set_num_threads(1)
    apply_theme(QApplication.instance())
    out_dir = Path(SHOTS)
    out_dir.mkdir(parents=True, exist_ok=True)

    def shot(name: str) -> None:
        qtbot.wait(300)
        wiz.grab().save(str(out_dir / f"wizard_{name}.png"))

    data = write_dataset(tmp_path / "phantom", 24, 96, 7).parent
    wiz = TrainingWizard(extra_env={"OMP_NUM_THREADS": "1"})
    wiz.eval_mc_samples = 8
    wiz.model_page.threads.setValue(1)
    qtbot.addWidget(wiz)
    wiz.resize(1180, 820)
    wiz.show()

    broken = tmp_path / "broken"
    shutil.copytree(data, broken)
    (broken / "darkfield" / "case_00003.tiff").write_bytes(b"junk")
    (broken / "attenuation" / "case_00011.dcm").unlink()
    wiz.data_page.set_path(broken)
    qtbot.waitUntil(lambda: wiz.data_page.report is not None and not wiz.data_page.task.running, timeout=60_000)
    shot("data_problems")
    wiz.data_page.set_path(data)
    qtbot.waitUntil(lambda: wiz.data_page.report is not None and not wiz.data_page.task.running, timeout=60_000)
    shot("data")

    wiz.next()
    mp = wiz.model_page
    cfg = {"preset": "fast", "model": {"base_width": 8, "depth": 3, "n_stages": 3, "working_size": 96},
           "train": {"epochs_per_stage": 4, "batch_size": 4, "val_mc_samples": 6, "lr": 2e-3, "amp": False}}
    (tmp_path / "cfg.json").write_text(json.dumps(cfg))
    mp.load_config(tmp_path / "cfg.json")
    mp.out_dir.setText(str(tmp_path / "runs" / "run-phantom"))
    mp.measure()
    qtbot.waitUntil(lambda: not mp.estimate_task.running, timeout=120_000)
    shot("model")
    mp.form.tabs.setCurrentIndex(1)
    mp.form.fields["lr"].widget.setText("2")
    mp.form.fields["epochs_per_stage"].widget.setValue(0)
    shot("model_errors")
    mp.form.fields["lr"].widget.setText("0.002")
    mp.form.fields["epochs_per_stage"].widget.setValue(4)
    mp.form.tabs.setCurrentIndex(0)

    wiz.next()
    rp = wiz.run_page
    with qtbot.waitSignal(rp.run_ended, timeout=400_000):
        rp.start()
    shot("run")
    wiz.next()
    qtbot.waitUntil(lambda: wiz.finish_page.report is not None, timeout=120_000)
    shot("finish")

    wiz.back()
    wiz.back()
    (data / "attenuation" / "case_00005.dcm").write_bytes(b"overwritten after the check")
    mp.out_dir.setText(str(tmp_path / "runs" / "run-broken"))
    wiz.next()
    with qtbot.waitSignal(rp.run_ended, timeout=120_000):
        rp.start()
    shot("error")
    wiz.shutdown()
