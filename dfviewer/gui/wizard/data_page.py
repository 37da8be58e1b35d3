"""Wizard page 1: choose a paired dataset (folder or manifest), check it, preview pairs, or simulate one."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import qtawesome as qta
from PyQt6.QtCore import pyqtSignal
from PyQt6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
    QWizardPage,
)

from dfviewer.core.dataset_check import SPLITS, DatasetReport, check_dataset, read_pixels
from dfviewer.gui.wizard.images import ImageTile
from dfviewer.gui.wizard.tasks import BackgroundTask

N_PREVIEW = 8


@dataclass
class DataCheck:
    """A dataset report and a few downsampled pairs for the preview."""

    report: DatasetReport
    previews: list[tuple[str, np.ndarray, np.ndarray]]


def check_with_previews(path: str | Path, n_preview: int = N_PREVIEW) -> DataCheck:
    """:func:`check_dataset` plus the first pairs of the train split (then val, test), downsampled."""
    report = check_dataset(path)
    previews = []
    pairs = [p for s in SPLITS for p in report.split(s)][:n_preview]
    for pair in pairs:
        a, d = read_pixels(pair.attenuation), read_pixels(pair.darkfield)
        step = max(1, max(a.shape) // 192)
        previews.append((pair.case, a[::step, ::step].copy(), d[::step, ::step].copy()))
    return DataCheck(report, previews)


class PhantomDialog(QDialog):
    """Asks where and how big a simulated dataset should be."""

    def __init__(self, parent: QWidget | None, folder: str) -> None:
        super().__init__(parent)
        self.setWindowTitle("Create a phantom dataset")
        self.folder = QLineEdit(folder)
        browse = QPushButton(qta.icon("mdi6.folder-open"), "")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.folder, 1)
        row.addWidget(browse)
        self.count = QSpinBox()
        self.count.setRange(3, 100_000)
        self.count.setValue(60)
        self.image_size = QSpinBox()
        self.image_size.setRange(32, 4096)
        self.image_size.setSingleStep(32)
        self.image_size.setValue(256)
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        form = QFormLayout(self)
        form.addRow(QLabel("Simulated chest radiograph pairs (attenuation as DICOM, dark-field as TIFF), "
                           "70 / 15 / 15 % train / val / test."))
        form.addRow("Folder", row)
        form.addRow("Cases", self.count)
        form.addRow("Image size (px)", self.image_size)
        form.addRow("Seed", self.seed)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder for the phantom dataset", self.folder.text())
        if folder:
            self.folder.setText(str(Path(folder) / "phantom"))

    def values(self) -> tuple[str, int, int, int]:
        return self.folder.text().strip(), self.count.value(), self.image_size.value(), self.seed.value()


class DataPage(QWizardPage):
    """Dataset choice and check; complete when the check found train pairs and no blocking problem."""

    checked = pyqtSignal(object)  # the DatasetReport

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setTitle("Data")
        self.setSubTitle("Paired attenuation / dark-field images: a folder with manifest.csv (or attenuation/ "
                         "and darkfield/ subfolders), or a manifest file.")
        self.report: DatasetReport | None = None
        self.task = BackgroundTask(self)
        self.task.finished.connect(self._on_checked)
        self.task.failed.connect(self._on_check_failed)
        self.phantom_task = BackgroundTask(self)
        self.phantom_task.progress.connect(self._on_phantom_progress)
        self.phantom_task.finished.connect(self._on_phantom_done)
        self.phantom_task.failed.connect(self._on_phantom_failed)

        self.path = QLineEdit()
        self.path.setObjectName("dataPath")
        self.path.setPlaceholderText("dataset folder or manifest.csv")
        self.path.returnPressed.connect(self.check)
        folder_btn = QPushButton(qta.icon("mdi6.folder-open"), "Folder…")
        folder_btn.clicked.connect(self._browse_folder)
        manifest_btn = QPushButton(qta.icon("mdi6.file-table"), "Manifest…")
        manifest_btn.clicked.connect(self._browse_manifest)
        self.check_btn = QPushButton(qta.icon("mdi6.check-decagram"), "Check")
        self.check_btn.clicked.connect(self.check)
        self.phantom_btn = QPushButton(qta.icon("mdi6.creation"), "Create phantom dataset…")
        self.phantom_btn.setToolTip("Simulate paired chest radiographs for trying the method without data")
        self.phantom_btn.clicked.connect(self._phantom_dialog)
        top = QHBoxLayout()
        top.addWidget(self.path, 1)
        for b in (folder_btn, manifest_btn, self.check_btn, self.phantom_btn):
            top.addWidget(b)

        self.progress = QProgressBar()
        self.progress.setObjectName("dataProgress")
        self.progress.hide()
        self.status = QLabel("Choose a dataset, or create a phantom one.")
        self.status.setObjectName("dataStatus")
        self.status.setWordWrap(True)

        facts = QGroupBox("What was found")
        grid = QGridLayout(facts)
        self.split_labels: dict[str, QLabel] = {}
        for col, split in enumerate(SPLITS):
            grid.addWidget(QLabel(f"<b>{split}</b>"), 0, col)
            lab = QLabel("–")
            lab.setObjectName(f"count_{split}")
            self.split_labels[split] = lab
            grid.addWidget(lab, 1, col)
        self.sizes = QLabel("–")
        self.sizes.setWordWrap(True)
        self.formats = QLabel("–")
        grid.addWidget(QLabel("<b>image sizes</b>"), 2, 0)
        grid.addWidget(self.sizes, 2, 1, 1, 2)
        grid.addWidget(QLabel("<b>formats</b>"), 3, 0)
        grid.addWidget(self.formats, 3, 1, 1, 2)
        self.problems = QListWidget()
        self.problems.setObjectName("dataProblems")
        self.problems.setMinimumHeight(70)
        self.problems.setWordWrap(True)
        grid.addWidget(QLabel("<b>problems</b>"), 4, 0, 1, 3)
        grid.addWidget(self.problems, 5, 0, 1, 3)

        preview_box = QGroupBox("Preview (attenuation above, dark-field below)")
        self.preview_grid = QGridLayout(preview_box)
        self.tiles: list[tuple[ImageTile, ImageTile]] = []
        for i in range(N_PREVIEW):
            a, d = ImageTile("", 112), ImageTile("", 112)
            a.caption.hide()
            row = 2 * (i // 4)
            self.preview_grid.addWidget(a, row, i % 4)
            self.preview_grid.addWidget(d, row + 1, i % 4)
            self.tiles.append((a, d))
        self.preview_grid.setRowStretch(4, 1)

        middle = QHBoxLayout()
        middle.addWidget(facts, 1)
        middle.addWidget(preview_box)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addLayout(middle, 1)
        self.registerField("dataPath*", self.path)

    # -- choosing --

    def _browse_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Dataset folder", self.path.text())
        if folder:
            self.set_path(folder)

    def _browse_manifest(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Dataset manifest", self.path.text(), "CSV manifest (*.csv)")
        if path:
            self.set_path(path)

    def set_path(self, path: str | Path, check: bool = True) -> None:
        self.path.setText(str(path))
        if check:
            self.check()

    # -- checking --

    def check(self) -> None:
        """Check the dataset at the path off the GUI thread (same function as ``dfviewer train``)."""
        path = self.path.text().strip()
        if not path or self.task.running:
            return
        self.report = None
        self.completeChanged.emit()
        self.status.setText(f"Checking {path}…")
        self.progress.setRange(0, 0)
        self.progress.show()
        self.check_btn.setEnabled(False)
        self.task.start(lambda progress, cancel: check_with_previews(path))

    def _on_checked(self, result: DataCheck) -> None:
        self.progress.hide()
        self.check_btn.setEnabled(True)
        report = result.report
        self.report = report
        counts = report.splits
        for split, lab in self.split_labels.items():
            lab.setText(f"{counts[split]} pair{'' if counts[split] == 1 else 's'}")
        self.sizes.setText(", ".join(f"{k} ({v})" for k, v in sorted(report.sizes.items(), key=lambda kv: -kv[1]))
                           or "–")
        self.formats.setText(", ".join(f"{k} ({v})" for k, v in sorted(report.formats.items())) or "–")
        self.problems.clear()
        for p in report.problems:
            icon = qta.icon("mdi6.close-octagon", color="#ff6b6b") if p.blocking else qta.icon(
                "mdi6.information", color="#e0b040")
            self.problems.addItem(QListWidgetItem(icon, str(p)))
        if not report.problems:
            self.problems.addItem(QListWidgetItem(qta.icon("mdi6.check", color="#5cb85c"), "none"))
        for i, (a_tile, d_tile) in enumerate(self.tiles):
            if i < len(result.previews):
                case, a, d = result.previews[i]
                a_tile.show_array(a, "gray", caption="")
                d_tile.show_array(d, "gray", caption=case)
            else:
                a_tile.clear()
                d_tile.clear()
                d_tile.caption.setText("")
                a_tile.caption.setText("")
        n = len(report.pairs)
        blocking = report.blocking
        if blocking:
            self.status.setText(f"<span style='color:#ff6b6b'>{len(blocking)} problem"
                                f"{'s' if len(blocking) > 1 else ''} to fix before training (listed below); "
                                f"{n} good pairs.</span>")
        elif counts["train"] == 0:
            self.status.setText("<span style='color:#ff6b6b'>No pairs in the train split.</span>")
        else:
            self.status.setText(f"{n} pairs ready ({report.layout} layout at {report.root}).")
        self.checked.emit(report)
        self.completeChanged.emit()

    def _on_check_failed(self, message: str, details: str) -> None:
        self.progress.hide()
        self.check_btn.setEnabled(True)
        self.report = None
        self.status.setText(f"<span style='color:#ff6b6b'>{message}</span>")
        self.status.setToolTip(details)
        self.completeChanged.emit()

    def isComplete(self) -> bool:  # noqa: N802 - Qt's name
        r = self.report
        return bool(r is not None and r.ok and r.splits["train"] > 0 and not self.task.running
                    and not self.phantom_task.running)

    # -- phantom --

    def _phantom_dialog(self) -> None:
        base = Path(self.path.text()).parent if self.path.text() else Path.home() / "dfviewer-data"
        dialog = PhantomDialog(self, str(base / "phantom"))
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.create_phantom(*dialog.values())

    def create_phantom(self, folder: str | Path, n: int, size: int, seed: int = 0) -> None:
        """Simulate ``n`` pairs of ``size`` px into ``folder`` off the GUI thread, then check them."""
        from dfviewer.phantom import write_dataset

        class _Stop(Exception):
            pass

        def job(progress, cancel):
            def report(done: int, total: int) -> None:
                if cancel.is_set():
                    raise _Stop("phantom creation cancelled")
                progress(done, total)

            return write_dataset(folder, int(n), int(size), int(seed), progress=report)

        self.status.setText(f"Simulating {n} cases of {size} px into {folder}…")
        self.progress.setRange(0, int(n))
        self.progress.setValue(0)
        self.progress.show()
        self.phantom_btn.setEnabled(False)
        self.completeChanged.emit()
        self.phantom_task.start(job)

    def _on_phantom_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, total)
        self.progress.setValue(done)
        self.status.setText(f"Simulating case {done} of {total}…")

    def _on_phantom_done(self, manifest: Path) -> None:
        self.phantom_btn.setEnabled(True)
        self.set_path(Path(manifest).parent)

    def _on_phantom_failed(self, message: str, details: str) -> None:
        self.phantom_btn.setEnabled(True)
        self.progress.hide()
        self.status.setText(f"<span style='color:#ff6b6b'>The phantom dataset could not be written: {message}</span>")
        self.status.setToolTip(details)
        self.completeChanged.emit()

    def shutdown(self) -> None:
        self.task.wait()
        self.phantom_task.wait()
