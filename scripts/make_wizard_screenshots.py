"""Render every page of the training wizard to docs/screenshots/wizard_*.png (offscreen).

    python scripts/make_wizard_screenshots.py [--out DIR] [--work DIR]

Writes a small phantom data set and trains a small model in ``--work`` (default
/tmp/dfviewer-wizard-demo, so the pages show that path), about a minute on a CPU. Pages: data
(with problems, then clean), model (then with two wrong settings), training, result, and a run
that fails because a file changed after the check.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "docs" / "screenshots"))
    parser.add_argument("--work", default="/tmp/dfviewer-wizard-demo")
    args = parser.parse_args()

    import torch
    from PyQt6.QtCore import QEventLoop, QTimer
    from PyQt6.QtWidgets import QApplication

    from dfviewer.gui.theme import apply_theme
    from dfviewer.gui.wizard import TrainingWizard
    from dfviewer.phantom import write_dataset

    torch.set_num_threads(1)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    apply_theme(app)
    out, work = Path(args.out), Path(args.work)
    out.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)

    def wait(ms: int = 300) -> None:
        loop = QEventLoop()
        QTimer.singleShot(ms, loop.quit)
        loop.exec()

    def wait_until(done, timeout_s: float) -> None:
        end = time.monotonic() + timeout_s
        while not done():
            if time.monotonic() > end:
                raise TimeoutError("the wizard did not get there in time")
            wait(50)

    def wait_signal(signal, timeout_s: float, start) -> None:
        fired = []
        signal.connect(lambda *_: fired.append(True))
        start()
        wait_until(lambda: fired, timeout_s)

    def shot(name: str) -> None:
        wait(300)
        path = out / f"wizard_{name}.png"
        wiz.grab().save(str(path), "PNG", 6)
        print(path)

    data = write_dataset(work / "phantom", 24, 96, 7).parent
    wiz = TrainingWizard(extra_env={"OMP_NUM_THREADS": "1"})
    wiz.confirm_close = lambda: True
    wiz.eval_mc_samples = 8
    wiz.model_page.threads.setValue(1)
    wiz.resize(1180, 820)
    wiz.show()

    broken = work / "broken"
    shutil.copytree(data, broken)
    (broken / "darkfield" / "case_00003.tiff").write_bytes(b"junk")
    (broken / "attenuation" / "case_00011.dcm").unlink()
    for folder in (broken, data):
        wiz.data_page.set_path(folder)
        wait_until(lambda: wiz.data_page.report is not None and not wiz.data_page.task.running, 60)
        shot("data_problems" if folder == broken else "data")

    wiz.next()
    mp = wiz.model_page
    cfg = {"preset": "fast", "model": {"base_width": 8, "depth": 3, "n_stages": 3, "working_size": 96},
           "train": {"epochs_per_stage": 4, "batch_size": 4, "val_mc_samples": 6, "lr": 2e-3, "amp": False}}
    (work / "cfg.json").write_text(json.dumps(cfg))
    mp.load_config(work / "cfg.json")
    mp.out_dir.setText(str(work / "runs" / "run-phantom"))
    mp.measure()
    wait_until(lambda: not mp.estimate_task.running, 120)
    shot("model")
    mp.form.tabs.setCurrentIndex(1)
    mp.form.fields["lr"].widget.setText("2")
    mp.form.fields["epochs_per_stage"].widget.setValue(0)
    mp.form.fields["augment_zoom"].widget.setText("-1")  # an advanced setting: its section unfolds
    shot("model_errors")
    mp.form.fields["lr"].widget.setText("0.002")
    mp.form.fields["epochs_per_stage"].widget.setValue(4)
    mp.form.fields["augment_zoom"].widget.setText(str(cfg_zoom(mp)))
    mp.form.advanced.collapse(animate=False)
    mp.form.tabs.setCurrentIndex(0)

    wiz.next()
    rp = wiz.run_page
    wait_signal(rp.run_ended, 600, rp.start)
    shot("run")
    wiz.next()
    wait_until(lambda: wiz.finish_page.report is not None, 300)
    shot("finish")

    wiz.back()
    wiz.back()
    (data / "attenuation" / "case_00005.dcm").write_bytes(b"overwritten after the check")
    mp.out_dir.setText(str(work / "runs" / "run-broken"))
    wiz.next()
    wait_signal(rp.run_ended, 300, rp.start)
    shot("error")
    wiz.shutdown()
    return 0


def cfg_zoom(model_page) -> float:
    """The preset's zoom augmentation (restored after the error screenshot)."""
    return model_page.form._base.train.augment_zoom


if __name__ == "__main__":
    sys.exit(main())
