"""Wizard page 3: the training run, with live curves, a per-epoch preview, times, the log, pause and cancel."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import qtawesome as qta
from PyQt6.QtCore import Qt, QTimer, pyqtSignal
from PyQt6.QtGui import QColor, QTextCharFormat
from PyQt6.QtWidgets import (
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
    QWizardPage,
)

from dfviewer.core import config as C
from dfviewer.core.predictors import require_torch
from dfviewer.core.training_events import EpochDone, Finished, RunStarted, StageStarted, StepDone
from dfviewer.display.maps import MAPS
from dfviewer.errors import UserError
from dfviewer.gui.qt_checks import required
from dfviewer.gui.wizard.host import training_wizard
from dfviewer.gui.wizard.images import ImageTile
from dfviewer.gui.wizard.plots import TrainingPlots
from dfviewer.gui.wizard.run_controller import TrainingProcess
from dfviewer.gui.wizard.runs import CONFIG_NAME, read_run_state, train_command
from dfviewer.imaging.voi_windows import percentile_window, window_limits
from dfviewer.wording import plural

#: (preview key, caption, colormap): the viewer's colormaps (the display layer's table of maps)
PREVIEW_TILES = [("input", "input (attenuation)", MAPS["attenuation"].colormap),
                 ("target", "true dark-field", MAPS["truth"].colormap),
                 ("mean", "generated mean", MAPS["mean"].colormap),
                 ("aleatoric", "aleatoric σ", MAPS["aleatoric"].colormap),
                 ("epistemic", "epistemic σ", MAPS["epistemic"].colormap)]


def format_duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class RunPage(QWizardPage):
    """Starts ``dfviewer train`` for the chosen settings and draws its events; complete once it finished.

    ``status`` is ``ready``, ``running``, ``completed``, ``cancelled`` or ``failed``; the error
    display (:attr:`error_label`, :attr:`error_details`) shows why a run failed.
    """

    run_ended = pyqtSignal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setTitle("Training")
        self.setSubTitle("Training runs in a separate `dfviewer train` process; the curves and the preview "
                         "update as it reports.")
        self.process = TrainingProcess(self)
        self.process.event_received.connect(self.on_event)
        self.process.log.connect(self.append_log)
        self.process.state_changed.connect(self._on_state)
        self.process.ended.connect(self._on_ended)
        self.status = "ready"
        self.model_path: Path | None = None
        self._t_start = 0.0
        self._elapsed_before = 0.0
        self._first_step: tuple[float, int] | None = None
        self._global = (0, 1)

        self.headline = QLabel("Ready to train.")
        self.headline.setObjectName("runHeadline")
        self.headline.setStyleSheet("font-weight: bold;")
        self.progress = QProgressBar()
        self.progress.setObjectName("runProgress")
        self.progress.setFormat("%p %")
        self.times = QLabel("")
        self.times.setObjectName("runTimes")
        self.start_btn = QPushButton(qta.icon("mdi6.play"), "Start training")
        self.start_btn.setObjectName("startButton")
        self.start_btn.clicked.connect(self.start)
        self.pause_btn = QPushButton(qta.icon("mdi6.pause"), "Pause")
        self.pause_btn.setObjectName("pauseButton")
        self.pause_btn.clicked.connect(self.toggle_pause)
        self.pause_btn.setEnabled(False)
        self.pause_btn.setVisible(TrainingProcess.can_pause())
        self.cancel_btn = QPushButton(qta.icon("mdi6.stop"), "Cancel")
        self.cancel_btn.setObjectName("cancelButton")
        self.cancel_btn.setToolTip("Stop after the current step; the last complete epoch is kept and can be resumed")
        self.cancel_btn.clicked.connect(self.cancel)
        self.cancel_btn.setEnabled(False)
        top = QHBoxLayout()
        top.addWidget(self.headline, 1)
        top.addWidget(self.times)
        top.addWidget(self.start_btn)
        top.addWidget(self.pause_btn)
        top.addWidget(self.cancel_btn)

        self.error_box = QFrame()
        self.error_box.setObjectName("errorBox")
        self.error_box.setStyleSheet("#errorBox { border: 1px solid #ff6b6b; border-radius: 4px; background: #3a2226; }")
        eb = QVBoxLayout(self.error_box)
        self.error_label = QLabel()
        self.error_label.setObjectName("errorLabel")
        self.error_label.setWordWrap(True)
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_details = QPlainTextEdit()
        self.error_details.setReadOnly(True)
        self.error_details.setMaximumHeight(90)
        eb.addWidget(self.error_label)
        eb.addWidget(self.error_details)
        self.error_box.hide()

        self.plots = TrainingPlots()
        preview = QGroupBox("Validation preview")
        pg_layout = QGridLayout(preview)
        self.tiles: dict[str, ImageTile] = {}
        for i, (key, caption, _cmap) in enumerate(PREVIEW_TILES):
            tile = ImageTile(caption, 100)
            self.tiles[key] = tile
            pg_layout.addWidget(tile, i // 2, i % 2)
        self.preview_caption = QLabel("")
        self.preview_caption.setWordWrap(True)
        self.preview_caption.setStyleSheet("color: #a0a0a8; font-size: 11px;")
        pg_layout.addWidget(self.preview_caption, 2, 1)
        preview.setMaximumWidth(250)
        self.log = QPlainTextEdit()
        self.log.setObjectName("runLog")
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(5000)
        self.log.setStyleSheet("font-family: monospace; font-size: 11px;")

        upper = QWidget()
        ul = QHBoxLayout(upper)
        ul.setContentsMargins(0, 0, 0, 0)
        ul.addWidget(self.plots, 1)
        ul.addWidget(preview)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(upper)
        split.addWidget(self.log)
        split.setStretchFactor(0, 4)
        split.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.progress)
        layout.addWidget(self.error_box)
        layout.addWidget(split, 1)
        self._clock = QTimer(self)
        self._clock.setInterval(1000)
        self._clock.timeout.connect(self._update_times)

    # -- wizard integration --

    def initializePage(self) -> None:  # noqa: N802
        if self.status == "running":
            return
        wiz = required(training_wizard(self), "training wizard")
        st = read_run_state(wiz.model_page.output_folder())
        resumable = st is not None and st.resumable
        self.start_btn.setText("Resume training" if resumable else "Start training")
        self.start_btn.setIcon(qta.icon("mdi6.play-circle-outline" if resumable else "mdi6.play"))
        exp = wiz.model_page.experiment()
        if exp is not None and self.status == "ready":
            from dfviewer.gui.wizard.runs import total_epochs

            self.headline.setText(f"Ready: {plural(exp.model.n_stages, 'stage')}, {plural(total_epochs(exp), 'epoch')} in all, on "
                                  f"{wiz.model_page.device_choice().label}.")

    def isComplete(self) -> bool:  # noqa: N802
        return self.status == "completed" and self.model_path is not None

    @property
    def running(self) -> bool:
        return self.process.running

    # -- control --

    def start(self) -> None:
        """Start (or resume) ``dfviewer train`` in a child process for the wizard's settings."""
        if self.process.running:
            return
        try:
            require_torch("training")  # else the training process would stop at once, saying the same
        except UserError as exc:
            self._show_error(str(exc), "")
            return
        wiz = required(training_wizard(self), "training wizard")
        mp = wiz.model_page
        out = mp.output_folder()
        state = read_run_state(out)
        resume = state is not None and state.resumable
        config = None
        if not resume:
            exp = mp.experiment()
            if exp is None:
                self._show_error("the settings on the previous page are not valid", "")
                return
            try:
                out.mkdir(parents=True, exist_ok=True)
                config = out / CONFIG_NAME
                C.save_json(exp, config)
            except OSError as exc:
                self._show_error(f"the output folder {out} cannot be written ({exc.strerror or exc})", "")
                return
        self._elapsed_before = state.seconds if resume and state is not None else 0.0
        data = wiz.data_page.path.text().strip()
        command = train_command(data, out, mp.device_choice(), config=config, resume=resume,
                                threads=mp.threads.value(), python=wiz.python)
        command.env.update(wiz.extra_env)
        if not resume:
            self.plots.clear()
            for tile in self.tiles.values():
                tile.clear()
            self.preview_caption.setText("")
        self.error_box.hide()
        self.status = "running"
        self.model_path = None
        self._first_step = None
        self._t_start = time.perf_counter()
        self.headline.setText("Starting the training process…" if not resume else "Resuming the run…")
        self.progress.setRange(0, 0)
        self.start_btn.setEnabled(False)
        self.cancel_btn.setEnabled(True)
        self.pause_btn.setEnabled(True)
        self._clock.start()
        self.process.start(command, out)
        self.completeChanged.emit()
        wiz.update_buttons()

    def toggle_pause(self) -> None:
        if self.process.state == "paused":
            self.process.resume()
        else:
            self.process.pause()

    def cancel(self) -> None:
        self.process.cancel()

    # -- events --

    def on_event(self, event: object) -> None:
        if isinstance(event, RunStarted):
            pairs = event.data.get("pairs", {})
            self.append_log(f"training on {event.device} ({event.world_size} process"
                            f"{'es' if event.world_size > 1 else ''}): {pairs.get('train', 0)} train / "
                            f"{pairs.get('val', 0)} val pairs, {plural(event.total_epochs, 'epoch')}, target scale "
                            f"{event.target_scale:.4g}", "info")
            if event.resumed_at_epoch:
                self.append_log(f"resuming after epoch {event.resumed_at_epoch}", "info")
        elif isinstance(event, StageStarted):
            what = f"stage {event.stage}" if event.phase == "stage" else "end-to-end fine-tuning"
            self.headline.setText(f"Training {what}…")
            self.append_log(f"{what}: {plural(event.epochs, 'epoch')}, lr {event.lr:.3g}", "info")
        elif isinstance(event, StepDone):
            self.plots.add_event(event)
            now = time.perf_counter() - self.process.paused_seconds
            if self._first_step is None:
                self._first_step = (now, event.global_step)
            self._global = (event.global_step, event.global_steps)
            self.progress.setRange(0, max(event.global_steps, 1))
            self.progress.setValue(event.global_step)
            what = f"stage {event.stage}" if event.stage else "fine-tuning"
            self.headline.setText(f"Training {what}: epoch {event.epoch}, step {event.step} of {event.steps}")
            self._update_times()
        elif isinstance(event, EpochDone):
            self.plots.add_event(event)
            self.show_preview(event)
            val = " ".join(f"s{k}: mse {v.get('mse', float('nan')):.4g} psnr {v.get('psnr', float('nan')):.2f} "
                           f"ssim {v.get('ssim', float('nan')):.3f}" for k, v in event.val.items())
            self.append_log(f"epoch {event.global_epoch}/{event.total_epochs} (stage {event.stage or 'all'}, "
                            f"{event.epoch}/{event.epochs}) l1 {event.train_losses.get('l1', 0):.4f} {val} "
                            f"[{event.seconds:.1f} s]", "info")
        elif isinstance(event, Finished):
            self.append_log(f"finished: {event.status} after {plural(event.global_epoch, 'epoch')} "
                            f"({format_duration(event.seconds)})", "info")

    def show_preview(self, event: EpochDone) -> None:
        p = event.preview
        if not p:
            return
        target_window = percentile_window(np.asarray(p["target"]), 0.5, 99.5)
        for key, caption, cmap in PREVIEW_TILES:
            if key not in p:
                continue
            if key in ("aleatoric", "epistemic"):
                window = percentile_window(np.asarray(p[key]), 1, 99)
                lo, hi = window_limits(window)
                self.tiles[key].show_array(p[key], cmap, window, caption=f"{caption}\n{lo:.2g} – {hi:.2g}")
            else:
                self.tiles[key].show_array(p[key], cmap, None if key == "input" else target_window)
        what = f"stage {event.stage}" if event.stage else "all stages"
        self.preview_caption.setText(f"{what},\nepoch {event.epoch} of {event.epochs}\n(mean on the true\n"
                                     "dark-field's window)")

    def summary_text(self) -> str:
        """One line about the finished run for the result page."""
        wiz = training_wizard(self)
        st = read_run_state(wiz.model_page.output_folder()) if wiz is not None else None
        if st is None or st.experiment is None:
            return ""
        exp = st.experiment
        return (f"Trained {plural(exp.model.n_stages, 'stage')} × {plural(exp.train.epochs_per_stage, 'epoch')}"
                + (f" + {exp.train.finetune_epochs} fine-tuning" if exp.train.finetune_epochs else "")
                + f" at {exp.model.working_size} px in {format_duration(st.seconds)}; settings in "
                f"{st.folder / CONFIG_NAME if (st.folder / CONFIG_NAME).is_file() else st.folder}.")

    def _update_times(self) -> None:
        if self.status != "running":
            return
        now = time.perf_counter() - self.process.paused_seconds
        elapsed = self._elapsed_before + now - self._t_start
        text = f"elapsed {format_duration(elapsed)}"
        done, total = self._global
        if self._first_step is not None and done > self._first_step[1]:
            rate = (now - self._first_step[0]) / (done - self._first_step[1])
            text += f" · about {format_duration(rate * (total - done))} left"
        if self.process.state == "paused":
            text += " · paused"
        self.times.setText(text)

    def append_log(self, text: str, kind: str = "info") -> None:
        fmt = QTextCharFormat()
        if kind == "stderr":
            fmt.setForeground(QColor("#d08a3a"))
        cursor = self.log.textCursor()
        cursor.movePosition(cursor.MoveOperation.End)
        if not required(self.log.document(), "log document").isEmpty():
            cursor.insertText("\n", fmt)
        cursor.insertText(text, fmt)
        bar = required(self.log.verticalScrollBar(), "log scroll bar")
        bar.setValue(bar.maximum())

    def _on_state(self, state: str) -> None:
        paused = state == "paused"
        self.pause_btn.setText("Continue" if paused else "Pause")
        self.pause_btn.setIcon(qta.icon("mdi6.play" if paused else "mdi6.pause"))
        self.pause_btn.setEnabled(state in ("running", "paused"))
        self.cancel_btn.setEnabled(state in ("running", "paused"))
        if paused:
            self.headline.setText("Paused.")
        elif state == "stopping":
            self.headline.setText("Stopping after the current step…")
        self._update_times()

    def _on_ended(self, status: str, model_path: str, message: str, details: str) -> None:
        self._clock.stop()
        spent = time.perf_counter() - self.process.paused_seconds - self._t_start
        self.times.setText(f"took {format_duration(spent)}" + (
            f" (and {format_duration(self._elapsed_before)} before resuming)" if self._elapsed_before else ""))
        self.status = status
        self.pause_btn.setEnabled(False)
        self.cancel_btn.setEnabled(False)
        wiz = training_wizard(self)
        out = wiz.model_page.output_folder() if wiz is not None else None
        if status == "completed":
            self.model_path = Path(model_path)
            self.progress.setRange(0, 1)
            self.progress.setValue(1)
            self.headline.setText(f"Finished: {self.model_path}")
            self.start_btn.setEnabled(False)
        else:
            state = read_run_state(out) if out is not None else None
            resumable = state is not None and state.resumable
            self.start_btn.setEnabled(True)
            self.start_btn.setText("Resume training" if resumable else "Start again")
            self.start_btn.setIcon(qta.icon("mdi6.play-circle-outline" if resumable else "mdi6.restart"))
            self.progress.setRange(0, 1)
            self.progress.setValue(0)
            if status == "cancelled":
                kept = (f"the last complete epoch ({state.done_epochs} of {state.total_epochs}) is kept in "
                        f"{model_path or out}; Resume continues from it" if state is not None and state.resumable
                        else "no epoch was complete, so nothing was kept")
                self.headline.setText(f"Cancelled: {kept}.")
            else:
                self._show_error(message, details)
        self.completeChanged.emit()
        if wiz is not None:
            wiz.update_buttons()
        self.run_ended.emit(status)

    def _show_error(self, message: str, details: str) -> None:
        self.status = "failed" if self.status != "ready" else self.status
        self.headline.setText("Training failed.")
        self.error_label.setText(f"<b>Training failed:</b> {message}")
        self.error_details.setPlainText(details or "(no further details)")
        self.error_box.show()
        self.append_log(f"error: {message}", "stderr")

    def shutdown(self, wait_ms: int = 30_000) -> None:
        """Cancel a running child and wait for it (used when the wizard closes)."""
        if self.process.running:
            self.process.cancel()
            if not self.process.wait(wait_ms):
                self.process._kill()
                self.process.wait(5_000)
