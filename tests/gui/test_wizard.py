"""The training wizard, walked for real: a tiny phantom dataset, a tiny config, real `dfviewer train` children.

Set DFVIEWER_WIZARD_SHOTS=DIR to save a screenshot of every page there.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from dfviewer.core.checkpoint import load_checkpoint
from dfviewer.core.config import load_experiment
from dfviewer.core.training_events import CheckpointSaved, RunStarted, StepDone

RUN_TIMEOUT = 90_000
TINY = {
    "preset": "fast",
    "model": {"base_width": 4, "depth": 2, "n_stages": 2, "working_size": 64},
    "train": {"epochs_per_stage": 1, "batch_size": 4, "val_mc_samples": 2, "amp": False,
              "augment_rotation_deg": 0.0},
}


@pytest.fixture(scope="module")
def phantom(tmp_path_factory) -> Path:
    """10 simulated cases of 64 px: 7 train, 2 val, 1 test."""
    from dfviewer.phantom import write_dataset

    return write_dataset(tmp_path_factory.mktemp("phantom") / "ds", 10, 64, 3).parent


@pytest.fixture
def one_thread():
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture
def wizard(qtbot, one_thread):
    from dfviewer.gui.wizard import TrainingWizard

    wiz = TrainingWizard(extra_env={"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"})
    wiz.eval_mc_samples = 2
    wiz.model_page.threads.setValue(1)
    wiz.confirm_close = lambda: True  # never a modal question in a test
    qtbot.addWidget(wiz)
    wiz.show()
    yield wiz
    wiz.confirm_close = lambda: True
    wiz.shutdown()


def shot(wiz, name: str) -> None:
    folder = os.environ.get("DFVIEWER_WIZARD_SHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        wiz.grab().save(str(Path(folder) / f"wizard_{name}.png"))


def check_data(qtbot, wiz, path) -> None:
    page = wiz.data_page
    page.set_path(path)
    qtbot.waitUntil(lambda: not page.task.running and page.report is not None, timeout=30_000)


def tiny_config(tmp_path, **train) -> Path:
    cfg = json.loads(json.dumps(TINY))
    cfg["train"].update(train)
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(cfg))
    return path


def to_run_page(qtbot, wiz, phantom, tmp_path, **train) -> Path:
    check_data(qtbot, wiz, phantom)
    wiz.next()
    mp = wiz.model_page
    mp.load_config(tiny_config(tmp_path, **train))
    out = tmp_path / "run"
    mp.out_dir.setText(str(out))
    assert mp.isComplete()
    wiz.next()
    assert wiz.currentPage() is wiz.run_page
    return out


def test_data_page_counts_pairs_and_names_a_broken_one(qtbot, wizard, phantom, tmp_path):
    page = wizard.data_page
    check_data(qtbot, wizard, phantom)
    assert page.report.ok
    assert [page.split_labels[s].text() for s in ("train", "val", "test")] == ["7 pairs", "2 pairs", "1 pair"]
    assert "64x64" in page.sizes.text() and "dcm" in page.formats.text() and "tiff" in page.formats.text()
    assert page.tiles[0][0].image.pixmap() is not None and not page.tiles[0][0].image.pixmap().isNull()
    assert page.isComplete()
    shot(wizard, "data")

    broken = tmp_path / "broken"
    shutil.copytree(phantom, broken)
    (broken / "darkfield" / "case_00004.tiff").write_bytes(b"not a tiff")
    check_data(qtbot, wizard, broken / "manifest.csv")
    problems = [page.problems.item(i).text() for i in range(page.problems.count())]
    assert any("case_00004" in p and "unreadable" in p for p in problems), problems
    assert "problem" in page.status.text()
    assert not page.isComplete()
    assert not wizard.button(wizard.WizardButton.NextButton).isEnabled()


def test_phantom_button_writes_and_checks_a_dataset(qtbot, wizard, tmp_path):
    page = wizard.data_page
    page.create_phantom(tmp_path / "ph", 3, 32, seed=1)
    qtbot.waitUntil(lambda: page.report is not None and not page.task.running, timeout=30_000)
    assert (tmp_path / "ph" / "manifest.csv").is_file()
    assert sum(page.report.splits.values()) == 3
    assert Path(page.path.text()) == tmp_path / "ph"


def test_the_phantom_dialog_keeps_qwidget_size_and_reads_its_fields(qtbot, tmp_path):
    from PyQt6.QtCore import QSize

    from dfviewer.gui.wizard.data_page import PhantomDialog

    dialog = PhantomDialog(None, str(tmp_path / "ph"))
    qtbot.addWidget(dialog)
    dialog.resize(640, 480)
    assert dialog.size() == QSize(640, 480)  # the image-size field once hid QWidget.size()
    dialog.count.setValue(7)
    dialog.image_size.setValue(96)
    dialog.seed.setValue(3)
    assert dialog.values() == (str(tmp_path / "ph"), 7, 96, 3)


def test_pages_find_their_training_wizard_and_none_outside_one(qtbot, wizard):
    from PyQt6.QtWidgets import QWizard, QWizardPage

    from dfviewer.gui.wizard.host import training_wizard

    assert all(training_wizard(page) is wizard
               for page in (wizard.data_page, wizard.model_page, wizard.run_page, wizard.finish_page))
    plain = QWizard()
    qtbot.addWidget(plain)
    page = QWizardPage()
    plain.addPage(page)
    assert training_wizard(page) is None
    assert training_wizard(QWizardPage()) is None


def test_bad_values_block_next_with_a_message_and_the_json_round_trips(qtbot, wizard, phantom, tmp_path):
    check_data(qtbot, wizard, phantom)
    wizard.next()
    mp, form = wizard.model_page, wizard.model_page.form
    mp.out_dir.setText(str(tmp_path / "out"))
    next_btn = wizard.button(wizard.WizardButton.NextButton)
    assert mp.isComplete() and next_btn.isEnabled()
    shot(wizard, "model")
    form.tabs.setCurrentIndex(1)  # Schedule
    form.fields["lr"].widget.setText("1.5")
    assert not mp.isComplete() and not next_btn.isEnabled()
    assert form.fields["lr"].error.isVisible() and "lr must be in (0, 1)" in form.fields["lr"].error.text()
    form.fields["working_size"].widget.setValue(100)
    assert "multiple of 16" in form.fields["working_size"].error.text()
    assert "2 settings to fix" in form.summary.text()
    shot(wizard, "model_errors")
    form.fields["lr"].widget.setText("3e-4")
    form.fields["working_size"].widget.setValue(128)
    assert not form.fields["lr"].error.isVisible() and mp.isComplete() and next_btn.isEnabled()
    # the advanced settings are folded away until one of them is wrong
    assert not form.advanced.isExpanded()
    form.fields["augment_zoom"].widget.setText("0.9")
    assert form.advanced.isExpanded() and not mp.isComplete()
    assert "augment_zoom" in form.fields["augment_zoom"].error.text()
    form.fields["augment_zoom"].widget.setText("0")
    assert mp.isComplete()

    path = tmp_path / "exp.json"
    assert mp.save_config(path)
    exp = load_experiment(path)  # what `dfviewer train --config` reads
    assert exp.train.lr == 3e-4 and exp.model.working_size == 128
    mp.preset.setCurrentText("paper")
    assert form.fields["base_width"].widget.value() == 64
    mp.load_config(path)
    assert form.fields["working_size"].widget.value() == 128 and mp.preset.currentText() == "fast"


def test_time_per_epoch_is_measured_on_real_steps(qtbot, wizard, phantom, tmp_path):
    check_data(qtbot, wizard, phantom)
    wizard.next()
    mp = wizard.model_page
    mp.load_config(tiny_config(tmp_path))
    mp.measure()
    qtbot.waitUntil(lambda: not mp.estimate_task.running and "measuring" not in mp.estimate_label.text(),
                    timeout=60_000)
    est = mp.estimate
    assert set(est.epoch_seconds) == {1, 2} and all(v > 0 for v in est.epoch_seconds.values())
    assert "per epoch" in mp.estimate_label.text()


def test_without_torch_measuring_and_training_say_how_to_install_it(qtbot, wizard, phantom, tmp_path, monkeypatch):
    """A viewer-only install (no torch): the wizard's two training actions name the train extra, start nothing."""
    out = to_run_page(qtbot, wizard, phantom, tmp_path)
    monkeypatch.setitem(sys.modules, "torch", None)  # what Python does for a package that is not installed
    wizard.back()
    mp = wizard.model_page
    mp.measure()
    assert not mp.estimate_task.running
    assert 'pip install "dfviewer[train]"' in mp.estimate_label.text()
    wizard.next()
    rp = wizard.run_page
    rp.start()
    assert not rp.running and not out.exists()
    assert 'pip install "dfviewer[train]"' in rp.error_label.text()


