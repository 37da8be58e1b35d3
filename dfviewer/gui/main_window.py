"""The main window: panels side by side, controls, docks, menus; wires state, views and worker."""

from __future__ import annotations

import math
import threading
import traceback
from pathlib import Path
from typing import Any, Callable

import pyqtgraph as pg
import qtawesome as qta
from PyQt6.QtCore import QByteArray, QSettings, Qt, QTimer, pyqtSignal
from PyQt6.QtGui import QAction, QActionGroup, QKeySequence
from PyQt6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QSlider,
    QToolBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from dfviewer.errors import UserError
from dfviewer.gui import analysis, export
from dfviewer.gui.dialogs import ExportOptionsDialog, PreferencesDialog, ShortcutsDialog, error_dialog
from dfviewer.gui.docks import FilesPanel, LogPanel, ModelPanel, SummaryTable, TagsPanel
from dfviewer.gui.histogram import WindowingWidget
from dfviewer.gui.image_panel import ImagePanel
from dfviewer.gui.inference_worker import InferenceController
from dfviewer.gui.panel_grid import PanelGrid
from dfviewer.gui.layers import Layer, make_layer, make_overlay
from dfviewer.gui.maps import MAPS, OVERLAY_MAPS, OVERLAY_MODES, attenuation_presets, percentile_window
from dfviewer.gui.viewer_state import ViewerState

PANELS = ("attenuation", "darkfield", "overlay", "truth")
MAX_RECENT = 10


def default_model_path() -> str:
    """The bundled demo model, or "" when this build has none."""
    try:
        from dfviewer.resources import resource_path

        path = resource_path("models", "demo.safetensors")
        return str(path) if path.exists() else ""
    except FileNotFoundError:
        return ""


