"""The viewer's actions, toolbar and menus, in one icon style (qtawesome), kept in step with the model.

Every command is a ``QAction`` with an icon, a shortcut and a tooltip that names it; the toolbar
and the menus show the same actions. Stage buttons and keys go up to the most stages a cascade
may have; those the open model lacks are hidden.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import qtawesome as qta
from PyQt6.QtCore import QSize, Qt
from PyQt6.QtGui import QAction, QActionGroup, QKeySequence
from PyQt6.QtWidgets import QButtonGroup, QComboBox, QLabel, QMainWindow, QMenu, QSlider, QToolBar, QToolButton

from dfviewer.core.stages import MAX_STAGES
from dfviewer.display.maps import MAPS, OVERLAY_MAPS, OVERLAY_MODES
from dfviewer.display.viewer_state import ViewerState
from dfviewer.gui.qt_checks import required

ICON_COLOR = "#d8d8dc"
TOOLBAR_ICON = 20  # pixels: the toolbar fits a 1280-pixel window with room to spare
#: stage buttons shown before a model has told how many stages it has
DEFAULT_STAGES = 3
MAP_ICONS = {"alpha": "mdi6.alpha", "beta": "mdi6.beta", "aleatoric": "mdi6.chart-bell-curve",
             "epistemic": "mdi6.head-question-outline", "total": "mdi6.sigma", "error": "mdi6.delta"}


@dataclass
class Commands:
    """What the actions do (the composition root passes its controllers' methods)."""

    open_files: Callable[[], None]
    open_folder: Callable[[], None]
    export_panel: Callable[[], None]
    export_all: Callable[[], None]
    reset_view: Callable[[], None]
    cancel: Callable[[], None]
    rerun: Callable[[], None]
    preferences: Callable[[], None]
    quit: Callable[[], object]  # QWidget.close: its bool is ignored
    select_map: Callable[[str], None]
    reset_window: Callable[[], None]
    step_file: Callable[[int], None]
    train: Callable[[], None]
    shortcuts: Callable[[], None]
    about: Callable[[], None]


def icon(name: str) -> Any:
    return qta.icon(name, color=ICON_COLOR)


class ViewerActions:
    """Builds the actions, the toolbar and the menus of ``window`` and syncs them with ``state``."""

    def __init__(self, window: QMainWindow, state: ViewerState, commands: Commands) -> None:
        self.window = window
        self.state = state
        self.commands = commands
        c = commands
        self.act_open = self._action("&Open…", "mdi6.folder-open", QKeySequence.StandardKey.Open, c.open_files,
                                     "Open one or more radiographs (DICOM, PNG, JPEG, TIFF, NPY)")
        self.act_open_folder = self._action("Open &Folder…", "mdi6.folder-multiple-image", "Ctrl+Shift+O",
                                            c.open_folder, "Open every image of a folder")
        self.act_export = self._action("&Export Current Panel…", "mdi6.export", "Ctrl+E", c.export_panel,
                                       "Save the panel last clicked (default: the overlay panel) as a PNG exactly "
                                       "as shown (window, blend, crop)")
        self.act_export_all = self._action("Export &All Maps…", "mdi6.image-multiple", "Ctrl+Shift+E", c.export_all,
                                           "Save every map of every stage to a folder")
        self.act_crop = self._action("Lung &Crop", "mdi6.crop", "C", None,
                                     "Crop all panels to the lungs; drag the yellow box on the input to adjust")
        self.act_crop.setCheckable(True)
        self.act_crop.toggled.connect(state.set_crop_enabled)
        self.act_reset_view = self._action("&Reset View", "mdi6.fit-to-screen", "R", c.reset_view,
                                           "Fit the image (or the crop box) in every panel")
        self.act_cancel = self._action("Cancel Inference", "mdi6.stop-circle-outline", "Esc", c.cancel,
                                       "Stop the Monte Carlo sampling (the last estimate stays)")
        self.act_rerun = self._action("Run Inference Again", "mdi6.play", "F5", c.rerun,
                                      "Generate the maps again with the current preferences")
        self.act_prefs = self._action("&Preferences…", "mdi6.cog", "Ctrl+,", c.preferences,
                                      "Model checkpoint, MC samples, working resolution, device")
        self.act_quit = self._action("&Quit", "mdi6.exit-to-app", QKeySequence.StandardKey.Quit, c.quit,
                                     "Quit dfviewer")
        self.act_stages = {stage: self._action(f"Stage {stage}", f"mdi6.numeric-{stage}-box-outline", str(stage),
                                               partial(state.set_stage, stage), f"Show stage {stage}")
                           for stage in range(1, MAX_STAGES + 1)}
        self.act_maps = {key: self._action(MAPS[key].label, MAP_ICONS[key], MAPS[key].shortcut or None,
                                           partial(c.select_map, key), MAPS[key].tooltip)
                         for key in OVERLAY_MAPS}
        self.act_cycle_mode = self._action("Cycle Overlay Mode", "mdi6.layers-outline", "O", state.cycle_overlay_mode,
                                           "Map alone, over dark-field, over attenuation")
        self.act_opacity_down = self._action("Opacity Down", "mdi6.minus", "[", lambda: self._nudge_opacity(-10),
                                             "Less overlay opacity")
        self.act_opacity_up = self._action("Opacity Up", "mdi6.plus", "]", lambda: self._nudge_opacity(10),
                                           "More overlay opacity")
        self.act_reset_window = self._action("Reset Window", "mdi6.contrast-box", "W", c.reset_window,
                                             "Default window of the active panel")
        self.act_link_windows = self._action("&Link Windows Across Stages", "mdi6.link-variant", None, None,
                                             "Automatic windows span every stage instead of each stage its own")
        self.act_link_windows.setCheckable(True)
        self.act_link_windows.toggled.connect(state.set_link_windows)
        self.act_next = self._action("Next Image", "mdi6.skip-next", "PgDown", lambda: c.step_file(1),
                                     "Next image of the folder")
        self.act_previous = self._action("Previous Image", "mdi6.skip-previous", "PgUp", lambda: c.step_file(-1),
                                         "Previous image of the folder")
        self.act_train = self._action("&Train a Model…", "mdi6.tools", None, c.train,
                                      "Train a model on your own paired data or on the phantom")
        self.act_shortcuts = self._action("Keyboard &Shortcuts", "mdi6.keyboard", "F1", c.shortcuts,
                                          "List every keyboard shortcut")
        self.act_about = self._action("&About dfviewer", "mdi6.information-outline", None, c.about, "About dfviewer")
        self._build_toolbar()
        self.n_stages_shown = DEFAULT_STAGES
        self.sync()

    def _action(self, text: str, icon_name: str | None, shortcut: Any, slot: Callable[[], Any] | None,
                tip: str) -> QAction:
        act = QAction(text, self.window)
        if icon_name:
            act.setIcon(icon(icon_name))
        if shortcut is not None:
            act.setShortcut(QKeySequence(shortcut))
        act.setToolTip(f"{tip} ({QKeySequence(shortcut).toString()})" if shortcut is not None else tip)
        act.setStatusTip(tip)
        if slot is not None:
            act.triggered.connect(lambda _=False: slot())
        self.window.addAction(act)
        return act

    def _build_toolbar(self) -> None:
        bar = QToolBar("Main")
        bar.setObjectName("mainToolbar")
        bar.setMovable(False)
        bar.setIconSize(QSize(TOOLBAR_ICON, TOOLBAR_ICON))
        self.toolbar = bar
        self.window.addToolBar(bar)
        # what does not fit a narrow window goes behind a clearly drawn overflow button
        extension = bar.findChild(QToolButton, "qt_toolbar_ext_button")
        if extension is not None:
            extension.setIcon(icon("mdi6.chevron-double-right"))
            extension.setToolTip("More tools (the window is too narrow to show them all)")
        for act in (self.act_open, self.act_open_folder, self.act_export):
            bar.addAction(act)
        bar.addSeparator()
        bar.addAction(self.act_crop)  # early: the end of the bar overflows first in a narrow window
        bar.addAction(self.act_reset_view)
        bar.addSeparator()

        bar.addWidget(QLabel(" Stage "))
        self.stage_group = QButtonGroup(self.window)
        self.stage_buttons: dict[int, QToolButton] = {}
        self.stage_button_actions: dict[int, QAction] = {}
        for stage in range(1, MAX_STAGES + 1):
            button = QToolButton()
            button.setText(str(stage))
            button.setCheckable(True)
            button.setToolTip(f"Show stage {stage} of the cascade (key {stage}); each stage refines the previous one")
            button.setObjectName(f"stage{stage}")
            self.stage_group.addButton(button, stage)
            self.stage_buttons[stage] = button
            self.stage_button_actions[stage] = required(bar.addWidget(button), "toolbar action")
        self.stage_group.idClicked.connect(self.state.set_stage)
        bar.addSeparator()

        bar.addWidget(QLabel(" Map "))
        self.map_group = QButtonGroup(self.window)
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
        bar.addSeparator()

        self.mode_combo = QComboBox()
        self.mode_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        for key, label in OVERLAY_MODES.items():
            self.mode_combo.addItem(icon("mdi6.layers-outline"), label, key)
        self.mode_combo.setToolTip("Show the map alone or blended over the dark-field or the attenuation image "
                                   "(key O)")
        self.mode_combo.currentIndexChanged.connect(
            lambda _: self.state.set_overlay_mode(self.mode_combo.currentData()))
        bar.addWidget(self.mode_combo)
        opacity_icon = QLabel()
        opacity_icon.setPixmap(icon("mdi6.opacity").pixmap(16, 16))
        opacity_icon.setToolTip("Overlay opacity")
        bar.addWidget(opacity_icon)
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(int(self.state.opacity * 100))
        self.opacity.setFixedWidth(72)
        self.opacity.setToolTip("Overlay opacity when blended ([ and ] keys)")
        self.opacity.valueChanged.connect(lambda v: self.state.set_opacity(v / 100))
        bar.addWidget(self.opacity)

    def build_menus(self, docks: list[Any]) -> QMenu:
        """The menu bar (``docks``: the dock widgets listed under View > Panels); returns the recent menu."""
        menu = required(self.window.menuBar(), "menu bar")
        file = required(menu.addMenu("&File"), "menu")
        file.addAction(self.act_open)
        file.addAction(self.act_open_folder)
        recent = required(file.addMenu(icon("mdi6.history"), "Open &Recent"), "menu")
        file.addSeparator()
        file.addAction(self.act_export)
        file.addAction(self.act_export_all)
        file.addSeparator()
        file.addAction(self.act_quit)

        edit = required(menu.addMenu("&Edit"), "menu")
        edit.addAction(self.act_prefs)

        view = required(menu.addMenu("&View"), "menu")
        stage_group = QActionGroup(self.window)
        for act in self.act_stages.values():
            stage_group.addAction(act)
            view.addAction(act)
        view.addSeparator()
        for act in self.act_maps.values():
            view.addAction(act)
        view.addSeparator()
        for act in (self.act_cycle_mode, self.act_opacity_down, self.act_opacity_up, self.act_reset_window,
                    self.act_link_windows):
            view.addAction(act)
        view.addSeparator()
        for act in (self.act_crop, self.act_reset_view, self.act_next, self.act_previous):
            view.addAction(act)
        view.addSeparator()
        panels = required(view.addMenu(icon("mdi6.dock-window"), "Panels"), "menu")
        for dock in docks:
            panels.addAction(dock.toggleViewAction())

        run = required(menu.addMenu("&Inference"), "menu")
        run.addAction(self.act_rerun)
        run.addAction(self.act_cancel)

        self.tools_menu = required(menu.addMenu("&Tools"), "menu")
        self.tools_menu.addAction(self.act_train)

        help_menu = required(menu.addMenu("&Help"), "menu")
        help_menu.addAction(self.act_shortcuts)
        help_menu.addAction(self.act_about)
        return recent

    def _nudge_opacity(self, step: int) -> None:
        self.opacity.setValue(self.opacity.value() + step)

    def sync(self) -> None:
        """Buttons, combo and slider as the model says (stage count, stage, map, mode, opacity)."""
        s = self.state
        if s.results:
            self.n_stages_shown = len(s.results)
        for stage, button in self.stage_buttons.items():
            shown = stage <= self.n_stages_shown
            self.stage_button_actions[stage].setVisible(shown)
            self.act_stages[stage].setVisible(shown)
            available = s.results is None or stage in s.stages
            button.setEnabled(available)
            self.act_stages[stage].setEnabled(available)
            button.setChecked(stage == s.stage)
        self.map_buttons[s.overlay_map].setChecked(True)
        self.map_buttons["error"].setEnabled(s.truth is not None)
        self.act_maps["error"].setEnabled(s.truth is not None)
        index = self.mode_combo.findData(s.overlay_mode)
        if index != self.mode_combo.currentIndex():
            self.mode_combo.setCurrentIndex(index)
        if self.opacity.value() != round(s.opacity * 100):
            self.opacity.blockSignals(True)
            self.opacity.setValue(round(s.opacity * 100))
            self.opacity.blockSignals(False)
        self.opacity.setEnabled(s.overlay_mode != "alone")
        if self.act_crop.isChecked() != s.crop_enabled:
            self.act_crop.setChecked(s.crop_enabled)

    def update_enabled(self, running: bool) -> None:
        """Enable what makes sense now (an image open, results there, inference running)."""
        has_image = self.state.has_image
        self.act_export.setEnabled(has_image)
        self.act_export_all.setEnabled(bool(self.state.results))
        self.act_crop.setEnabled(has_image)
        self.act_reset_view.setEnabled(has_image)
        self.act_cancel.setEnabled(running)
        self.act_rerun.setEnabled(has_image and not running)