def test_a_run_draws_curves_and_a_preview_then_evaluates_and_offers_the_model(qtbot, wizard, phantom, tmp_path):
    out = to_run_page(qtbot, wizard, phantom, tmp_path)
    rp = wizard.run_page
    assert not wizard.button(wizard.WizardButton.NextButton).isEnabled()
    with qtbot.waitSignal(rp.run_ended, timeout=RUN_TIMEOUT) as ended:
        rp.start()
        assert rp.running
    assert ended.args == ["completed"], rp.log.toPlainText()
    rp.plots.flush()
    assert rp.plots.points("g_total", 1) == 2 and rp.plots.points("g_total", 2) == 2  # 7 pairs, batch 4
    assert rp.plots.points("mse", 1) == 2 and rp.plots.points("psnr", 2) == 1  # stage 1 scored in both epochs
    assert not rp.tiles["mean"].image.pixmap().isNull() and not rp.tiles["epistemic"].image.pixmap().isNull()
    assert rp.model_path == out / "model.safetensors" and rp.model_path.is_file()
    assert load_checkpoint(rp.model_path).config.n_stages == 2
    assert (out / "config.json").is_file() and load_experiment(out / "config.json").model.base_width == 4
    assert "epoch 2/2" in rp.log.toPlainText()
    shot(wizard, "run")

    assert wizard.button(wizard.WizardButton.NextButton).isEnabled()
    wizard.next()
    fp = wizard.finish_page
    qtbot.waitUntil(lambda: fp.report is not None, timeout=60_000)
    assert fp.table.rowCount() == 2 and fp.table.item(0, 0).text() == "1"
    assert "±" in fp.table.item(1, 2).text()  # PSNR of stage 2
    assert (out / "evaluation_test.json").is_file() and (out / "evaluation_test.md").is_file()
    shot(wizard, "finish")
    with qtbot.waitSignal(wizard.model_ready, timeout=5_000) as ready:
        fp.open_btn.click()
    assert ready.args == [out / "model.safetensors"]
    assert not wizard.isVisible()


