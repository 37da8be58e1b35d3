"""Live training curves (pyqtgraph): losses per step and validation metrics per epoch, one colour per stage."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QTimer
from PyQt6.QtWidgets import QVBoxLayout, QWidget

from dfviewer.core.training_events import EpochDone, StepDone

STAGE_COLOURS = {1: (86, 180, 233), 2: (230, 159, 0), 3: (0, 158, 115), 4: (204, 121, 167), 5: (240, 228, 66),
                 6: (213, 94, 0), 7: (0, 114, 178), 8: (180, 180, 180), 0: (240, 240, 240)}

# (key, title, source, field): source "step" reads StepDone.losses, "val" reads EpochDone.val per stage.
PLOTS = [
    ("g_total", "Generator loss", "step", "g_total"),
    ("d", "Discriminator loss", "step", "d"),
    ("nll", "NLL", "step", "nll"),
    ("l1", "L1 (training)", "step", "l1"),
    ("val_l1", "Validation L1", "val", "l1"),
    ("mse", "Validation MSE", "val", "mse"),
    ("psnr", "Validation PSNR (dB)", "val", "psnr"),
    ("ssim", "Validation SSIM", "val", "ssim"),
]


def _stage_name(stage: int) -> str:
    return f"stage {stage}" if stage else "fine-tuning"


class TrainingPlots(QWidget):
    """Eight small plots fed by training events; redrawn at most every 250 ms.

    ``data[key][stage] = (xs, ys)``: x is the global step for losses, the global epoch for
    validation metrics (a validation curve of stage k continues through later phases).
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        pg.setConfigOptions(antialias=True)
        self.view = pg.GraphicsLayoutWidget()
        self.view.setBackground((30, 30, 34))
        self.plots: dict[str, pg.PlotItem] = {}
        self.curves: dict[tuple[str, int], pg.PlotDataItem] = {}
        self.data: dict[str, dict[int, tuple[list[float], list[float]]]] = {k: {} for k, *_ in PLOTS}
        for i, (key, title, source, _field) in enumerate(PLOTS):
            if i == 4:
                self.view.nextRow()
            plot = self.view.addPlot(title=title)
            plot.showGrid(x=True, y=True, alpha=0.2)
            plot.setLabel("bottom", "step" if source == "step" else "epoch")
            plot.getAxis("left").setWidth(42)
            if source == "step":
                plot.setClipToView(True)
                plot.setDownsampling(auto=True, mode="peak")
            if key == "g_total":
                plot.addLegend(offset=(-4, 4), labelTextSize="8pt")
            self.plots[key] = plot
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.view)
        self._dirty: set[tuple[str, int]] = set()
        self._timer = QTimer(self)
        self._timer.setInterval(250)
        self._timer.timeout.connect(self.flush)
        self._timer.start()

    def clear(self) -> None:
        for plot in self.plots.values():
            for item in list(plot.listDataItems()):
                plot.removeItem(item)
            if plot.legend is not None:
                plot.legend.clear()
            plot.enableAutoRange()
        self.curves.clear()
        self.data = {k: {} for k, *_ in PLOTS}
        self._dirty.clear()

    def add_event(self, event: object) -> None:
        if isinstance(event, StepDone):
            for key, _title, source, field in PLOTS:
                if source == "step" and field in event.losses and event.losses[field] is not None:
                    self._append(key, event.stage, event.global_step, float(event.losses[field]))
        elif isinstance(event, EpochDone):
            for key, _title, source, field in PLOTS:
                if source != "val":
                    continue
                for stage, metrics in event.val.items():
                    value = metrics.get(field)
                    if value is not None and np.isfinite(value):
                        self._append(key, int(stage), event.global_epoch, float(value))

    def _append(self, key: str, stage: int, x: float, y: float) -> None:
        xs, ys = self.data[key].setdefault(stage, ([], []))
        xs.append(x)
        ys.append(y)
        self._dirty.add((key, stage))

    def flush(self) -> None:
        """Redraw the curves that received points since the last call."""
        for key, stage in sorted(self._dirty):
            xs, ys = self.data[key][stage]
            curve = self.curves.get((key, stage))
            if curve is None:
                colour = STAGE_COLOURS.get(stage, (200, 200, 200))
                symbol = "o" if key in ("val_l1", "mse", "psnr", "ssim") else None
                curve = self.plots[key].plot(pen=pg.mkPen(colour, width=1.5), name=_stage_name(stage),
                                             symbol=symbol, symbolSize=5, symbolBrush=colour, symbolPen=None)
                self.curves[(key, stage)] = curve
            curve.setData(np.asarray(xs, dtype=float), np.asarray(ys, dtype=float))
        self._dirty.clear()

    def points(self, key: str, stage: int) -> int:
        """Number of points drawn in one curve (for tests and status)."""
        curve = self.curves.get((key, stage))
        if curve is None:
            return 0
        x, _ = curve.getData()
        return 0 if x is None else len(x)
