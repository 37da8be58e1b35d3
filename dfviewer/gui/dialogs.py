"""Dialogs: errors (one sentence plus details), preferences, export options, shortcuts list.

All are shown with ``open()`` (window-modal, non-blocking) so tests and the event loop keep
running; the main window keeps a reference to the last error dialog.
"""

from __future__ import annotations

from pathlib import Path

from PyQt6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from dfviewer.core.sizes import MAX_WORKING_SIZE, MIN_WORKING_SIZE
from dfviewer.gui.qt_checks import required
from dfviewer.gui.shortcuts import SHORTCUTS
from dfviewer.threads import MAX_THREADS

#: the checkpoint field shows this many characters of a path at least
CHECKPOINT_FIELD_CHARS = 60


def error_dialog(parent: QWidget, message: str, details: str = "", title: str = "dfviewer") -> QMessageBox:
    """A warning box with ``message`` (one sentence) and an expandable details section; shown non-blocking."""
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle(title)
    box.setText(message)
    if details:
        box.setDetailedText(details)
    box.setStandardButtons(QMessageBox.StandardButton.Ok)
    box.setObjectName("errorDialog")
    box.open()
    return box


class PreferencesDialog(QDialog):
    """Model checkpoint, MC samples, working resolution, device and CPU threads."""

    def __init__(self, parent: QWidget, model_path: str, mc_samples: int, working_size: int, device: str,
                 devices: list[str], threads: int = 0) -> None:
        super().__init__(parent)
        self.setWindowTitle("Preferences")
        self.model = QLineEdit(model_path)
        # wide enough for a typical path; the tooltip holds the whole one, the end (the file name) stays in view
        self.model.setMinimumWidth(self.model.fontMetrics().horizontalAdvance("x" * CHECKPOINT_FIELD_CHARS))
        self.model.textChanged.connect(self._show_model_tooltip)
        self._show_model_tooltip(model_path)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.model, 1)
        row.addWidget(browse)
        self.mc = QSpinBox()
        self.mc.setRange(0, 500)
        self.mc.setValue(mc_samples)
        self.mc.setToolTip("Monte Carlo dropout samples for the epistemic map (0: deterministic preview only)")
        self.working = QSpinBox()
        self.working.setRange(0, MAX_WORKING_SIZE)
        self.working.setSingleStep(64)
        self.working.setSpecialValueText("model default")
        self.working.setValue(working_size)
        self.working.setToolTip(f"Longer image side the model runs at, {MIN_WORKING_SIZE} to {MAX_WORKING_SIZE} "
                                "(model default below); smaller is faster and uses less memory")
        self.device = QComboBox()
        self.device.addItems(devices)
        self.device.setCurrentText(device)
        self.device.setToolTip("Where the model runs: auto picks a GPU when one is available")
        form = QFormLayout()
        form.addRow("Model checkpoint", row)
        form.addRow("MC samples", self.mc)
        form.addRow("Working resolution", self.working)
        form.addRow("Device", self.device)
        self.threads = QSpinBox()
        self.threads.setRange(0, MAX_THREADS)
        self.threads.setSpecialValueText("automatic")
        self.threads.setValue(threads)
        self.threads.setToolTip("CPU threads of the model; automatic: the cores other programs leave free when "
                                "the maps are generated (best on a shared machine)")
        form.addRow("CPU threads", self.threads)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(buttons)

    def _show_model_tooltip(self, path: str) -> None:
        self.model.setToolTip(f"{path}\n\nThe safetensors checkpoint used for inference (the bundled demo model "
                              "by default)" if path else "The safetensors checkpoint used for inference")
        if not self.model.hasFocus():
            self.model.setCursorPosition(len(path))  # the file name, not the start of the folder, in view

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Model checkpoint", str(Path(self.model.text()).parent),
                                              "Checkpoints (*.safetensors);;All files (*)")
        if path:
            self.model.setText(path)

    def values(self) -> dict:
        return {"model": self.model.text().strip(), "mc": self.mc.value(), "working_size": self.working.value(),
                "device": self.device.currentText(), "threads": self.threads.value()}


class ExportOptionsDialog(QDialog):
    """What "Export all maps" writes besides the PNGs."""

    def __init__(self, parent: QWidget, dicom_available: bool) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export all maps")
        self.tiff = QCheckBox("Also float32 TIFF of every map (raw values)")
        self.dicom = QCheckBox("Also a derived DICOM of each stage's dark-field")
        self.dicom.setEnabled(dicom_available)
        if not dicom_available:
            self.dicom.setToolTip("Only for DICOM inputs")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.tiff)
        layout.addWidget(self.dicom)
        layout.addWidget(buttons)


class ShortcutsDialog(QDialog):
    """Help > Shortcuts: every keyboard shortcut."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        table = QTableWidget(len(SHORTCUTS), 2)
        table.setHorizontalHeaderLabels(["Keys", "Action"])
        required(table.verticalHeader(), "table header").hide()
        for i, (keys, action) in enumerate(SHORTCUTS):
            table.setItem(i, 0, QTableWidgetItem(keys))
            table.setItem(i, 1, QTableWidgetItem(action))
        required(table.horizontalHeader(), "table header").setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        table.resizeColumnToContents(0)
        table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(table)
        layout.addWidget(buttons)
        self.resize(460, 480)