def test_pause_cancel_keeps_the_last_epoch_and_resume_continues(qtbot, wizard, phantom, tmp_path):
    out = to_run_page(qtbot, wizard, phantom, tmp_path, epochs_per_stage=2)
    rp = wizard.run_page
    seen: list = []
    rp.process.event_received.connect(seen.append)

    def on_event(event):
        if isinstance(event, StepDone) and event.global_step == 1 and rp.process.state == "running":
            rp.toggle_pause()
        if isinstance(event, CheckpointSaved) and event.which == "last" and event.global_epoch == 1:
            rp.cancel()

    rp.process.event_received.connect(on_event)
    rp.start()
    qtbot.waitUntil(lambda: rp.process.state == "paused", timeout=RUN_TIMEOUT)
    n = len(seen)
    qtbot.wait(1000)
    assert len(seen) == n and "paused" in rp.times.text()  # nothing happens while paused
    with qtbot.waitSignal(rp.run_ended, timeout=RUN_TIMEOUT) as ended:
        rp.toggle_pause()
    assert ended.args == ["cancelled"], rp.log.toPlainText()
    done = load_checkpoint(out / "last.safetensors").metadata["global_epoch"]
    assert 1 <= done < 4 and not (out / "model.safetensors").exists()
    assert "Cancelled" in rp.headline.text() and rp.start_btn.text() == "Resume training"
    assert not rp.isComplete()

    seen.clear()
    rp.process.event_received.disconnect(on_event)
    with qtbot.waitSignal(rp.run_ended, timeout=RUN_TIMEOUT) as ended:
        rp.start()
        asked = []
        wizard.confirm_close = lambda: asked.append(1) or False
        wizard.reject()  # closing asks first; "no" keeps the run and the window
        wizard.confirm_close = lambda: True
        assert asked and wizard.isVisible() and rp.running
    assert ended.args == ["completed"], rp.log.toPlainText()
    started = next(e for e in seen if isinstance(e, RunStarted))
    assert started.resumed_at_epoch == done
    assert min(e.global_step for e in seen if isinstance(e, StepDone)) == 2 * done + 1
    assert load_checkpoint(out / "model.safetensors").metadata["global_epoch"] == 4
    wizard.back()
    assert wizard.currentPage() is wizard.model_page
    assert not wizard.model_page.isComplete()  # the folder now holds a finished model
    assert "finished model" in wizard.model_page.folder_note.text()


