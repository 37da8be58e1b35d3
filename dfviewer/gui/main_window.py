"""The main window: the composition root that builds the widgets and wires the viewer's controllers.

The model (:class:`~dfviewer.display.viewer_state.ViewerState`) is Qt-free; the panels
(:mod:`~dfviewer.gui.panels_presenter`), the actions and menus (:mod:`~dfviewer.gui.viewer_actions`),
opening files (:mod:`~dfviewer.gui.file_controller`), inference
(:mod:`~dfviewer.gui.inference_presenter`) and export (:mod:`~dfviewer.gui.export_controller`)
each subscribe to it. This module keeps the docks, the status bar, the dialogs and the settings.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from PyQt6.QtCore import QByteArray, QSettings, Qt, pyqtSignal
from PyQt6.QtWidgets import (
    QDockWidget,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from dfviewer.core.results import DEFAULT_MC_SAMPLES
from dfviewer.core.sizes import check_working_size
from dfviewer.display.export_plan import ExportOptions
from dfviewer.display.layers import Layer
from dfviewer.display.viewer_state import Preferences, ViewerState
from dfviewer.errors import UserError
from dfviewer.gui.banner import WarningBanner
from dfviewer.gui.dialogs import PreferencesDialog, ShortcutsDialog, error_dialog
from dfviewer.gui.docks import FilesPanel, LogPanel, ModelPanel, SummaryTable, TagsPanel
from dfviewer.gui.export_controller import ExportController
from dfviewer.gui.file_controller import FileController
from dfviewer.gui.histogram import WindowingWidget
from dfviewer.gui.inference_presenter import InferencePresenter
from dfviewer.gui.inference_worker import InferenceController
from dfviewer.gui.panels_presenter import PanelsPresenter
from dfviewer.gui.qt_checks import required
from dfviewer.gui.viewer_actions import Commands, ViewerActions
from dfviewer.io.radiograph import Radiograph


def default_model_path() -> str:
    """The bundled demo model, or "" when this build has none."""
    try:
        from dfviewer.resources import resource_path

        path = resource_path("models", "demo.safetensors")
        return str(path) if path.exists() else ""
    except FileNotFoundError:
        return ""


def _settings_int(value: Any, default: int = 0) -> int:
    """A whole number >= 0 from the settings (stored as text by some back ends); ``default`` when it is none."""
    try:
        return max(0, int(value))
    except (TypeError, ValueError):
        return default


def _working_size(value: Any) -> int:
    """A working-size preference within the bounds every command has, else 0 (the model's own size)."""
    try:
        return check_working_size(value)
    except UserError:
        return 0


class MainWindow(QMainWindow):
    """dfviewer's viewer window."""

    inferenceFinished = pyqtSignal()
    inferenceCancelled = pyqtSignal()
    inferenceFailed = pyqtSignal(str)
    imageOpened = pyqtSignal(str)
    errorShown = pyqtSignal(str)
    summaryUpdated = pyqtSignal()

    def __init__(self, settings: QSettings | None = None, model_path: str | None = None,
                 device: str | None = None, mc_samples: int | None = None) -> None:
        super().__init__()
        self.settings = settings if settings is not None else QSettings("dfviewer", "dfviewer")
        self.setWindowTitle("dfviewer")
        self.setAcceptDrops(True)
        self.setDockOptions(QMainWindow.DockOption.AnimatedDocks | QMainWindow.DockOption.AllowTabbedDocks)
        self.last_error: Any = None  # the last error dialog (a QMessageBox)
        self.state = ViewerState(Preferences(
            model_path=model_path or str(self.settings.value("model", "") or "") or default_model_path(),
            device=device or str(self.settings.value("device", "auto")),
            mc_samples=int(mc_samples if mc_samples is not None else self.settings.value("mc", DEFAULT_MC_SAMPLES)),
            working_size=_working_size(self.settings.value("working_size", 0)),
            threads=_settings_int(self.settings.value("threads", 0)),
        ))
        self.controller = InferenceController(self)

        self._build_docks()
        self._build_status_bar()
        self.view = PanelsPresenter(self.state, self.windowing, self.readout.setText, self)
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(2, 2, 2, 2)
        self.banner = WarningBanner()  # a flagged input's sentence, over the panels while it is shown
        layout.addWidget(self.banner)
        layout.addWidget(self.view.grid, 1)
        self.setCentralWidget(central)

        self.inference = InferencePresenter(self.state, self.controller, self.status_bar, self.progress,
                                            self.cancel_button, self.device_label, self.summary, self.model_panel,
                                            self.show_error, self.log, self)
        self.exporter = ExportController(self, self.state, self.settings, self.status_bar, self.view.layers,
                                         self.view.flush, lambda: self.inference.model_name, self.show_error, self.log)
        self.exporter.input_warning = lambda: self.inference.input_warning
        self.ui_actions = ViewerActions(self, self.state, Commands(
            open_files=lambda: self.files_controller.open_dialog(),
            open_folder=lambda: self.files_controller.open_folder_dialog(),
            export_panel=self.exporter.export_panel_dialog, export_all=self.exporter.export_all_dialog,
            reset_view=self.reset_view, cancel=self.cancel_inference, rerun=self.start_inference,
            preferences=self.preferences_dialog, quit=self.close, select_map=self._select_map,
            reset_window=lambda: self.state.reset_window(self.view.histogram_key),
            step_file=lambda step: self.files_controller.step_file(step), train=self.open_training_wizard,
            shortcuts=self.show_shortcuts, about=self.show_about,
        ))
        recent_menu = self.ui_actions.build_menus([self.dock_window, self.dock_summary, self.dock_tags, self.dock_model,
                                                 self.dock_log, self.dock_files])
        self.cancel_button.setDefaultAction(self.ui_actions.act_cancel)
        self.cancel_button.setText("Cancel")
        self.files_controller = FileController(self, self.state, self.settings, self.files, recent_menu,
                                               self._on_opened, self.show_error, self.log,
                                               notify=lambda message: self.status_bar.showMessage(message, 10000))
        self._connect()
        self._restore_settings()
        self._update_enabled()
        self.flush()

    # ------------------------------------------------------------------ building

    def _dock(self, title: str, name: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def _build_docks(self) -> None:
        right = Qt.DockWidgetArea.RightDockWidgetArea
        self.windowing = WindowingWidget()
        self.summary = SummaryTable()
        self.tags = TagsPanel()
        self.model_panel = ModelPanel()
        self.log_panel = LogPanel()
        self.files = FilesPanel()
        self.dock_window = self._dock("Window", "dockWindow", self.windowing, right)
        self.dock_summary = self._dock("Stages", "dockStages", self.summary, right)
        self.dock_tags = self._dock("DICOM Tags", "dockTags", self.tags, right)
        self.dock_model = self._dock("Model", "dockModel", self.model_panel, right)
        self.dock_log = self._dock("Log", "dockLog", self.log_panel, right)
        self.dock_files = self._dock("Files", "dockFiles", self.files, right)
        self.tabifyDockWidget(self.dock_tags, self.dock_model)
        self.tabifyDockWidget(self.dock_model, self.dock_log)
        self.tabifyDockWidget(self.dock_log, self.dock_files)
        self.dock_tags.raise_()
        self.resizeDocks([self.dock_window], [300], Qt.Orientation.Horizontal)
        self.summary.setMinimumHeight(60)
        self.tags.tree.setMinimumHeight(40)

    def _build_status_bar(self) -> None:
        status = self.status_bar = required(self.statusBar(), "status bar")
        self.readout = QLabel("Open a radiograph (Ctrl+O) or drop files here")
        self.readout.setObjectName("readout")
        self.readout.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.readout.setMinimumWidth(100)
        self.progress = QProgressBar()
        self.progress.setMinimumWidth(190)
        self.progress.setMaximumWidth(240)
        self.progress.setTextVisible(True)
        self.progress.setVisible(False)
        self.cancel_button = QToolButton()
        self.cancel_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.cancel_button.setVisible(False)
        self.device_label = QLabel(f"device: {self.state.preferences.device}")
        self.device_label.setToolTip("Compute device of the inference thread (Edit > Preferences)")
        status.addWidget(self.readout, 1)
        status.addPermanentWidget(self.progress)
        status.addPermanentWidget(self.cancel_button)
        status.addPermanentWidget(self.device_label)

    def _connect(self) -> None:
        s = self.state
        sync = self.ui_actions.sync
        for signal in (s.imageChanged, s.resultsChanged, s.displayChanged, s.cropChanged):
            signal.connect(sync)
        for signal in (s.imageChanged, s.resultsChanged, s.progressChanged):
            signal.connect(self._update_enabled)
        s.imageChanged.connect(self._update_window_title)
        self.inference.finished.connect(self._update_enabled)
        self.inference.finished.connect(self.inferenceFinished.emit)
        self.inference.cancelled.connect(self.inferenceCancelled.emit)
        self.inference.failed.connect(self.inferenceFailed.emit)
        self.inference.summaryUpdated.connect(self.summaryUpdated.emit)
        self.inference.inputWarningChanged.connect(self.banner.show_warning)
        self.tags.titleChanged.connect(self.dock_tags.setWindowTitle)

    # ------------------------------------------------------------------ the parts, for callers and tests

    @property
    def panels(self) -> dict:
        return self.view.panels

    @property
    def layers(self) -> dict[str, Layer | None]:
        return self.view.layers

    @property
    def grid(self) -> Any:
        return self.view.grid

    @property
    def crop_roi(self) -> Any:
        return self.view.crop_roi

    @property
    def stage_buttons(self) -> dict:
        return self.ui_actions.stage_buttons

    @property
    def map_buttons(self) -> dict:
        return self.ui_actions.map_buttons

    @property
    def tools_menu(self) -> Any:
        return self.ui_actions.tools_menu

    @property
    def act_train(self) -> Any:
        return self.ui_actions.act_train

    @property
    def folder_files(self) -> list[Path]:
        return self.files_controller.folder_files

    @property
    def mc_samples(self) -> int:
        return self.state.preferences.mc_samples

    @property
    def confirm_overwrite(self) -> Callable[[list[Path]], bool]:
        return self.exporter.confirm_overwrite

    @confirm_overwrite.setter
    def confirm_overwrite(self, confirm: Callable[[list[Path]], bool]) -> None:
        self.exporter.confirm_overwrite = confirm

    # ------------------------------------------------------------------ opening

    def open_paths(self, paths: Sequence[str | Path]) -> bool:
        """Open files and folders (folders list their radiographs); the first one is shown."""
        opened = self.files_controller.open_paths(paths)
        if len(self.folder_files) > 1:
            self.dock_files.raise_()
        return opened

    def open_folder(self, folder: str | Path) -> bool:
        return self.open_paths([folder])

    def open_file(self, path: str | Path) -> bool:
        """Read a radiograph and start inference; on failure show the reason and change nothing."""
        return self.files_controller.open_file(path)

    def step_file(self, step: int) -> None:
        self.files_controller.step_file(step)

    def _on_opened(self, path: Path, radiograph: Radiograph) -> None:
        self.tags.show_radiograph(radiograph)
        self.inference.find_crop_box()
        self.reset_view()
        self.readout.setText(self._image_summary(path, radiograph))
        self.imageOpened.emit(str(path))
        self.start_inference()

    @staticmethod
    def _image_summary(path: Path, r: Radiograph) -> str:
        h, w = r.pixels.shape
        spacing = ""
        if r.pixel_spacing:
            spacing = f" · {r.pixel_spacing[0]:.3g} mm/px" + ("" if r.spacing_known else " (guessed)")
        return f"{path.name} · {w} x {h} px{spacing} · move the cursor over an image to read values"

    # ------------------------------------------------------------------ inference and view

    def start_inference(self) -> None:
        if not self.inference.start() and self.state.has_image:
            self.panels["darkfield"].set_layer(None, "No model")
        self._update_enabled()

    def cancel_inference(self) -> None:
        self.inference.cancel()
        self._update_enabled()

    def flush(self) -> None:
        """Redraw the panels marked dirty now (normally done on the next event-loop turn)."""
        self.view.flush()

    def reset_view(self) -> None:
        """Fit the crop box (when cropping) or the whole image in every (linked) panel."""
        self.view.reset_view()

    def _select_map(self, key: str) -> None:
        if key == "error" and self.state.truth is None:
            self.status_bar.showMessage("The error map needs a real dark-field loaded beside the image", 4000)
            return
        self.state.set_overlay_map(key)

    def _update_enabled(self) -> None:
        self.ui_actions.update_enabled(self.controller.running)

    def _update_window_title(self) -> None:
        name = self.state.path.name if self.state.path is not None else ""
        self.setWindowTitle(f"{name} — dfviewer" if name else "dfviewer")

    # ------------------------------------------------------------------ export

    def export_panel(self, panel_key: str, path: str | Path) -> Path | None:
        """Write the panel as shown (window, blend, crop) to ``path``; asks before overwriting."""
        return self.exporter.export_panel(panel_key, path)

    def export_all(self, folder: str | Path, options: ExportOptions | None = None) -> list[Path]:
        """Every map of every stage into ``folder``; asks once before overwriting existing files."""
        return self.exporter.export_all(folder, options)

    # ------------------------------------------------------------------ dialogs, logging, settings

    def show_error(self, message: str, details: str = "") -> None:
        """One plain sentence (and optional details) in a non-blocking dialog; also logged."""
        self.log(f"error: {message}")
        self.last_error = error_dialog(self, message, details)
        self.errorShown.emit(message)

    def log(self, message: str) -> None:
        self.log_panel.add(message)

    def open_training_wizard(self) -> None:
        """Tools > Train a Model: its "Open in viewer" makes the trained checkpoint the viewer's model."""
        from dfviewer.gui.wizard.wizard import open_training_wizard  # loaded on first use

        self._wizard = open_training_wizard(self)
        self._wizard.model_ready.connect(self.use_model)

    def use_model(self, path: str | Path) -> None:
        """Use checkpoint ``path`` from now on (and regenerate the open image's maps)."""
        self.log(f"using model {path}")
        p = self.state.preferences
        self.apply_preferences(model=str(path), mc=p.mc_samples, working_size=p.working_size, device=p.device)

    def show_shortcuts(self) -> None:
        self._shortcuts = ShortcutsDialog(self)
        self._shortcuts.open()

    def show_about(self) -> None:
        from dfviewer import __version__

        QMessageBox.about(self, "About dfviewer",
                          f"<b>dfviewer {__version__}</b><p>Dark-field radiographs with per-pixel uncertainty "
                          "generated from attenuation chest X-rays (uncertainty-guided progressive GAN).</p>")

    def preferences_dialog(self) -> None:
        dialog = self.make_preferences_dialog()
        if dialog.exec() == PreferencesDialog.DialogCode.Accepted:
            self.apply_preferences(**dialog.values())

    def make_preferences_dialog(self) -> PreferencesDialog:
        """The Preferences dialog on the current preferences, offering the devices the runtime has here."""
        from dfviewer.core.runtime_session import runtime_devices

        p = self.state.preferences
        return PreferencesDialog(self, p.model_path, p.mc_samples, p.working_size, p.device, runtime_devices(),
                                 p.threads)

    def apply_preferences(self, model: str, mc: int, working_size: int, device: str, threads: int | None = None) -> None:
        """New preferences: saved in the settings; the open image's maps are regenerated when they changed.

        ``threads`` (0: automatic) is kept as it is when not given.
        """
        threads = self.state.preferences.threads if threads is None else max(0, int(threads))
        working_size = _working_size(working_size)
        changed = self.state.set_preferences(Preferences(model, device, int(mc), working_size, threads))
        self.settings.setValue("model", model if model != default_model_path() else "")
        self.settings.setValue("mc", int(mc))
        self.settings.setValue("working_size", int(working_size))
        self.settings.setValue("device", device)
        self.settings.setValue("threads", threads)
        self.device_label.setText(f"device: {device}")
        if changed and self.state.has_image:
            self.start_inference()

    def _restore_settings(self) -> None:
        geometry = self.settings.value("geometry")
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)
        else:
            self.resize(1280, 800)
        state = self.settings.value("window_state")
        if isinstance(state, QByteArray) and not state.isEmpty():
            self.restoreState(state)

    # ------------------------------------------------------------------ Qt events

    def dragEnterEvent(self, event) -> None:  # noqa: N802
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802
        paths = [url.toLocalFile() for url in event.mimeData().urls() if url.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.open_paths(paths)

    def closeEvent(self, event) -> None:  # noqa: N802
        self.settings.setValue("geometry", self.saveGeometry())
        self.settings.setValue("window_state", self.saveState())
        self.settings.sync()
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self) -> None:
        """Cancel inference and stop the inference thread (waits for it)."""
        if self.controller.worker_thread.isRunning():
            self.controller.shutdown()
