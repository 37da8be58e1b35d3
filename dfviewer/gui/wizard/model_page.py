"""Wizard page 2: preset and every setting, device, output folder, config JSON, and a measured time per epoch."""

from __future__ import annotations

from pathlib import Path

import qtawesome as qta
from PyQt6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
    QWizardPage,
)

from dfviewer.core import config as C
from dfviewer.core.predictors import require_torch
from dfviewer.errors import UserError
from dfviewer.gui.wizard.config_form import ConfigForm
from dfviewer.gui.wizard.host import training_wizard
from dfviewer.gui.wizard.runs import (
    DeviceChoice,
    RunState,
    available_devices,
    default_output_folder,
    read_run_state,
)
from dfviewer.gui.wizard.tasks import BackgroundTask
from dfviewer.threads import MAX_THREADS
from dfviewer.wording import plural


class ModelPage(QWizardPage):
    """Complete when the settings are valid and the output folder is new, empty of runs, or resumed."""

    def __init__(self, parent: QWidget | None = None, devices: list[DeviceChoice] | None = None) -> None:
        super().__init__(parent)
        self.setTitle("Model and schedule")
        self.setSubTitle("Start from a preset and adjust any setting; the same JSON file works with "
                         "`dfviewer train --config`.")
        self.run_state: RunState | None = None
        self.estimate_task = BackgroundTask(self)
        self.estimate_task.progress.connect(self._on_estimate_progress)
        self.estimate_task.finished.connect(self._on_estimate_done)
        self.estimate_task.failed.connect(self._on_estimate_failed)

        self.preset = QComboBox()
        self.preset.setObjectName("preset")
        self.preset.addItems(list(C.PRESETS))
        self.preset.setCurrentText("fast")
        self.preset.currentTextChanged.connect(self._on_preset)
        load = QPushButton(qta.icon("mdi6.file-download-outline"), "Load JSON…")
        load.clicked.connect(self._load_dialog)
        save = QPushButton(qta.icon("mdi6.content-save-outline"), "Save JSON…")
        save.clicked.connect(self._save_dialog)
        self.save_btn = save
        top = QHBoxLayout()
        top.addWidget(QLabel("Preset"))
        top.addWidget(self.preset)
        top.addStretch(1)
        top.addWidget(load)
        top.addWidget(save)

        self.form = ConfigForm()
        self.form.changed.connect(self._on_changed)

        where = QGroupBox("Where")
        wf = QFormLayout(where)
        self.device = QComboBox()
        self.device.setObjectName("device")
        for choice in devices if devices is not None else available_devices():
            self.device.addItem(choice.label, choice)
        self.threads = QSpinBox()
        self.threads.setRange(0, MAX_THREADS)
        self.threads.setSpecialValueText("automatic")
        self.threads.setToolTip("CPU threads of each training process (--threads); automatic: the cores other "
                                "programs leave free when training starts")
        dev_row = QHBoxLayout()
        dev_row.addWidget(self.device, 1)
        dev_row.addWidget(QLabel("CPU threads"))
        dev_row.addWidget(self.threads)
        wf.addRow("Device", dev_row)
        self.out_dir = QLineEdit(str(default_output_folder()))
        self.out_dir.setObjectName("outDir")
        self.out_dir.textChanged.connect(self._on_out_dir)
        browse = QPushButton(qta.icon("mdi6.folder-open"), "")
        browse.clicked.connect(self._browse_out)
        out_row = QHBoxLayout()
        out_row.addWidget(self.out_dir, 1)
        out_row.addWidget(browse)
        wf.addRow("Output folder", out_row)
        self.resume = QCheckBox("Resume the unfinished run in this folder (its saved settings are used)")
        self.resume.setObjectName("resume")
        self.resume.toggled.connect(self._on_resume_toggled)
        self.resume.hide()
        self.folder_note = QLabel()
        self.folder_note.setObjectName("folderNote")
        self.folder_note.setWordWrap(True)
        self.folder_note.hide()
        wf.addRow(self.resume)
        wf.addRow(self.folder_note)

        est_row = QHBoxLayout()
        self.estimate_btn = QPushButton(qta.icon("mdi6.timer-outline"), "Measure time per epoch")
        self.estimate_btn.setObjectName("estimate")
        self.estimate_btn.setToolTip("Trains a few real steps of every stage on the chosen device and extrapolates")
        self.estimate_btn.clicked.connect(self.measure)
        self.estimate_progress = QProgressBar()
        self.estimate_progress.setMaximumWidth(160)
        self.estimate_progress.hide()
        self.estimate_label = QLabel("")
        self.estimate_label.setObjectName("estimateLabel")
        self.estimate_label.setWordWrap(True)
        est_row.addWidget(self.estimate_btn)
        est_row.addWidget(self.estimate_progress)
        est_row.addWidget(self.estimate_label, 1)
        wf.addRow(est_row)

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.form, 1)
        layout.addWidget(where)
        self._on_out_dir()

    # -- state the other pages read --

    def experiment(self) -> C.ExperimentConfig | None:
        if self.resuming and self.run_state is not None:
            return self.run_state.experiment
        return self.form.experiment()

    def device_choice(self) -> DeviceChoice:
        return self.device.currentData()

    @property
    def resuming(self) -> bool:
        return self.resume.isChecked() and self.run_state is not None and self.run_state.resumable

    def output_folder(self) -> Path:
        return Path(self.out_dir.text().strip()).expanduser()

    def isComplete(self) -> bool:  # noqa: N802
        if not self.out_dir.text().strip():
            return False
        st = self.run_state
        if st is not None:
            if st.resumable:
                return self.resume.isChecked()
            return False  # a finished model or a damaged run: choose another folder
        return self.form.experiment() is not None

    # -- presets and JSON --

    def _on_preset(self, name: str) -> None:
        self.form.set_experiment(C.preset(name))

    def set_experiment(self, exp: C.ExperimentConfig) -> None:
        self.preset.blockSignals(True)
        if exp.model.preset in C.PRESETS:
            self.preset.setCurrentText(exp.model.preset)
        self.preset.blockSignals(False)
        self.form.set_experiment(exp)

    def load_config(self, path: str | Path) -> None:
        """Fill the form from a config JSON (as ``dfviewer train --config`` reads it)."""
        try:
            self.set_experiment(C.load_experiment(path))
        except C.ConfigError as exc:
            self.folder_note.setText(f"<span style='color:#ff6b6b'>{exc}</span>")
            self.folder_note.show()

    def save_config(self, path: str | Path) -> bool:
        exp = self.form.experiment()
        if exp is None:
            return False
        C.save_json(exp, path)
        return True

    def _load_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load training settings", "", "JSON (*.json)")
        if path:
            self.load_config(path)

    def _save_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save training settings", "experiment.json", "JSON (*.json)")
        if path:
            self.save_config(path)

    # -- output folder and resume --

    def _browse_out(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Output folder", self.out_dir.text())
        if folder:
            self.out_dir.setText(folder)

    def refresh_folder(self) -> None:
        """Look at the output folder again (a run there may have advanced)."""
        self._on_out_dir()

    def _on_out_dir(self, *_: object) -> None:
        text = self.out_dir.text().strip()
        st = read_run_state(text) if text else None
        self.run_state = st
        if st is not None and st.resumable:
            self.resume.setText(f"Resume the unfinished run in this folder ({st.done_epochs} of "
                                f"{plural(st.total_epochs, 'epoch')} done; its saved settings are used)")
            self.resume.show()
            self.folder_note.hide()
            if not self.resume.isChecked():
                self.resume.setChecked(True)
            else:
                self._on_resume_toggled(True)
        else:
            self.resume.blockSignals(True)
            self.resume.setChecked(False)
            self.resume.blockSignals(False)
            self.resume.hide()
            self._on_resume_toggled(False)
            if st is not None:
                text = (st.describe() + "; choose another folder" if st.finished_model is not None
                        else f"{text} holds a damaged run (resume.safetensors unreadable); choose another folder")
                self.folder_note.setText(f"<span style='color:#e0b040'>{text}</span>")
                self.folder_note.show()
            else:
                self.folder_note.hide()
        self.completeChanged.emit()

    def _on_resume_toggled(self, on: bool) -> None:
        st = self.run_state
        if on and st is not None and st.experiment is not None:
            self.form.set_experiment(st.experiment)
        self.form.set_read_only(bool(on))
        self.preset.setEnabled(not on)
        self.completeChanged.emit()

    def _on_changed(self) -> None:
        self.save_btn.setEnabled(self.form.errors == {})
        self.estimate_btn.setEnabled(self.form.errors == {} and not self.estimate_task.running)
        self.completeChanged.emit()

    # -- time estimate --

    def measure(self) -> None:
        """Time a few real training steps per stage on the chosen device (off the GUI thread)."""
        exp = self.experiment()
        wiz = training_wizard(self)
        report = wiz.data_page.report if wiz is not None else None
        if exp is None or report is None or self.estimate_task.running:
            return
        try:
            require_torch("measuring the time per epoch")  # it trains a few real steps
        except UserError as exc:
            self._on_estimate_failed(str(exc), "")
            return
        choice = self.device_choice()
        device = "cuda" if choice.device == "cuda" else "cpu"
        if choice.gpus:
            device = f"cuda:{choice.gpus[0]}"
        threads = self.threads.value()

        def job(progress, cancel):
            import torch

            from dfviewer.gui.wizard.estimate import estimate_epoch_seconds
            from dfviewer.threads import apply_threads

            old = torch.get_num_threads()
            apply_threads(threads or None)  # as the training process will choose them
            try:
                return estimate_epoch_seconds(report, exp, device, processes=choice.processes, cancel=cancel,
                                              progress=progress)
            finally:
                torch.set_num_threads(old)

        self.estimate_label.setText("measuring a few training steps…")
        self.estimate_progress.setRange(0, 0)
        self.estimate_progress.show()
        self.estimate_btn.setEnabled(False)
        self.estimate_task.start(job)

    def _on_estimate_progress(self, done: int, total: int) -> None:
        self.estimate_progress.setRange(0, total)
        self.estimate_progress.setValue(done)

    def _on_estimate_done(self, estimate) -> None:
        self.estimate = estimate
        self.estimate_progress.hide()
        self.estimate_btn.setEnabled(True)
        self.estimate_label.setText(estimate.describe())

    def _on_estimate_failed(self, message: str, details: str) -> None:
        self.estimate_progress.hide()
        self.estimate_btn.setEnabled(True)
        self.estimate_label.setText(f"<span style='color:#ff6b6b'>{message}</span>")
        self.estimate_label.setToolTip(details)

    def shutdown(self) -> None:
        self.estimate_task.wait()
