"""Inference as the user sees it: start and cancel, progress, the stage summary and the lung crop.

The work runs on the dedicated inference thread (:mod:`dfviewer.gui.inference_worker`); this
presenter turns its signals into model updates and status messages. When the first preview
arrives, one helper thread segments the lungs once (from the preview's dark-field) and derives
both the crop box and the summary's lung mask from it: every later row of the Stages table
averages over that same region.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PyQt6.QtCore import QObject, pyqtSignal
from PyQt6.QtWidgets import QLabel, QProgressBar, QStatusBar, QToolButton

from dfviewer.display import analysis
from dfviewer.display.viewer_state import ViewerState
from dfviewer.gui.docks import ModelPanel, SummaryTable
from dfviewer.gui.inference_worker import InferenceController

SUMMARY_TOOLTIP = ("Mean aleatoric and epistemic σ {where}; MSE, PSNR (dB) and SSIM against the real dark-field "
                   "when one is loaded, as `dfviewer evaluate` scores them (both in the model's units, clipped to [0, 1], "
                   "data range 1; SSIM: Gaussian window, sigma 1.5)")


def _duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 60}:{seconds % 60:02d} min" if seconds >= 60 else f"{seconds} s"


class InferencePresenter(QObject):
    """Runs the model on the open image and shows its progress and results."""

    finished = pyqtSignal()
    cancelled = pyqtSignal()
    failed = pyqtSignal(str)
    summaryUpdated = pyqtSignal()
    inputWarningChanged = pyqtSignal(str)  # the flagged input's sentence; "" when the image is not flagged
    _summaryReady = pyqtSignal(object, object)  # token, rows
    _lungsReady = pyqtSignal(object, object)  # token, LungAnalysis
    _summaryLog = pyqtSignal(str)

    def __init__(self, state: ViewerState, controller: InferenceController, status: QStatusBar,
                 progress: QProgressBar, cancel_button: QToolButton, device_label: QLabel, summary: SummaryTable,
                 model_panel: ModelPanel, show_error: Callable[..., None], log: Callable[[str], None],
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.controller = controller
        self.status = status
        self.progress = progress
        self.cancel_button = cancel_button
        self.device_label = device_label
        self.summary = summary
        self.model_panel = model_panel
        self.show_error = show_error
        self.log = log
        self.model_name = Path(state.preferences.model_path).stem if state.preferences.model_path else ""
        self.input_warning = ""  # the latest job's "not in the model's units" sentence
        self._summary_token: object | None = None
        self._lungs: analysis.LungAnalysis | None = None  # this run's lungs, from its first preview
        self._lungs_token: object | None = None  # the segmentation on its way (or done) for this run
        self._final_waiting = False  # the final summary waits for the lungs

        state.imageChanged.connect(self._on_image_changed)
        state.progressChanged.connect(self._update_progress)
        state.displayChanged.connect(lambda: summary.select_stage(state.stage))
        self._summaryReady.connect(self._on_summary_ready)
        self._lungsReady.connect(self._on_lungs_ready)
        self._summaryLog.connect(log)
        w = controller.worker
        w.update.connect(self._on_update)
        w.progress.connect(self._on_progress)
        w.finished.connect(self._on_finished)
        w.cancelled.connect(self._on_cancelled)
        w.failed.connect(self._on_failed)
        w.modelLoaded.connect(self._on_model_loaded)
        w.inputWarning.connect(self._on_input_warning)
        w.log.connect(log)

    @property
    def running(self) -> bool:
        return self.controller.running

    # -- commands --

    def start(self) -> bool:
        """Generate the maps of the open image with the current preferences."""
        s = self.state
        radiograph = s.radiograph
        if radiograph is None:
            return False
        prefs = s.preferences
        if not prefs.model_path or not Path(prefs.model_path).exists():
            where = prefs.model_path or "the bundled demo model"
            self.show_error(f"No model checkpoint is available ({where} is missing); choose one in "
                            "Edit > Preferences.")
            return False
        self._set_input_warning("")
        self._forget_lungs()
        self.controller.start(radiograph.pixels, prefs.model_path, prefs.device, prefs.mc_samples,
                              prefs.working_size or None, threads=prefs.threads)
        s.set_running(True)
        return True

    def cancel(self) -> None:
        if self.controller.running:
            self.controller.cancel()
            self.log("cancelling inference…")
            self.state.set_running(False)

    def find_crop_box(self) -> None:
        """The lung box of the attenuation image alone (before any dark-field is generated)."""
        radiograph = self.state.radiograph
        if radiograph is None:
            return
        try:
            box, found = analysis.crop_box(radiograph.pixels, None)
        except Exception as exc:  # noqa: BLE001 - the crop is a convenience
            self.log(f"lung box not found: {exc}")
            height, width = radiograph.pixels.shape
            box, found = (0, height, 0, width), False
        self._set_lung_box(box, found)

    def _set_lung_box(self, box: tuple[int, int, int, int], found: bool) -> None:
        if not self.state.set_lung_box(box, found) or found:
            return
        self.log("no two lungs found; the crop box is the whole image (adjust it by hand)")
        if self.state.crop_enabled:
            self.status.showMessage("No lungs found: the crop box is the whole image; drag its corners to adjust it",
                                    6000)

    # -- model and worker reactions --

    def _on_image_changed(self) -> None:
        self.controller.cancel()
        self.summary.show_rows([], 1)
        self._set_input_warning("")
        self._forget_lungs()

    def _forget_lungs(self) -> None:
        self._summary_token = None
        self._lungs = None
        self._lungs_token = None
        self._final_waiting = False

    def _set_input_warning(self, sentence: str) -> None:
        self.input_warning = sentence
        self.summary.set_input_warning(sentence)
        self.inputWarningChanged.emit(sentence)

    def _on_update(self, job_id: int, stages: list, done: int, total: int, preview: bool) -> None:
        if not self.controller.is_current(job_id):
            return
        self.state.set_results(stages, done, total, preview)
        self._update_summary(final=False)

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
        # a flagged input's caveat stays in the banner over the panels, not in the status bar
        self.status.showMessage(f"Inference finished in {seconds:.1f} s", 5000)
        self.finished.emit()

    def _on_input_warning(self, job_id: int, sentence: str) -> None:
        if self.controller.is_current(job_id):
            self._set_input_warning(sentence)

    def _on_cancelled(self, job_id: int) -> None:
        if self.controller.running:
            return  # a newer job is on its way
        self.state.set_running(False)
        self.status.showMessage("Inference cancelled; the last estimate stays", 5000)
        self.cancelled.emit()

    def _on_failed(self, job_id: int, message: str, details: str) -> None:
        if self.controller.running and not self.controller.is_current(job_id):
            return
        self.controller.job_done(job_id)
        self.state.set_running(False)
        self.show_error(message, details)
        self.failed.emit(message)

    def _on_model_loaded(self, info: dict) -> None:
        self.model_panel.show_info(info)
        self.model_name = Path(info.get("path", "model")).stem
        self.device_label.setText(f"device: {info.get('device', '?')}")

    def _update_progress(self) -> None:
        p = self.state.progress
        self.progress.setVisible(p.running)
        self.cancel_button.setVisible(p.running)
        if p.running and p.done == 0:
            self.progress.setRange(0, 0)  # busy until the first sample
            self.progress.setFormat("preview…")

    # -- stage summary and lungs --

    def _update_summary(self, final: bool) -> None:
        """Per-stage numbers over this run's lungs (segmented once, from the first preview, off the GUI
        thread); the final ones (with SSIM) are computed off the GUI thread too."""
        results = self.state.results
        if not results:
            self.summary.show_rows([], self.state.stage)
            return
        if self._lungs is None:
            self._final_waiting |= final
            if self._lungs_token is None:
                self._segment_lungs(results[-1].mean)
            self.summary.show_rows(analysis.stage_summary(results, self.state.truth, None, with_ssim=False),
                                   self.state.stage, region=None)
            return
        mask = self._lungs.mask
        region = "lungs" if mask is not None else "whole image"
        if not final:
            self.summary.show_rows(analysis.stage_summary(results, self.state.truth, mask, with_ssim=False),
                                   self.state.stage, region)
            return
        truth, token = self.state.truth, object()
        self._summary_token = token

        def compute() -> None:
            try:
                rows = analysis.stage_summary(results, truth, mask, with_ssim=True)
            except Exception as exc:  # noqa: BLE001 - a summary must never break the viewer
                rows = []
                self._summaryLog.emit(f"stage summary failed: {exc}")
            try:
                self._summaryReady.emit(token, (rows, region))
            except RuntimeError:  # the window was closed meanwhile
                pass

        threading.Thread(target=compute, name="dfviewer-summary", daemon=True).start()

    def _segment_lungs(self, darkfield: Any) -> None:
        radiograph = self.state.radiograph
        if radiograph is None:
            return
        pixels, token = radiograph.pixels, object()
        self._lungs_token = token

        def compute() -> None:
            lungs = analysis.analyse_lungs(pixels, darkfield)
            try:
                self._lungsReady.emit(token, lungs)
            except RuntimeError:  # the window was closed meanwhile
                pass

        threading.Thread(target=compute, name="dfviewer-lungs", daemon=True).start()

    def _on_lungs_ready(self, token: object, lungs: analysis.LungAnalysis) -> None:
        if token is not self._lungs_token:
            return  # a newer image or run replaced it
        self._lungs = lungs
        where = "inside the lung mask" if lungs.mask is not None else "over the whole image (no lungs found)"
        self.summary.setToolTip(SUMMARY_TOOLTIP.format(where=where))
        self._set_lung_box(lungs.box, lungs.found)
        self._update_summary(final=self._final_waiting)

    def _on_summary_ready(self, token: object, payload: tuple[list, str]) -> None:
        if token is not self._summary_token:
            return  # a newer image or result replaced it
        rows, region = payload
        self.summary.show_rows(rows, self.state.stage, region)
        self.summaryUpdated.emit()
