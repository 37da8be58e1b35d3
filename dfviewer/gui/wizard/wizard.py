"""The training wizard (Tools > Train a model…): data, settings, run, result; the same core as the CLI."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtWidgets import QMessageBox, QWidget, QWizard

from dfviewer.gui.wizard.data_page import DataPage
from dfviewer.gui.wizard.finish_page import FinishPage
from dfviewer.gui.wizard.model_page import ModelPage
from dfviewer.gui.wizard.run_page import RunPage
from dfviewer.gui.wizard.runs import DeviceChoice


class TrainingWizard(QWizard):
    """Four pages: :class:`DataPage`, :class:`ModelPage`, :class:`RunPage`, :class:`FinishPage`.

    ``model_ready(Path)`` is emitted by "Open in viewer" with the trained checkpoint. ``python``
    and ``extra_env`` choose the interpreter and extra environment of the training process
    (tests use them to limit threads); ``confirm_close`` is asked before closing during a run.
    """

    model_ready = pyqtSignal(Path)

    def __init__(self, parent: QWidget | None = None, *, devices: list[DeviceChoice] | None = None,
                 python: str | None = None, extra_env: dict[str, str] | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Train a model")
        self.setWizardStyle(QWizard.WizardStyle.ModernStyle)
        self.setOption(QWizard.WizardOption.NoBackButtonOnStartPage, True)
        self.setOption(QWizard.WizardOption.HaveFinishButtonOnEarlyPages, False)
        self.python = python or sys.executable
        self.extra_env: dict[str, str] = dict(extra_env or {})
        self.eval_mc_samples: int | None = None
        self.confirm_close: Callable[[], bool] = self._ask_close
        self.data_page = DataPage(self)
        self.model_page = ModelPage(self, devices)
        self.run_page = RunPage(self)
        self.finish_page = FinishPage(self)
        for page in (self.data_page, self.model_page, self.run_page, self.finish_page):
            self.addPage(page)
        self.resize(1180, 820)
        self._default_layout = [QWizard.WizardButton.Stretch, QWizard.WizardButton.BackButton,
                                QWizard.WizardButton.NextButton, QWizard.WizardButton.FinishButton,
                                QWizard.WizardButton.CancelButton]
        self.setButtonLayout(self._default_layout)
        self.setButtonText(QWizard.WizardButton.CancelButton, "Close")
        self.currentIdChanged.connect(self._on_page_changed)

    def _on_page_changed(self, _id: int) -> None:
        if self.currentPage() is self.model_page:
            self.model_page.refresh_folder()  # a run may have finished or been cancelled meanwhile

    def update_buttons(self) -> None:
        """No Back while a run is under way (the settings it uses must not change under it)."""
        if self.run_page.running:
            self.setButtonLayout([b for b in self._default_layout if b != QWizard.WizardButton.BackButton])
        else:
            self.setButtonLayout(self._default_layout)

    def _ask_close(self) -> bool:
        answer = QMessageBox.question(
            self, "Training is running",
            "Training is still running. Stop it and close? The last complete epoch is kept and can be resumed "
            "from the same output folder.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    def reject(self) -> None:  # Close button, Escape and the window's close box
        if self.run_page.running and not self.confirm_close():
            return
        self.shutdown()
        super().reject()

    def done(self, result: int) -> None:
        self.shutdown()
        super().done(result)

    def shutdown(self) -> None:
        """Stop the training child (keeping its last epoch) and wait for every worker thread."""
        self.run_page.shutdown()
        self.data_page.shutdown()
        self.model_page.shutdown()
        self.finish_page.shutdown()


def open_training_wizard(parent: QWidget | None = None) -> TrainingWizard:
    """Create and show the training wizard (non-modal); connect ``model_ready`` to load the model."""
    wizard = TrainingWizard(parent)
    wizard.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
    wizard.show()
    return wizard
