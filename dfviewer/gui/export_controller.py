"""Exporting from the viewer: the active panel as shown, or every map of every stage."""

from __future__ import annotations

import traceback
from collections.abc import Callable
from pathlib import Path

from PyQt6.QtCore import QSettings
from PyQt6.QtWidgets import QFileDialog, QMessageBox, QStatusBar, QWidget

from dfviewer.display import export
from dfviewer.display.export_plan import ExportOptions, panel_file_name, plan_all_maps
from dfviewer.display.layers import Layer
from dfviewer.display.viewer_state import ViewerState
from dfviewer.errors import UserError
from dfviewer.gui.dialogs import ExportOptionsDialog


class ExportController:
    """Writes files from the model and the panels' layers; asks before overwriting (``confirm_overwrite``)."""

    def __init__(self, parent: QWidget, state: ViewerState, settings: QSettings, status: QStatusBar,
                 layers: dict[str, Layer | None], flush: Callable[[], None], model_name: Callable[[], str],
                 show_error: Callable[..., None], log: Callable[[str], None]) -> None:
        self.parent = parent
        self.state = state
        self.settings = settings
        self.status = status
        self.layers = layers
        self.flush = flush
        self.model_name = model_name
        self.show_error = show_error
        self.log = log
        #: decides whether existing files may be overwritten: ``confirm(paths) -> bool``
        self.confirm_overwrite: Callable[[list[Path]], bool] = self.ask_overwrite
        #: the sentence flagging the open input ("" when it is not flagged): every export carries it
        self.input_warning: Callable[[], str] = lambda: ""

    def _export_dir(self) -> Path:
        return Path(str(self.settings.value("export_dir", str(Path.home()))))

    def _panel_to_export(self) -> str:
        key = self.state.active_panel if self.layers.get(self.state.active_panel) is not None else "overlay"
        return key if self.layers.get(key) is not None else "attenuation"

    def suggested_name(self, panel: str) -> str:
        """``<stem>_stage<k>_<map>[_over_<base>].png`` for the panel as shown."""
        s = self.state
        stem = s.path.stem if s.path else "image"
        key = s.panel_map(panel)
        stage = s.stage if panel not in ("attenuation", "truth") else None
        base = s.overlay_mode if panel == "overlay" and s.overlay_mode != "alone" else None
        return panel_file_name(stem, key if panel != "truth" else "truth", stage, base)

    def panel_title(self, panel: str, layer: Layer) -> str:
        """The exported panel's title: case, stage, what it shows and where its window comes from."""
        s = self.state
        stem = s.path.stem if s.path else "image"
        if panel in ("attenuation", "truth"):
            return export.export_title(stem, layer.title)
        return export.export_title(stem, layer.title, s.stage, s.window_source(layer.key))

    def export_panel_dialog(self) -> None:
        """Export the panel last clicked (the overlay panel by default) as shown."""
        key = self._panel_to_export()
        suggestion = self._export_dir() / self.suggested_name(key)
        path, _ = QFileDialog.getSaveFileName(self.parent, "Export panel as PNG", str(suggestion), "PNG images (*.png)",
                                              options=QFileDialog.Option.DontConfirmOverwrite)
        if path:
            if not path.lower().endswith(".png"):
                path += ".png"
            self.export_panel(key, path)

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
            export.export_layer(path, layer, self.state.active_crop, self.panel_title(panel_key, layer),
                                self.input_warning())
        except (OSError, UserError) as exc:
            message = str(exc) if isinstance(exc, UserError) else f"The file {path} could not be written ({exc})."
            self.show_error(message, traceback.format_exc())
            return None
        self.settings.setValue("export_dir", str(path.parent))
        self.log(f"exported {path}")
        self.status.showMessage(f"Saved {path}", 5000)
        return path

    def export_all_dialog(self) -> None:
        dicom_ok = getattr(self.state.radiograph, "dataset", None) is not None
        options_dialog = ExportOptionsDialog(self.parent, dicom_ok)
        if options_dialog.exec() != ExportOptionsDialog.DialogCode.Accepted:
            return
        folder = QFileDialog.getExistingDirectory(self.parent, "Export all maps to folder", str(self._export_dir()))
        if folder:
            options = ExportOptions(png=True, tiff=options_dialog.tiff.isChecked(),
                                    dicom=options_dialog.dicom.isChecked() and dicom_ok)
            self.export_all(folder, options)

    def export_all(self, folder: str | Path, options: ExportOptions | None = None) -> list[Path]:
        """Every map of every stage into ``folder``; asks once before overwriting existing files."""
        s = self.state
        if not s.results:
            self.show_error("There are no results to export yet.")
            return []
        stem = s.path.stem if s.path else "image"
        dicom_ok = getattr(s.radiograph, "dataset", None) is not None
        planned = plan_all_maps(folder, stem, s.stages, s.truth is not None, options or ExportOptions(), dicom_ok)
        existing = [p.path for p in planned if p.path.exists()]
        if existing and not self.confirm_overwrite(existing):
            return []
        try:
            written = export.write_planned(planned, s, self.model_name() or "dfviewer", self.input_warning())
        except (OSError, UserError) as exc:
            reason = str(exc)
            self.show_error(f"The export to {folder} stopped: {reason[:1].lower() + reason[1:]}",
                            traceback.format_exc())
            return []
        self.settings.setValue("export_dir", str(folder))
        self.log(f"exported {len(written)} files to {folder}")
        self.status.showMessage(f"Saved {len(written)} files to {folder}", 5000)
        return written

    def ask_overwrite(self, paths: list[Path]) -> bool:
        names = "\n".join(str(p.name) for p in paths[:8]) + ("\n…" if len(paths) > 8 else "")
        answer = QMessageBox.question(self.parent, "Overwrite files?",
                                      f"{len(paths)} file(s) exist already and would be replaced:\n{names}",
                                      QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                                      QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes
