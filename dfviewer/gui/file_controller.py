"""Opening files: the Open dialogs, folders, drag and drop, the recent list, next and previous image."""

from __future__ import annotations

import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PyQt6.QtCore import QObject, QSettings
from PyQt6.QtWidgets import QFileDialog, QMenu, QWidget

from dfviewer.display import analysis
from dfviewer.display.files import find_truth, list_radiographs
from dfviewer.display.viewer_state import ViewerState
from dfviewer.errors import UserError, sentence
from dfviewer.gui.docks import FilesPanel

MAX_RECENT = 10
OPEN_FILTER = "Images (*.dcm *.dicom *.ima *.png *.jpg *.jpeg *.tif *.tiff *.npy);;All files (*)"



class FileController(QObject):
    """Reads radiographs (and a real dark-field beside them) into the model; keeps the file list.

    ``opened(path, radiograph)`` runs after the model shows a new image (the window starts
    inference there); ``show_error`` and ``log`` report to the user.
    """

    def __init__(self, parent: QWidget, state: ViewerState, settings: QSettings, files_panel: FilesPanel,
                 recent_menu: QMenu, opened: Callable[[Path, Any], None], show_error: Callable[..., None],
                 log: Callable[[str], None]) -> None:
        super().__init__(parent)
        self.parent_widget = parent
        self.state = state
        self.settings = settings
        self.files_panel = files_panel
        self.recent_menu = recent_menu
        self.opened = opened
        self.show_error = show_error
        self.log = log
        self.folder_files: list[Path] = []
        files_panel.fileChosen.connect(lambda path: self.open_file(path))
        self.update_recent_menu()

    # -- dialogs --

    def _start_dir(self) -> str:
        return str(self.settings.value("last_dir", str(Path.home())))

    def open_dialog(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self.parent_widget, "Open radiographs", self._start_dir(), OPEN_FILTER)
        if paths:
            self.open_paths(paths)

    def open_folder_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self.parent_widget, "Open folder", self._start_dir())
        if folder:
            self.open_paths([folder])

    # -- opening --

    def open_paths(self, paths: list[str | Path]) -> bool:
        """Open files and folders (folders list their radiographs); the first one is shown."""
        files: list[Path] = []
        for path in map(Path, paths):
            files.extend(list_radiographs(path) if path.is_dir() else [path])
        if not files:
            self.show_error(f"No images were found in {', '.join(str(p) for p in paths)}.")
            return False
        self.folder_files = files
        self.files_panel.show_files(files)
        return self.open_file(files[0])

    def step_file(self, step: int) -> None:
        """The next (``step`` 1) or previous (-1) file of the list."""
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
        """Read a radiograph into the model; on failure show the reason and change nothing."""
        from dfviewer.io import read_radiograph

        path = Path(path)
        try:
            radiograph = read_radiograph(path)
        except UserError as exc:
            self.show_error(sentence(str(exc)))
            return False
        except Exception as exc:  # noqa: BLE001 - never a traceback in the user's face
            self.show_error(f"The file {path} could not be opened ({type(exc).__name__}).",
                            "".join(traceback.format_exception(exc)))
            return False
        truth, truth_path = self._read_truth(path, radiograph.pixels.shape)
        self.state.set_image(radiograph, path, truth, truth_path)
        for warning in getattr(radiograph, "warnings", []) or []:
            self.log(f"{path.name}: {warning}")
        self.log(f"opened {path}" + (f" with real dark-field {truth_path.name}" if truth_path else ""))
        self.settings.setValue("last_dir", str(path.parent))
        self._add_recent(path)
        self.files_panel.mark_current(path)
        self.opened(path, radiograph)
        return True

    def _read_truth(self, path: Path, shape: tuple[int, ...]) -> tuple[Any, Path | None]:
        truth_path = find_truth(path)
        if truth_path is None:
            return None, None
        try:
            truth = analysis.read_truth(truth_path)
        except Exception as exc:  # noqa: BLE001 - the comparison is optional
            self.log(f"real dark-field {truth_path.name} could not be read: {exc}")
            return None, None
        if truth.shape != shape:
            self.log(f"real dark-field {truth_path.name} has shape {truth.shape}, not {shape}; ignored")
            return None, None
        return truth, truth_path

    # -- recent files --

    def recent(self) -> list[str]:
        value = self.settings.value("recent", [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in (value or [])]

    def _add_recent(self, path: Path) -> None:
        recent = [p for p in self.recent() if p != str(path)]
        recent.insert(0, str(path))
        self.settings.setValue("recent", recent[:MAX_RECENT])
        self.update_recent_menu()

    def update_recent_menu(self) -> None:
        self.recent_menu.clear()
        recent = self.recent()
        for path in recent:
            act = self.recent_menu.addAction(path)
            act.triggered.connect(lambda _=False, p=path: self.open_paths([p]))
        self.recent_menu.setEnabled(bool(recent))
