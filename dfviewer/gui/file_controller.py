"""Opening files: the Open dialogs, folders, drag and drop, the recent list, next and previous image."""

from __future__ import annotations

import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from PyQt6.QtCore import QObject, QSettings
from PyQt6.QtWidgets import QFileDialog, QMenu, QWidget

from dfviewer.display.viewer_state import ViewerState
from dfviewer.errors import UserError, sentence
from dfviewer.gui.docks import FilesPanel
from dfviewer.gui.qt_checks import required
from dfviewer.io.file_filters import find_truth, list_radiographs
from dfviewer.io.reader import read_pixels

MAX_RECENT = 10
OPEN_FILTER = "Images (*.dcm *.dicom *.ima *.png *.jpg *.jpeg *.tif *.tiff *.npy);;All files (*)"



class FileController(QObject):
    """Reads radiographs (and a real dark-field beside them) into the model; keeps the file list.

    ``opened(path, radiograph)`` runs after the model shows a new image (the window starts
    inference there); ``show_error`` (a dialog), ``notify`` (the status bar) and ``log`` report to
    the user. Stepping through a list passes over unreadable files and marks them in the Files list.
    """

    def __init__(self, parent: QWidget, state: ViewerState, settings: QSettings, files_panel: FilesPanel,
                 recent_menu: QMenu, opened: Callable[[Path, Any], None], show_error: Callable[..., None],
                 log: Callable[[str], None], notify: Callable[[str], None] | None = None) -> None:
        super().__init__(parent)
        self.parent_widget = parent
        self.state = state
        self.settings = settings
        self.files_panel = files_panel
        self.recent_menu = recent_menu
        self.opened = opened
        self.show_error = show_error
        self.log = log
        self.notify = notify or log  # a passing message (the status bar), never a dialog
        self.folder_files: list[Path] = []
        self.index = -1  # position in folder_files of the file last stepped onto, readable or not
        self.unreadable: dict[Path, str] = {}  # listed files that failed, with their sentence
        files_panel.fileChosen.connect(self.choose_file)
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

    def open_paths(self, paths: Sequence[str | Path]) -> bool:
        """Open files and folders (folders list their radiographs); the first readable one is shown.

        A single file that cannot be read gets the error dialog; in a list, unreadable files are
        marked in the Files list and passed over.
        """
        files: list[Path] = []
        for path in map(Path, paths):
            files.extend(list_radiographs(path) if path.is_dir() else [path])
        if not files:
            self.show_error(f"No images were found in {', '.join(str(p) for p in paths)}.")
            return False
        self.folder_files = files
        self.unreadable = {}
        self.index = -1
        self.files_panel.show_files(files)
        if len(files) == 1:
            return self.open_file(files[0])
        if self._open_from(0, 1):
            return True
        self.show_error(f"None of the {len(files)} images could be opened; the Files list says why for each.")
        return False

    def step_file(self, step: int) -> None:
        """The next (``step`` 1) or previous (-1) readable file of the list; unreadable ones are passed over."""
        if not self.folder_files:
            return
        before = self.index
        if not self._open_from(self.index + step, step):
            self.index = before
            self.files_panel.mark_current(self.state.path)
            self.notify(f"No readable image {'after' if step > 0 else 'before'} this one in the list.")

    def _open_from(self, start: int, step: int) -> bool:
        """Show the first readable file from position ``start`` on, going ``step``; False when none is left."""
        skipped: list[Path] = []
        i = start
        while 0 <= i < len(self.folder_files):
            path = self.folder_files[i]
            if path == self.state.path:
                self.index = i
                self.files_panel.mark_current(path)
                return True
            if path not in self.unreadable and self._open(path, quiet=True):
                if skipped:
                    names = ", ".join(p.name for p in skipped)
                    self.notify(f"Skipped: {self.unreadable[skipped[0]]}" if len(skipped) == 1
                                else f"Skipped {len(skipped)} unreadable files: {names}.")
                return True
            skipped.append(path)
            i += step
        return False

    def choose_file(self, path: str | Path) -> None:
        """A file picked in the Files list: opened unless it is the one shown; a failure is reported quietly."""
        path = Path(path)
        if path != self.state.path:
            self._open(path, quiet=True)

    def open_file(self, path: str | Path) -> bool:
        """Read a radiograph into the model; on failure show the reason (a dialog) and change nothing."""
        return self._open(Path(path), quiet=False)

    def _open(self, path: Path, quiet: bool) -> bool:
        """Read ``path`` into the model. On failure ``quiet`` reports in the status bar and the log
        instead of a dialog (so stepping goes on); a listed file is marked unreadable either way."""
        radiograph, failure = self._read(path)
        listed = path in self.folder_files
        if listed:
            self.index = self.folder_files.index(path)  # the position moves on even when the file fails
        if failure is not None:
            message, details = failure
            if listed:
                self.unreadable[path] = message
                self.files_panel.mark_unreadable(path, message)
            if quiet:
                self.log(f"error: {message}")
                self.notify(message)
            else:
                self.show_error(message, details)
            return False
        if self.unreadable.pop(path, None) is not None:
            self.files_panel.mark_unreadable(path, "")
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

    def _read(self, path: Path) -> tuple[Any, tuple[str, str] | None]:
        """(radiograph, None), or (None, (one sentence, details)) when the file cannot be read."""
        from dfviewer.io import read_radiograph

        try:
            return read_radiograph(path), None
        except UserError as exc:
            return None, (sentence(str(exc)), "")
        except Exception as exc:  # noqa: BLE001 - never a traceback in the user's face
            return None, (f"The file {path} could not be opened ({type(exc).__name__}).",
                          "".join(traceback.format_exception(exc)))

    def _read_truth(self, path: Path, shape: tuple[int, ...]) -> tuple[Any, Path | None]:
        truth_path = find_truth(path)
        if truth_path is None:
            return None, None
        try:
            truth = read_pixels(truth_path)
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
            act = required(self.recent_menu.addAction(path), "menu action")
            act.triggered.connect(lambda _=False, p=path: self.open_paths([p]))
        self.recent_menu.setEnabled(bool(recent))