def test_a_failure_in_training_reaches_the_error_display(qtbot, wizard, phantom, tmp_path):
    from dfviewer.gui.wizard.runs import DeviceChoice

    data = tmp_path / "data"
    shutil.copytree(phantom, data)
    out = to_run_page(qtbot, wizard, data, tmp_path)
    rp = wizard.run_page
    (data / "attenuation" / "case_00002.dcm").write_bytes(b"corrupted after the check")
    with qtbot.waitSignal(rp.run_ended, timeout=RUN_TIMEOUT) as ended:
        rp.start()
    assert ended.args == ["failed"]
    assert rp.error_box.isVisible() and "case_00002" in rp.error_label.text(), rp.error_label.text()
    assert rp.start_btn.isEnabled() and not rp.isComplete() and wizard.isVisible()
    shot(wizard, "error")
    assert not (out / "model.safetensors").exists()

    shutil.copy(phantom / "attenuation" / "case_00002.dcm", data / "attenuation" / "case_00002.dcm")
    mp = wizard.model_page
    mp.device.addItem("GPU 7 (absent)", DeviceChoice("GPU 7 (absent)", "cuda:7"))
    mp.device.setCurrentIndex(mp.device.count() - 1)
    with qtbot.waitSignal(rp.run_ended, timeout=RUN_TIMEOUT) as ended:
        rp.start()
    assert ended.args == ["failed"]
    assert "cuda" in rp.error_label.text().lower(), rp.error_label.text()
    assert rp.error_box.isVisible() and wizard.isVisible()


def test_the_settings_form_offers_every_setting_of_the_config_dataclasses():
    import dataclasses

    from dfviewer.core import config as C
    from dfviewer.gui.wizard.config_form import TABS

    shown = {section: set() for section in ("model", "train", "normalization")}
    for _title, section, names in TABS:
        shown[section].update(names)
    fields = {
        "model": {f.name for f in dataclasses.fields(C.ModelConfig)} - {"preset", "normalization"},
        "train": {f.name for f in dataclasses.fields(C.TrainConfig)} - {"preset"},
        "normalization": {f.name for f in dataclasses.fields(C.Normalization)},
    }
    assert shown == fields