class MainWindow(QMainWindow):
    """dfviewer's viewer window."""

    inferenceFinished = pyqtSignal()
    inferenceCancelled = pyqtSignal()
    inferenceFailed = pyqtSignal(str)
    imageOpened = pyqtSignal(str)
    errorShown = pyqtSignal(str)
    summaryUpdated = pyqtSignal()
    _summaryReady = pyqtSignal(object, object, bool)
    _summaryLog = pyqtSignal(str)

    def __init__(self, settings: QSettings | None = None, model_path: str | None = None,
                 device: str | None = None, mc_samples: int | None = None) -> None:
        super().__init__()
        self.settings = settings if settings is not None else QSettings("dfviewer", "dfviewer")
        self.setWindowTitle("dfviewer")
        self.setAcceptDrops(True)
        self.setDockOptions(QMainWindow.DockOption.AnimatedDocks | QMainWindow.DockOption.AllowTabbedDocks)
        self.model_path = model_path or str(self.settings.value("model", "") or "") or default_model_path()
        self.device = device or str(self.settings.value("device", "auto"))
        self.mc_samples = int(mc_samples if mc_samples is not None else self.settings.value("mc", 20))
        self.working_size = int(self.settings.value("working_size", 0) or 0)
        self.folder_files: list[Path] = []
        self.last_error: Any = None  # the last error dialog (a QMessageBox)
        #: decides whether existing files may be overwritten: ``confirm(paths) -> bool``
        self.confirm_overwrite: Callable[[list[Path]], bool] = self._ask_overwrite
        self.layers: dict[str, Layer | None] = {}
        self._dirty: set[str] = set()
        self._crop_manual = False
        self._input_warning = ""  # the latest job's "not in the model's units" sentence
        self._crop_was_enabled = False
        self._drag_window: tuple[float, float] | None = None
        self._hist_source: tuple[str, int] | None = None
        self._active_key = "attenuation"
        self._active_panel = "overlay"
        self._model_name = Path(self.model_path).stem if self.model_path else ""

        self.state = ViewerState(self)
        self.controller = InferenceController(self)
        self._refresh_timer = QTimer(self)
        self._refresh_timer.setSingleShot(True)
        self._refresh_timer.setInterval(0)
        self._refresh_timer.timeout.connect(self.flush)

        self._build_panels()
        self._build_controls()
        self._build_docks()
        self._build_status_bar()
        self._build_menus()
        self._connect()
        self._restore_settings()
        self._update_enabled()
        self.flush()

    # ------------------------------------------------------------------ building

    def _build_panels(self) -> None:
        self.panels: dict[str, ImagePanel] = {
            "attenuation": ImagePanel("attenuation", MAPS["attenuation"].label),
            "darkfield": ImagePanel("darkfield", MAPS["mean"].label),
            "overlay": ImagePanel("overlay", MAPS["aleatoric"].label),
            "truth": ImagePanel("truth", MAPS["truth"].label),
        }
        for key, panel in self.panels.items():
            info = MAPS[{"darkfield": "mean", "overlay": "aleatoric"}.get(key, key)]
            panel.setToolTip(info.tooltip)
        self._syncing = False
        for panel in self.panels.values():
            panel.view.sigRangeChanged.connect(lambda view, *_: self._sync_views(view))
        self.grid = PanelGrid([self.panels[key] for key in PANELS])
        self.grid.set_panel_shown(self.panels["truth"], False)
        self.crop_roi = pg.RectROI([0, 0], [10, 10], pen=pg.mkPen("#ffc83c", width=2), movable=True,
                                   rotatable=False, resizable=True)
        self.crop_roi.addScaleHandle([0, 0], [1, 1])
        self.crop_roi.addScaleHandle([1, 0], [0, 1])
        self.crop_roi.addScaleHandle([0, 1], [1, 0])
        self.crop_roi.setZValue(20)
        self.crop_roi.setVisible(False)
        self.crop_roi.setToolTip("Lung crop box: drag or resize it to adjust the crop")
        self.panels["attenuation"].view.addItem(self.crop_roi, ignoreBounds=True)

    def _build_controls(self) -> None:
        bar = QToolBar("Main")
        bar.setObjectName("mainToolbar")
        bar.setMovable(False)
        self.toolbar = bar
        self.addToolBar(bar)

        self.act_open = self._action("&Open…", "mdi6.folder-open", QKeySequence.StandardKey.Open, self.open_dialog,
                                     "Open one or more radiographs (DICOM, PNG, JPEG, TIFF, NPY)")
        self.act_open_folder = self._action("Open &Folder…", "mdi6.folder-multiple-image", "Ctrl+Shift+O",
                                            self.open_folder_dialog, "Open every image of a folder")
        self.act_export = self._action("&Export Current Panel…", "mdi6.export", "Ctrl+E", self.export_panel_dialog,
                                       "Save the panel last clicked (default: the overlay panel) as a PNG exactly as shown "
                                       "(window, blend, crop)")
        self.act_export_all = self._action("Export &All Maps…", "mdi6.image-multiple", "Ctrl+Shift+E",
                                           self.export_all_dialog, "Save every map of every stage to a folder")
        self.act_crop = self._action("Lung &Crop", "mdi6.crop", "C", None,
                                     "Crop all panels to the lungs; drag the yellow box on the input to adjust")
        self.act_crop.setCheckable(True)
        self.act_crop.toggled.connect(self.state.set_crop_enabled)
        self.act_reset_view = self._action("&Reset View", "mdi6.fit-to-screen", "R", self.reset_view,
                                           "Fit the image (or the crop box) in every panel")
        self.act_cancel = self._action("Cancel Inference", "mdi6.stop-circle-outline", "Esc", self.cancel_inference,
                                       "Stop the Monte Carlo sampling (the last estimate stays)")
        self.act_rerun = self._action("Run Inference Again", "mdi6.play", "F5", self.start_inference,
                                      "Generate the maps again with the current preferences")
        self.act_prefs = self._action("&Preferences…", "mdi6.cog", "Ctrl+,", self.preferences_dialog,
                                      "Model checkpoint, MC samples, working resolution, device")
        for act in (self.act_open, self.act_open_folder, self.act_export):
            bar.addAction(act)
        bar.addSeparator()

        bar.addWidget(QLabel(" Stage "))
        self.stage_group = QButtonGroup(self)
        self.stage_buttons: dict[int, QToolButton] = {}
        for stage in (1, 2, 3):
            button = QToolButton()
            button.setText(str(stage))
            button.setCheckable(True)
            button.setToolTip(f"Show stage {stage} of the cascade (key {stage}); each stage refines the previous one")
            button.setObjectName(f"stage{stage}")
            self.stage_group.addButton(button, stage)
            self.stage_buttons[stage] = button
            bar.addWidget(button)
        self.stage_buttons[1].setChecked(True)
        self.stage_group.idClicked.connect(self.state.set_stage)
        bar.addSeparator()

        bar.addWidget(QLabel(" Map "))
        self.map_group = QButtonGroup(self)
        self.map_buttons: dict[str, QToolButton] = {}
        for key in OVERLAY_MAPS:
            info = MAPS[key]
            button = QToolButton()
            button.setText(info.symbol)
            button.setCheckable(True)
            shortcut = f" (key {info.shortcut})" if info.shortcut else ""
            button.setToolTip(f"{info.label}{shortcut}: {info.tooltip}")
            button.setObjectName(f"map_{key}")
            self.map_group.addButton(button)
            self.map_buttons[key] = button
            button.clicked.connect(lambda _=False, k=key: self.state.set_overlay_map(k))
            bar.addWidget(button)
        self.map_buttons[self.state.overlay_map].setChecked(True)
        bar.addSeparator()

        self.mode_combo = QComboBox()
        for key, label in OVERLAY_MODES.items():
            self.mode_combo.addItem(label, key)
        self.mode_combo.setToolTip("Show the map alone or blended over the dark-field or the attenuation image (key O)")
        self.mode_combo.currentIndexChanged.connect(lambda _: self.state.set_overlay_mode(self.mode_combo.currentData()))
        bar.addWidget(self.mode_combo)
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(int(self.state.opacity * 100))
        self.opacity.setFixedWidth(90)
        self.opacity.setToolTip("Overlay opacity when blended ([ and ] keys)")
        self.opacity.valueChanged.connect(lambda v: self.state.set_opacity(v / 100))
        bar.addWidget(self.opacity)
        bar.addSeparator()
        bar.addAction(self.act_crop)
        bar.addAction(self.act_reset_view)

        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.grid, 1)
        self.setCentralWidget(central)

    def _action(self, text: str, icon: str | None, shortcut: Any, slot: Callable | None, tip: str) -> QAction:
        act = QAction(text, self)
        if icon:
            act.setIcon(qta.icon(icon, color="#d8d8dc"))
        if shortcut is not None:
            act.setShortcut(QKeySequence(shortcut))
        act.setToolTip(f"{tip} ({QKeySequence(shortcut).toString()})" if shortcut is not None else tip)
        act.setStatusTip(tip)
        if slot is not None:
            act.triggered.connect(lambda _=False: slot())
        self.addAction(act)
        return act

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
        self.resizeDocks([self.dock_window], [270], Qt.Orientation.Horizontal)
        self.summary.setMinimumHeight(60)
        self.tags.tree.setMinimumHeight(40)

    def _build_status_bar(self) -> None:
        status = self.statusBar()
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
        self.cancel_button.setDefaultAction(self.act_cancel)
        self.cancel_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.cancel_button.setText("Cancel")
        self.cancel_button.setVisible(False)
        self.device_label = QLabel(f"device: {self.device}")
        self.device_label.setToolTip("Compute device of the inference thread (Edit > Preferences)")
        status.addWidget(self.readout, 1)
        status.addPermanentWidget(self.progress)
        status.addPermanentWidget(self.cancel_button)
        status.addPermanentWidget(self.device_label)

    def _build_menus(self) -> None:
        menu = self.menuBar()
        file = menu.addMenu("&File")
        file.addAction(self.act_open)
        file.addAction(self.act_open_folder)
        self.recent_menu = file.addMenu("Open &Recent")
        file.addSeparator()
        file.addAction(self.act_export)
        file.addAction(self.act_export_all)
        file.addSeparator()
        quit_act = self._action("&Quit", None, QKeySequence.StandardKey.Quit, self.close, "Quit dfviewer")
        file.addAction(quit_act)

        edit = menu.addMenu("&Edit")
        edit.addAction(self.act_prefs)

        view = menu.addMenu("&View")
        stage_group = QActionGroup(self)
        for stage in (1, 2, 3):
            act = self._action(f"Stage {stage}", None, str(stage), lambda s=stage: self.state.set_stage(s),
                               f"Show stage {stage}")
            stage_group.addAction(act)
            view.addAction(act)
        view.addSeparator()
        for key in OVERLAY_MAPS:
            info = MAPS[key]
            act = self._action(info.label, None, info.shortcut or None,
                               lambda k=key: self._select_map(k), info.tooltip)
            view.addAction(act)
        view.addSeparator()
        view.addAction(self._action("Cycle Overlay Mode", None, "O", self.cycle_overlay_mode,
                                    "Map alone, over dark-field, over attenuation"))
        view.addAction(self._action("Opacity Down", None, "[", lambda: self.opacity.setValue(self.opacity.value() - 10),
                                    "Less overlay opacity"))
        view.addAction(self._action("Opacity Up", None, "]", lambda: self.opacity.setValue(self.opacity.value() + 10),
                                    "More overlay opacity"))
        view.addAction(self._action("Reset Window", None, "W", lambda: self.state.reset_window(self._active_key),
                                    "Default window of the active panel"))
        view.addSeparator()
        view.addAction(self.act_crop)
        view.addAction(self.act_reset_view)
        view.addAction(self._action("Next Image", None, "PgDown", lambda: self.step_file(1), "Next image of the folder"))
        view.addAction(self._action("Previous Image", None, "PgUp", lambda: self.step_file(-1),
                                    "Previous image of the folder"))
        view.addSeparator()
        docks = view.addMenu("Panels")
        for dock in (self.dock_window, self.dock_summary, self.dock_tags, self.dock_model, self.dock_log, self.dock_files):
            docks.addAction(dock.toggleViewAction())

        run = menu.addMenu("&Inference")
        run.addAction(self.act_rerun)
        run.addAction(self.act_cancel)

        self.tools_menu = menu.addMenu("&Tools")
        self.act_train = self._action("&Train a Model…", "mdi6.tools", None, self.open_training_wizard,
                                      "Train a model on your own paired data or on the phantom")
        self.tools_menu.addAction(self.act_train)

        help_menu = menu.addMenu("&Help")
        help_menu.addAction(self._action("Keyboard &Shortcuts", "mdi6.keyboard", "F1", self.show_shortcuts,
                                         "List every keyboard shortcut"))
        help_menu.addAction(self._action("&About dfviewer", None, None, self.show_about, "About dfviewer"))
        self._update_recent_menu()

    def _connect(self) -> None:
        s = self.state
        s.imageChanged.connect(self._on_image_changed)
        s.resultsChanged.connect(lambda: self._mark("darkfield", "overlay"))
        s.displayChanged.connect(self._on_display_changed)
        s.windowChanged.connect(self._on_window_changed)
        s.cropChanged.connect(self._on_crop_changed)
        s.progressChanged.connect(self._update_progress)
        for panel in self.panels.values():
            panel.hovered.connect(self._on_hover)
            panel.left.connect(self._on_leave)
            panel.windowDragged.connect(self._on_window_drag)
            panel.activated.connect(self._on_panel_activated)
            panel.resetViewRequested.connect(self.reset_view)
        self.crop_roi.sigRegionChangeFinished.connect(self._on_roi_edited)
        self.windowing.windowEdited.connect(lambda key, c, w: self.state.set_window(key, c, w))
        self.windowing.presetChosen.connect(lambda key, c, w: self.state.set_window(key, c, w))
        self.windowing.resetRequested.connect(self.state.reset_window)
        self.windowing.targetChanged.connect(self._on_target_changed)
        self.windowing.autoToggled.connect(self._on_auto_toggled)
        self.files.fileChosen.connect(lambda path: self.open_file(path))
        self._summaryReady.connect(self._on_summary_ready)
        self._summaryLog.connect(self.log)
        w = self.controller.worker
        w.update.connect(self._on_update)
        w.progress.connect(self._on_progress)
        w.finished.connect(self._on_finished)
        w.cancelled.connect(self._on_cancelled)
        w.failed.connect(self._on_failed)
        w.modelLoaded.connect(self._on_model_loaded)
        w.inputWarning.connect(self._on_input_warning)
        w.log.connect(self.log)

    # ------------------------------------------------------------------ opening

    def open_dialog(self) -> None:
        start = str(self.settings.value("last_dir", str(Path.home())))
        paths, _ = QFileDialog.getOpenFileNames(
            self, "Open radiographs", start,
            "Images (*.dcm *.dicom *.ima *.png *.jpg *.jpeg *.tif *.tiff *.npy);;All files (*)")
        if paths:
            self.open_paths(paths)

    def open_folder_dialog(self) -> None:
        start = str(self.settings.value("last_dir", str(Path.home())))
        folder = QFileDialog.getExistingDirectory(self, "Open folder", start)
        if folder:
            self.open_folder(folder)

    def open_paths(self, paths: list[str | Path]) -> bool:
        """Open files and folders (folders list their images); the first image is shown."""
        files: list[Path] = []
        for path in map(Path, paths):
            files.extend(analysis.list_images(path) if path.is_dir() else [path])
        if not files:
            self.show_error(f"No images were found in {', '.join(str(p) for p in paths)}.")
            return False
        self.folder_files = files
        self.files.show_files(files)
        if len(files) > 1:
            self.dock_files.raise_()
        return self.open_file(files[0])

    def open_folder(self, folder: str | Path) -> bool:
        return self.open_paths([folder])

    def step_file(self, step: int) -> None:
        if not self.folder_files or self.state.path is None:
            return
        try:
            index = self.folder_files.index(self.state.path)
        except ValueError:
            index = -1
        index = min(max(index + step, 0), len(self.folder_files) - 1)
        if self.folder_files[index] != self.state.path:
            self.open_file(self.folder_files[index])

    def open_file(self, path: str | Path) -> bool:
        """Read a radiograph and start inference; on failure show the reason and change nothing."""
        from dfviewer.io import read_radiograph

        path = Path(path)
        try:
            radiograph = read_radiograph(path)
        except UserError as exc:
            self.show_error(_sentence(str(exc)))
            return False
        except Exception as exc:  # noqa: BLE001 - never a traceback in the user's face
            self.show_error(f"The file {path} could not be opened ({type(exc).__name__}).",
                            "".join(traceback.format_exception(exc)))
            return False
        truth, truth_path = None, analysis.find_truth(path)
        if truth_path is not None:
            try:
                truth = analysis.read_truth(truth_path)
                if truth.shape != radiograph.pixels.shape:
                    self.log(f"real dark-field {truth_path.name} has shape {truth.shape}, "
                             f"not {radiograph.pixels.shape}; ignored")
                    truth, truth_path = None, None
            except Exception as exc:  # noqa: BLE001
                self.log(f"real dark-field {truth_path.name} could not be read: {exc}")
                truth, truth_path = None, None
        self.controller.cancel()
        self._crop_manual = False
        self.state.set_image(radiograph, path, truth, truth_path)
        for warning in getattr(radiograph, "warnings", []) or []:
            self.log(f"{path.name}: {warning}")
        self.log(f"opened {path}" + (f" with real dark-field {truth_path.name}" if truth_path else ""))
        self.settings.setValue("last_dir", str(path.parent))
        self._add_recent(path)
        self.files.mark_current(path)
        self.tags.show_radiograph(radiograph)
        self._find_crop_box()
        self.reset_view()
        self.readout.setText(self._image_summary())
        self.imageOpened.emit(str(path))
        self.start_inference()
        return True

    def _image_summary(self) -> str:
        r = self.state.radiograph
        h, w = r.pixels.shape
        spacing = ""
        if getattr(r, "pixel_spacing", None):
            spacing = f" · {r.pixel_spacing[0]:.3g} mm/px" + ("" if r.spacing_known else " (guessed)")
        return f"{self.state.path.name} · {w} x {h} px{spacing} · move the cursor over an image to read values"

    # ------------------------------------------------------------------ inference

    def start_inference(self) -> None:
        if not self.state.has_image:
            return
        if not self.model_path or not Path(self.model_path).exists():
            where = self.model_path or "the bundled demo model"
            self.panels["darkfield"].set_layer(None, "No model")
            self.show_error(f"No model checkpoint is available ({where} is missing); choose one in "
                            "Edit > Preferences.")
            return
        self._input_warning = ""
        self.summary.set_input_warning("")
        self.controller.start(self.state.radiograph.pixels, self.model_path, self.device, self.mc_samples,
                              self.working_size or None)
        self.state.set_running(True)
        self._update_enabled()

    def cancel_inference(self) -> None:
        if self.controller.running:
            self.controller.cancel()
            self.log("cancelling inference…")
            self.state.set_running(False)
            self._update_enabled()

    def _on_update(self, job_id: int, stages: list, done: int, total: int, preview: bool) -> None:
        if not self.controller.is_current(job_id):
            return
        self.state.set_results(stages, done, total, preview)
        self._update_summary(final=False)
        self._update_enabled()

    def _on_progress(self, job_id: int, done: int, total: int, seconds_left: float) -> None:
        if not self.controller.is_current(job_id):
            return
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        left = f" · {_duration(seconds_left)} left" if seconds_left >= 0 and done < total else ""
        self.progress.setFormat(f"MC {done}/{total}{left}")

    def _on_finished(self, job_id: int, seconds: float) -> None:
        if not self.controller.is_current(job_id):
            return
        self.controller.job_done(job_id)
        self.state.set_running(False)
        self._update_summary(final=True)
        if not self._crop_manual:
            self._find_crop_box()
        if self._input_warning:  # stays until the next message: the maps need this caveat
            self.statusBar().showMessage(f"Inference finished in {seconds:.1f} s. {self._input_warning}")
        else:
            self.statusBar().showMessage(f"Inference finished in {seconds:.1f} s", 5000)
        self._update_enabled()
        self.inferenceFinished.emit()

    def _on_input_warning(self, job_id: int, sentence: str) -> None:
        if self.controller.is_current(job_id):
            self._input_warning = sentence
            self.summary.set_input_warning(sentence)
            self.statusBar().showMessage(sentence)

    def _on_cancelled(self, job_id: int) -> None:
        if self.controller.running:
            return  # a newer job is on its way
        self.state.set_running(False)
        self.statusBar().showMessage("Inference cancelled; the last estimate stays", 5000)
        self._update_enabled()
        self.inferenceCancelled.emit()

    def _on_failed(self, job_id: int, message: str, details: str) -> None:
        if self.controller.running and not self.controller.is_current(job_id):
            return
        self.controller.job_done(job_id)
        self.state.set_running(False)
        self._update_enabled()
        self.show_error(message, details)
        self.inferenceFailed.emit(message)

    def _on_model_loaded(self, info: dict) -> None:
        self.model_panel.show_info(info)
        self._model_name = Path(info.get("path", "model")).stem
        self.device_label.setText(f"device: {info.get('device', '?')}")

    def _update_progress(self) -> None:
        p = self.state.progress
        self.progress.setVisible(p.running)
        self.cancel_button.setVisible(p.running)
        if p.running and p.done == 0:
            self.progress.setRange(0, 0)  # busy until the first sample
            self.progress.setFormat("preview…")

    def _update_summary(self, final: bool) -> None:
        """Per-stage numbers; the final ones (lung mask, SSIM) are computed off the GUI thread."""
        results = self.state.results
        if not results:
            self.summary.show_rows([], self.state.stage)
            return
        if not final:
            rows = analysis.stage_summary(results, self.state.truth, None, with_ssim=False)
            self.summary.show_rows(rows, self.state.stage)
            return
        pixels, truth, token = self.state.radiograph.pixels, self.state.truth, object()
        self._summary_token = token

        def compute() -> None:
            try:
                mask = analysis.lung_mask_or_none(pixels, results[-1].mean)
                rows = analysis.stage_summary(results, truth, mask, with_ssim=True)
            except Exception as exc:  # noqa: BLE001 - a summary must never break the viewer
                rows, mask = [], None
                self._summaryLog.emit(f"stage summary failed: {exc}")
            try:
                self._summaryReady.emit(token, rows, mask is not None)
            except RuntimeError:  # the window was closed meanwhile
                pass

        threading.Thread(target=compute, name="dfviewer-summary", daemon=True).start()

    def _on_summary_ready(self, token: object, rows: list, lungs: bool) -> None:
        if token is not getattr(self, "_summary_token", None):
            return  # a newer image or result replaced it
        self.summary.show_rows(rows, self.state.stage)
        where = "inside the lung mask" if lungs else "over the whole image (no lungs found)"
        self.summary.setToolTip(f"Mean aleatoric and epistemic σ {where}; MSE, PSNR (dB) and SSIM against "
                                "the real dark-field when one is loaded (data range: the real image's range; "
                                "SSIM: Gaussian window, sigma 1.5)")
        self.summaryUpdated.emit()

    # ------------------------------------------------------------------ redraw

    def _mark(self, *panels: str) -> None:
        self._dirty.update(panels)
        if not self._refresh_timer.isActive():
            self._refresh_timer.start()

    def flush(self) -> None:
        """Redraw the panels marked dirty now (normally done on the next event-loop turn)."""
        self._refresh_timer.stop()
        dirty, self._dirty = self._dirty, set()
        for key in PANELS:
            if key in dirty or (key == "overlay" and self._overlay_base_key() in dirty):
                self._redraw(key)
        self._update_titles()
        self._update_histogram()

    def _overlay_base_key(self) -> str | None:
        return {"darkfield": "darkfield", "attenuation": "attenuation"}.get(self.state.overlay_mode)

    def _redraw(self, key: str) -> None:
        s = self.state
        panel = self.panels[key]
        layer: Layer | None = None
        message = ""
        if not s.has_image:
            message = "Open a radiograph\n(Ctrl+O, or drop a file here)" if key == "attenuation" else ""
        elif key == "attenuation":
            layer = make_layer("attenuation", s.radiograph.pixels, s.window("attenuation"))
        elif key == "truth":
            if s.truth is not None:
                layer = make_layer("truth", s.truth, s.window("mean"))
        elif not s.results:
            message = "Generating…" if s.progress.running else "No result"
        elif key == "darkfield":
            layer = make_layer("mean", s.array("mean"), s.window("mean"))
        else:
            array = s.array(s.overlay_map)
            if array is None:
                message = "Needs a real dark-field\n(<name>_darkfield.tiff beside the file)"
            else:
                base_key = self._overlay_base_key()
                base = self.layers.get(base_key) if base_key else None
                layer = make_overlay(s.overlay_map, array, s.window(s.overlay_map), base, s.opacity)
        self.layers[key] = layer
        panel.set_layer(layer, message)
        if layer is None:
            panel.center_placeholder()

    def _update_titles(self) -> None:
        s = self.state
        p = s.progress
        if s.results:
            if p.preview:
                samples = "quick preview (no epistemic)"
            elif p.done < p.total:
                samples = f"MC {p.done}/{p.total}" + (" (cancelled)" if not p.running else "")
            else:
                samples = f"{p.total} MC samples"
        else:
            samples = ""
        name = s.path.name if s.path is not None else ""
        self.panels["attenuation"].set_title(MAPS["attenuation"].label, name)
        self.panels["darkfield"].set_title(f"Generated dark-field · stage {s.stage}", samples)
        info = MAPS[s.overlay_map]
        mode = "" if s.overlay_mode == "alone" else f"over {OVERLAY_MODES[s.overlay_mode].split()[-1]} · {int(s.opacity * 100)}%"
        self.panels["overlay"].set_title(f"{info.label} · stage {s.stage}", mode, info.tooltip)
        self.panels["truth"].set_title(MAPS["truth"].label, s.truth_path.name if s.truth_path else "")
        for stage, button in self.stage_buttons.items():
            button.setChecked(stage == s.stage)
            button.setEnabled(s.results is None or stage <= len(s.results))
        self.map_buttons[s.overlay_map].setChecked(True)
        self.map_buttons["error"].setEnabled(s.truth is not None)
        index = self.mode_combo.findData(s.overlay_mode)
        if index != self.mode_combo.currentIndex():
            self.mode_combo.setCurrentIndex(index)
        if self.opacity.value() != round(s.opacity * 100):
            self.opacity.blockSignals(True)
            self.opacity.setValue(round(s.opacity * 100))
            self.opacity.blockSignals(False)
        self.opacity.setEnabled(s.overlay_mode != "alone")
        title = f"{name} — dfviewer" if name else "dfviewer"
        self.setWindowTitle(title)

    def _panel_map_key(self, panel_key: str) -> str:
        return {"attenuation": "attenuation", "darkfield": "mean", "truth": "mean",
                "overlay": self.state.overlay_map}[panel_key]

    def _update_histogram(self) -> None:
        key = self._active_key
        array = self.state.array(key) if self.state.has_image else None
        window = self.state.window(key) if self.state.has_image else (0.5, 1.0)
        source = (key, id(array))
        if source != self._hist_source:
            presets = []
            if array is not None:
                if key == "attenuation":
                    presets = attenuation_presets(array, getattr(self.state.radiograph, "window_presets", ()))
                else:
                    presets = [("Auto (0.5-99.5 %)", percentile_window(array)),
                               ("Full range", percentile_window(array, 0, 100))]
            self.windowing.show_data(key, array, window, presets)
            self._hist_source = source
        else:
            self.windowing.set_window(window)
        self.windowing.set_auto(key in self.state.auto_windows, enabled=key != "attenuation")

    def _on_auto_toggled(self, key: str, auto: bool) -> None:
        if auto:
            self.state.reset_window(key)
        else:
            self.state.set_window(key, *self.state.window(key))

    # ------------------------------------------------------------------ state reactions

    def _on_image_changed(self) -> None:
        self.grid.set_panel_shown(self.panels["truth"], self.state.truth is not None)
        self.grid.set_image_shape(self.state.shape)
        if self.state.truth is None and self.state.overlay_map == "error":
            self.state.set_overlay_map("aleatoric")
        self.layers.clear()
        self._hist_source = None
        self.summary.show_rows([], 1)
        self._summary_token = None
        QTimer.singleShot(0, self.reset_view)
        self._mark(*PANELS)
        self.flush()
        self._update_enabled()

    def _on_display_changed(self) -> None:
        self._mark("darkfield", "overlay")
        if self._active_key not in ("attenuation", "mean"):
            self._active_key = self.state.overlay_map
        self.summary.select_stage(self.state.stage)

    def _on_window_changed(self, key: str) -> None:
        if key == "attenuation":
            self._mark("attenuation")
        elif key == "mean":
            self._mark("darkfield", "truth")
        elif key == self.state.overlay_map:
            self._mark("overlay")

    def _on_crop_changed(self) -> None:
        s = self.state
        box = s.crop_box
        self.crop_roi.setVisible(s.crop_enabled and box is not None)
        if box is not None:
            r0, r1, c0, c1 = box
            self.crop_roi.blockSignals(True)
            self.crop_roi.setPos((c0, r0), finish=False)
            self.crop_roi.setSize((c1 - c0, r1 - r0), finish=False)
            self.crop_roi.blockSignals(False)
        if self.act_crop.isChecked() != s.crop_enabled:
            self.act_crop.setChecked(s.crop_enabled)
        if s.crop_enabled or self._crop_was_enabled:
            self.reset_view()
        self._crop_was_enabled = s.crop_enabled

    def _on_roi_edited(self) -> None:
        pos, size = self.crop_roi.pos(), self.crop_roi.size()
        box = (pos.y(), pos.y() + size.y(), pos.x(), pos.x() + size.x())
        self._crop_manual = True
        self.state.set_crop_box(box, True)

    def _find_crop_box(self) -> None:
        s = self.state
        if not s.has_image:
            return
        darkfield = s.results[-1].mean if s.results and not s.progress.preview else None
        try:
            box, found = analysis.crop_box(s.radiograph.pixels, darkfield)
        except Exception as exc:  # noqa: BLE001 - the crop is a convenience
            self.log(f"lung box not found: {exc}")
            box, found = (0, s.shape[0], 0, s.shape[1]), False
        s.set_crop_box(box, found)
        if not found:
            self.log("no two lungs found; the crop box is the whole image (adjust it by hand)")
            if s.crop_enabled:
                self.statusBar().showMessage("No lungs found: the crop box is the whole image; drag its corners "
                                             "to adjust it", 6000)

    def _on_hover(self, row: int, col: int) -> None:
        readout = self.state.readout(row, col)
        if readout is None:
            self._on_leave()
            return
        self.readout.setText(readout.text())
        for panel in self.panels.values():
            panel.set_crosshair(row, col)

    def _on_leave(self) -> None:
        for panel in self.panels.values():
            panel.set_crosshair(None, None)

    def _on_window_drag(self, panel_key: str, dx: float, dy: float, start: bool) -> None:
        if not self.state.has_image:
            return
        key = self._panel_map_key(panel_key)
        if self.state.array(key) is None:
            return
        self._on_panel_activated(panel_key)
        centre, width = self.state.window(key)
        width = width * math.exp(dx / 150.0)
        centre = centre - dy * width / 200.0
        self.state.set_window(key, centre, width)

    def _on_panel_activated(self, panel_key: str) -> None:
        self._active_panel = panel_key
        self._active_key = self._panel_map_key(panel_key)
        self.windowing.set_target({"attenuation": "attenuation", "darkfield": "mean", "truth": "mean"}
                                  .get(panel_key, "overlay"))
        self._update_histogram()

    def _on_target_changed(self, target: str) -> None:
        self._active_key = self.state.overlay_map if target == "overlay" else target
        self._update_histogram()

    def _select_map(self, key: str) -> None:
        if key == "error" and self.state.truth is None:
            self.statusBar().showMessage("The error map needs a real dark-field loaded beside the image", 4000)
            return
        self.state.set_overlay_map(key)

    def cycle_overlay_mode(self) -> None:
        modes = list(OVERLAY_MODES)
        self.state.set_overlay_mode(modes[(modes.index(self.state.overlay_mode) + 1) % len(modes)])

    def reset_view(self) -> None:
        """Fit the crop box (when cropping) or the whole image in every (linked) panel."""
        s = self.state
        if s.shape is None:
            return
        self.panels["attenuation"].show_region(s.active_crop, s.shape)
        self._sync_views(self.panels["attenuation"].view)

    def _sync_views(self, source) -> None:
        """Linked pan and zoom: every panel shows the same centre at the same pixel scale."""
        if self._syncing:
            return
        # A hidden panel (the real dark-field when there is none) keeps its own default range and
        # may report it when it is laid out or painted; it must never drive the shown panels.
        if not any(p.view is source and self.grid.shown[id(p)] for p in self.panels.values()):
            return
        width_px = source.width()
        (x0, x1), (y0, y1) = source.viewRange()
        if width_px <= 0 or x1 <= x0:
            return
        scale = (x1 - x0) / width_px  # image pixels per screen pixel
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        self._syncing = True
        try:
            for panel in self.panels.values():
                view = panel.view
                if view is source or not self.grid.shown[id(panel)]:
                    continue
                half_w, half_h = view.width() * scale / 2, view.height() * scale / 2
                if half_w <= 0 or half_h <= 0:
                    continue
                view.setRange(xRange=(cx - half_w, cx + half_w), yRange=(cy - half_h, cy + half_h), padding=0)
        finally:
            self._syncing = False

    def _update_enabled(self) -> None:
        has_image = self.state.has_image
        has_results = bool(self.state.results)
        self.act_export.setEnabled(has_image)
        self.act_export_all.setEnabled(has_results)
        self.act_crop.setEnabled(has_image)
        self.act_reset_view.setEnabled(has_image)
        self.act_cancel.setEnabled(self.controller.running)
        self.act_rerun.setEnabled(has_image and not self.controller.running)

    # ------------------------------------------------------------------ export

    def export_panel_dialog(self) -> None:
        """Export the panel last clicked (the overlay panel by default) as shown."""
        key = self._active_panel if self.layers.get(self._active_panel) is not None else "overlay"
        if self.layers.get(key) is None:
            key = "attenuation"
        stem = self.state.path.stem if self.state.path else "image"
        suggestion = Path(str(self.settings.value("export_dir", str(Path.home())))) / f"{stem}_{self._panel_file_name(key)}.png"
        path, _ = QFileDialog.getSaveFileName(self, "Export panel as PNG", str(suggestion), "PNG images (*.png)",
                                              options=QFileDialog.Option.DontConfirmOverwrite)
        if path:
            if not path.lower().endswith(".png"):
                path += ".png"
            self.export_panel(key, path)

    def _panel_file_name(self, key: str) -> str:
        s = self.state
        if key == "overlay":
            mode = "" if s.overlay_mode == "alone" else f"_over_{s.overlay_mode}"
            return f"stage{s.stage}_{s.overlay_map}{mode}"
        if key == "darkfield":
            return f"stage{s.stage}_darkfield"
        return key

    def export_panel(self, panel_key: str, path: str | Path) -> Path | None:
        """Write the panel as shown (window, blend, crop) to ``path``; asks before overwriting."""
        self.flush()
        layer = self.layers.get(panel_key)
        if layer is None:
            self.show_error("There is nothing to export in that panel yet.")
            return None
        path = Path(path)
        if path.exists() and not self.confirm_overwrite([path]):
            return None
        try:
            export.export_layer(path, layer, self.state.active_crop)
        except (OSError, UserError) as exc:
            message = str(exc) if isinstance(exc, UserError) else f"The file {path} could not be written ({exc})."
            self.show_error(message, traceback.format_exc())
            return None
        self.settings.setValue("export_dir", str(path.parent))
        self.log(f"exported {path}")
        self.statusBar().showMessage(f"Saved {path}", 5000)
        return path

    def export_all_dialog(self) -> None:
        dicom_ok = getattr(self.state.radiograph, "dataset", None) is not None
        options_dialog = ExportOptionsDialog(self, dicom_ok)
        if options_dialog.exec() != ExportOptionsDialog.DialogCode.Accepted:
            return
        folder = QFileDialog.getExistingDirectory(self, "Export all maps to folder",
                                                  str(self.settings.value("export_dir", str(Path.home()))))
        if folder:
            options = export.ExportOptions(png=True, tiff=options_dialog.tiff.isChecked(),
                                           dicom=options_dialog.dicom.isChecked() and dicom_ok)
            self.export_all(folder, options)

    def export_all(self, folder: str | Path, options: export.ExportOptions | None = None) -> list[Path]:
        """Every map of every stage into ``folder``; asks once before overwriting existing files."""
        s = self.state
        if not s.results:
            self.show_error("There are no results to export yet.")
            return []
        options = options or export.ExportOptions()
        stem = s.path.stem if s.path else "image"
        dicom_ok = getattr(s.radiograph, "dataset", None) is not None
        planned = export.plan_all_maps(folder, stem, [r.stage for r in s.results], s.truth is not None, options,
                                       dicom_ok)
        existing = [p.path for p in planned if p.path.exists()]
        if existing and not self.confirm_overwrite(existing):
            return []
        try:
            written = export.write_planned(planned, s, self._model_name or "dfviewer")
        except (OSError, UserError) as exc:
            reason = str(exc)
            self.show_error(f"The export to {folder} stopped: {reason[:1].lower() + reason[1:]}",
                            traceback.format_exc())
            return []
        self.settings.setValue("export_dir", str(folder))
        self.log(f"exported {len(written)} files to {folder}")
        self.statusBar().showMessage(f"Saved {len(written)} files to {folder}", 5000)
        return written

    def _ask_overwrite(self, paths: list[Path]) -> bool:
        names = "\n".join(str(p.name) for p in paths[:8]) + ("\n…" if len(paths) > 8 else "")
        answer = QMessageBox.question(self, "Overwrite files?",
                                      f"{len(paths)} file(s) exist already and would be replaced:\n{names}",
                                      QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                                      QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

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
        try:
            from dfviewer.gui.wizard.wizard import open_training_wizard
        except ImportError as exc:
            self.show_error("The training wizard is not part of this build.", str(exc))
            return
        self._wizard = open_training_wizard(self)
        self._wizard.model_ready.connect(self.use_model)

    def use_model(self, path: str | Path) -> None:
        """Use checkpoint ``path`` from now on (and regenerate the open image's maps)."""
        self.log(f"using model {path}")
        self.apply_preferences(model=str(path), mc=self.mc_samples, working_size=self.working_size,
                               device=self.device)

    def show_shortcuts(self) -> None:
        self._shortcuts = ShortcutsDialog(self)
        self._shortcuts.open()

    def show_about(self) -> None:
        from dfviewer import __version__

        QMessageBox.about(self, "About dfviewer",
                          f"<b>dfviewer {__version__}</b><p>Dark-field radiographs with per-pixel uncertainty "
                          "generated from attenuation chest X-rays (uncertainty-guided progressive GAN).</p>")

    def preferences_dialog(self) -> None:
        devices = ["auto", "cpu"]
        try:
            import torch

            devices += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
            if hasattr(torch.backends, "mps") and torch.backends.mps.is_available():
                devices.append("mps")
        except Exception:  # noqa: BLE001
            pass
        dialog = PreferencesDialog(self, self.model_path, self.mc_samples, self.working_size, self.device, devices)
        if dialog.exec() == PreferencesDialog.DialogCode.Accepted:
            self.apply_preferences(**dialog.values())

    def apply_preferences(self, model: str, mc: int, working_size: int, device: str) -> None:
        changed = (model, mc, working_size, device) != (self.model_path, self.mc_samples, self.working_size, self.device)
        self.model_path, self.mc_samples, self.working_size, self.device = model, int(mc), int(working_size), device
        self.settings.setValue("model", model if model != default_model_path() else "")
        self.settings.setValue("mc", self.mc_samples)
        self.settings.setValue("working_size", self.working_size)
        self.settings.setValue("device", device)
        self.device_label.setText(f"device: {device}")
        if changed and self.state.has_image:
            self.start_inference()

    def _add_recent(self, path: Path) -> None:
        recent = [p for p in self._recent() if p != str(path)]
        recent.insert(0, str(path))
        self.settings.setValue("recent", recent[:MAX_RECENT])
        self._update_recent_menu()

    def _recent(self) -> list[str]:
        value = self.settings.value("recent", [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in (value or [])]

    def _update_recent_menu(self) -> None:
        self.recent_menu.clear()
        recent = self._recent()
        for path in recent:
            act = self.recent_menu.addAction(path)
            act.triggered.connect(lambda _=False, p=path: self.open_paths([p]))
        self.recent_menu.setEnabled(bool(recent))

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
        if self.controller.thread.isRunning():
            self.controller.shutdown()


def _sentence(text: str) -> str:
    text = text.strip()
    if not text:
        return "The file could not be opened."
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def _duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 60}:{seconds % 60:02d} min" if seconds >= 60 else f"{seconds} s"
