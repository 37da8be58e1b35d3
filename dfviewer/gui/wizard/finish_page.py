"""Wizard page 4: the evaluation table of the new model (``evaluate`` on the test split) and "Open in viewer"."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import qtawesome as qta
from PyQt6.QtCore import QUrl
from PyQt6.QtGui import QDesktopServices, QGuiApplication
from PyQt6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
    QWizardPage,
)

from dfviewer.core.results import DEFAULT_MC_SAMPLES
from dfviewer.gui.qt_checks import required
from dfviewer.gui.wizard.host import training_wizard
from dfviewer.gui.wizard.plots import STAGE_COLOURS
from dfviewer.gui.wizard.tasks import BackgroundTask

COLUMNS = [("MSE", "mse", ".4f"), ("PSNR (dB)", "psnr", ".2f"), ("SSIM", "ssim", ".3f"),
           ("Spearman(σ, |err|)", "spearman", ".2f"), ("AUSE", "ause", ".3f")]
COVERAGE = [("GGD 50 %", "coverage_ggd", "0.5"), ("GGD 90 %", "coverage_ggd", "0.9"),
            ("total 90 %", "coverage_total", "0.9")]


def _pm(d: dict[str, Any] | None, fmt: str) -> str:
    if not d or d.get("mean") is None or not math.isfinite(d["mean"]):
        return "n/a"
    return f"{d['mean']:{fmt}} ± {d['std']:{fmt}}"


class FinishPage(QWizardPage):
    """Evaluates the checkpoint off the GUI thread and offers it to the viewer."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setTitle("Result")
        self.setSubTitle("The new model scored per stage on held-out pairs, as `dfviewer evaluate` does.")
        self.setFinalPage(True)
        self.report = None
        self.model_path: Path | None = None
        self.task = BackgroundTask(self)
        self.task.progress.connect(self._on_progress)
        self.task.finished.connect(self._on_evaluated)
        self.task.failed.connect(self._on_failed)

        self.path_label = QLabel()
        self.path_label.setObjectName("checkpointPath")
        self.path_label.setTextInteractionFlags(self.path_label.textInteractionFlags().TextSelectableByMouse)
        self.path_label.setWordWrap(True)
        copy = QPushButton(qta.icon("mdi6.content-copy"), "Copy path")
        copy.clicked.connect(lambda: required(QGuiApplication.clipboard(), "clipboard").setText(str(self.model_path or "")))
        folder = QPushButton(qta.icon("mdi6.folder-open"), "Show folder")
        folder.clicked.connect(lambda: self.model_path and QDesktopServices.openUrl(
            QUrl.fromLocalFile(str(self.model_path.parent))))
        self.open_btn = QPushButton(qta.icon("mdi6.eye", color="white"), "Open in viewer")
        self.open_btn.setObjectName("openInViewer")
        self.open_btn.setStyleSheet("QPushButton { background: #3478c8; color: white; padding: 4px 12px; }")
        self.open_btn.clicked.connect(self.open_in_viewer)
        row = QHBoxLayout()
        row.addWidget(QLabel("<b>Checkpoint</b>"))
        row.addWidget(self.path_label, 1)
        row.addWidget(copy)
        row.addWidget(folder)
        row.addWidget(self.open_btn)

        self.split = QComboBox()
        self.split.addItems(["test", "val", "train"])
        self.mc = QSpinBox()
        self.mc.setRange(0, 200)
        self.mc.setValue(DEFAULT_MC_SAMPLES)
        self.mc.setToolTip("MC-dropout samples per image (epistemic uncertainty)")
        self.eval_btn = QPushButton(qta.icon("mdi6.table-refresh"), "Evaluate")
        self.eval_btn.setObjectName("evaluateButton")
        self.eval_btn.clicked.connect(self.evaluate)
        self.progress = QProgressBar()
        self.progress.hide()
        eval_row = QHBoxLayout()
        eval_row.addWidget(QLabel("Split"))
        eval_row.addWidget(self.split)
        eval_row.addWidget(QLabel("MC samples"))
        eval_row.addWidget(self.mc)
        eval_row.addWidget(self.eval_btn)
        eval_row.addWidget(self.progress, 1)
        eval_row.addStretch(1)

        headers = ["Stage"] + [c[0] for c in COLUMNS] + [c[0] for c in COVERAGE]
        self.table = QTableWidget(0, len(headers))
        self.table.setObjectName("evaluationTable")
        self.table.setHorizontalHeaderLabels(headers)
        required(self.table.verticalHeader(), "table header").hide()
        columns = required(self.table.horizontalHeader(), "table header")
        columns.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        columns.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.notes = QLabel()
        self.notes.setObjectName("evaluationNotes")
        self.notes.setWordWrap(True)
        self.notes.setStyleSheet("color: #a0a0a8;")

        import pyqtgraph as pg

        self.table.setMaximumHeight(150)
        self.summary = QLabel()
        self.summary.setObjectName("runSummary")
        self.summary.setWordWrap(True)
        self.chart = pg.GraphicsLayoutWidget()
        self.chart.setBackground((30, 30, 34))
        self.chart_plots = {}
        for key, title in (("mse", "MSE per stage"), ("psnr", "PSNR (dB) per stage"), ("ssim", "SSIM per stage"),
                           ("coverage", "GGD interval coverage")):
            plot = self.chart.addPlot(title=title)
            plot.showGrid(x=True, y=True, alpha=0.2)
            plot.setLabel("bottom", "expected" if key == "coverage" else "stage")
            self.chart_plots[key] = plot
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(self.summary)
        layout.addLayout(eval_row)
        layout.addWidget(self.table)
        layout.addWidget(self.chart, 1)
        layout.addWidget(self.notes)

    def initializePage(self) -> None:  # noqa: N802
        wiz = required(training_wizard(self), "training wizard")
        self.model_path = wiz.run_page.model_path
        self.path_label.setText(str(self.model_path))
        self.summary.setText(wiz.run_page.summary_text())
        exp = wiz.model_page.experiment()
        report = wiz.data_page.report
        if report is not None and report.splits.get("test", 0) == 0:
            self.split.setCurrentText("val" if report.splits.get("val", 0) else "train")
        if exp is not None and wiz.eval_mc_samples is None:
            self.mc.setValue(min(max(exp.train.val_mc_samples, 2), DEFAULT_MC_SAMPLES))
        elif wiz.eval_mc_samples is not None:
            self.mc.setValue(wiz.eval_mc_samples)
        self.evaluate()

    def evaluate(self) -> None:
        """Run :func:`dfviewer.core.evaluation.evaluate` on the chosen split off the GUI thread."""
        if self.model_path is None or self.task.running:
            return
        wiz = required(training_wizard(self), "training wizard")
        model, data = str(self.model_path), wiz.data_page.path.text().strip()
        split, mc = self.split.currentText(), self.mc.value()
        choice = wiz.model_page.device_choice()
        device = f"cuda:{choice.gpus[0]}" if choice.gpus else "cpu"
        out_dir = self.model_path.parent

        def job(progress, cancel):
            from dfviewer.core.evaluation import evaluate

            report = evaluate(model, data, split=split, mc_samples=mc, device=device, progress=progress,
                              cancel=cancel)
            report.save_json(out_dir / f"evaluation_{split}.json")
            from dfviewer.atomic import atomic_write_text

            atomic_write_text(out_dir / f"evaluation_{split}.md", report.to_markdown())
            return report

        self.notes.setText(f"Evaluating on the {split} split with {mc} MC samples…")
        self.progress.setRange(0, 0)
        self.progress.show()
        self.eval_btn.setEnabled(False)
        self.task.start(job)

    def _on_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, total)
        self.progress.setValue(done)

    def _on_evaluated(self, report) -> None:
        self.report = report
        self.progress.hide()
        self.eval_btn.setEnabled(True)
        stages = sorted(report.stages)
        self.table.setRowCount(len(stages))
        for r, k in enumerate(stages):
            s = report.stages[k]
            cells = [str(k)] + [_pm(s.get(key), fmt) for _t, key, fmt in COLUMNS]
            for _t, key, level in COVERAGE:
                v = s.get(key, {}).get(level)
                cells.append("n/a" if v is None or not math.isfinite(v) else f"{100 * v:.0f} %")
            for c, text in enumerate(cells):
                self.table.setItem(r, c, QTableWidgetItem(text))
        self._draw_chart(report)
        n = report.n_images
        notes = [f"{n} image{'' if n == 1 else 's'} of the {report.split} split, T = {report.mc_samples} MC samples; "
                 f"saved as evaluation_{report.split}.json / .md next to the checkpoint."]
        notes += report.notes
        self.notes.setText("\n".join(notes))

    def _draw_chart(self, report) -> None:
        import numpy as np
        import pyqtgraph as pg

        stages = sorted(report.stages)
        for key in ("mse", "psnr", "ssim"):
            plot = self.chart_plots[key]
            plot.clear()
            means = [report.stages[k][key].get("mean") for k in stages]
            stds = [report.stages[k][key].get("std") or 0.0 for k in stages]
            if any(m is None for m in means):
                continue
            x, y, e = np.asarray(stages, float), np.asarray(means, float), np.asarray(stds, float)
            plot.addItem(pg.ErrorBarItem(x=x, y=y, top=e, bottom=e, beam=0.15, pen=pg.mkPen((150, 150, 160))))
            plot.plot(x, y, pen=pg.mkPen((86, 180, 233), width=2), symbol="o", symbolBrush=(86, 180, 233))
            plot.getAxis("bottom").setTicks([[(k, str(k)) for k in stages]])
        plot = self.chart_plots["coverage"]
        plot.clear()
        plot.plot([0, 1], [0, 1], pen=pg.mkPen((150, 150, 160), style=pg.QtCore.Qt.PenStyle.DashLine))
        for k in stages:
            cov = report.stages[k].get("coverage_ggd", {})
            levels = sorted(float(p) for p in cov if cov[p] is not None)
            if levels:
                colour = STAGE_COLOURS.get(k, (200, 200, 200))
                plot.plot(levels, [cov[str(p)] for p in levels], pen=pg.mkPen(colour, width=2), name=f"stage {k}")

    def _on_failed(self, message: str, details: str) -> None:
        self.progress.hide()
        self.eval_btn.setEnabled(True)
        self.notes.setText(f"<span style='color:#ff6b6b'>Evaluation failed: {message}</span>")
        self.notes.setToolTip(details)

    def open_in_viewer(self) -> None:
        wiz = training_wizard(self)
        if self.model_path is not None and wiz is not None:
            wiz.model_ready.emit(Path(self.model_path))
            wiz.accept()

    def shutdown(self) -> None:
        self.task.wait()
