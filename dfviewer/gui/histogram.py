"""Windowing controls: a histogram with draggable window limits, a labelled range slider, presets, reset."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtGui import QColor
from PyQt6.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QLineEdit, QPushButton, QVBoxLayout, QWidget
from superqt import QLabeledDoubleRangeSlider, QSearchableComboBox

from dfviewer.imaging.voi_windows import Window, finite_sample, window_from_limits, window_limits


def decimals_for(span: float) -> int:
    """Decimals that show about five significant digits of values spread over ``span``."""
    if not span > 0 or not np.isfinite(span):
        return 3
    return int(np.clip(4 - np.floor(np.log10(span)), 0, 8))


class WindowingWidget(QWidget):
    """Histogram of the active panel's data; the shaded region is its window."""

    targetChanged = pyqtSignal(str)  # which panel the controls act on
    windowEdited = pyqtSignal(str, float, float)  # key, centre, width
    presetChosen = pyqtSignal(str, float, float)
    resetRequested = pyqtSignal(str)
    autoToggled = pyqtSignal(str, bool)

    TARGETS = (("attenuation", "Attenuation"), ("mean", "Dark-field"), ("overlay", "Overlay map"),
               ("companion", "Second map"))

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.key = "attenuation"
        self._updating = False
        self._presets: list[tuple[str, Window]] = []

        self.target = QComboBox()
        for key, label in self.TARGETS:
            self.target.addItem(label, key)
        self.target.setToolTip("The panel whose window the histogram and presets change")
        self.plot = pg.PlotWidget(background="#18181c")
        self.plot.setMinimumHeight(60)
        self.plot.setMaximumHeight(170)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.plot.setMenuEnabled(False)
        self.plot.getAxis("left").hide()
        self.curve = self.plot.plot([0, 1], [0], stepMode="center", fillLevel=0,
                                    brush=QColor(140, 170, 220, 150), pen=pg.mkPen("#8cb0e0"))
        self.region = pg.LinearRegionItem(brush=QColor(255, 200, 60, 28), pen=pg.mkPen("#ffc83c", width=2))
        self.region.setZValue(10)
        self.plot.addItem(self.region)
        self.region.sigRegionChanged.connect(self._region_changed)
        self.limits = QLabeledDoubleRangeSlider(Qt.Orientation.Horizontal)
        self.limits.setObjectName("windowLimits")
        self.limits.setToolTip("The window's low and high value: drag the handles or type a value")
        # the values at the ends (editable), not above the handles, where the left one is cut off
        self.limits.setEdgeLabelMode(QLabeledDoubleRangeSlider.EdgeLabelMode.LabelIsValue)
        self.limits.setHandleLabelPosition(QLabeledDoubleRangeSlider.LabelPosition.NoLabel)
        self.limits.valueChanged.connect(self._limits_changed)
        self.presets = QSearchableComboBox()  # a CR or CT file may offer many windows: type to find one
        self.presets.setInsertPolicy(QSearchableComboBox.InsertPolicy.NoInsert)
        self.presets.setToolTip("Window presets: the file's own windows, Lung, Bone, Full range, Auto (percentiles)")
        self.presets.activated.connect(self._preset_activated)
        self.reset = QPushButton("Reset")
        self.reset.setToolTip("Back to the default window of this panel")
        self.reset.clicked.connect(lambda: self.resetRequested.emit(self.key))
        self.auto = QCheckBox("Auto range")
        self.auto.setToolTip("Automatic range (percentiles over all stages, uncertainty maps from zero), updated "
                             "as results arrive; off: a fixed window")
        self.auto.toggled.connect(lambda on: None if self._updating else self.autoToggled.emit(self.key, on))
        self.target.currentIndexChanged.connect(lambda _: self.targetChanged.emit(self.target.currentData()))

        row = QHBoxLayout()
        row.addWidget(self.presets, 1)
        row.addWidget(self.auto)
        row.addWidget(self.reset)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.target)
        layout.addWidget(self.plot)
        layout.addWidget(self.limits)
        layout.addLayout(row)

    def show_data(self, key: str, array: np.ndarray | None, window: Window,
                  presets: list[tuple[str, Window]]) -> None:
        """Show the histogram of ``array`` and ``window`` for map ``key``."""
        self.key = key
        self._presets = presets
        self.presets.clear()
        self.presets.addItem("Preset…")
        for name, _ in presets:
            self.presets.addItem(name)
        self.presets.setEnabled(bool(presets))
        self.curve.setVisible(array is not None)
        self.region.setVisible(array is not None)
        self.limits.setEnabled(array is not None)
        if array is None:
            return
        values = finite_sample(array, 200_000)
        if values.size == 0:
            return
        low, high = float(values.min()), float(values.max())
        w_low, w_high = window_limits(window)
        span_low, span_high = min(low, w_low), max(high, w_high)
        if not span_high > span_low:
            span_high = span_low + 1.0
        counts, edges = np.histogram(values, bins=128, range=(span_low, span_high))
        self.curve.setData(edges, np.log1p(counts.astype(float)))
        self.plot.setXRange(span_low, span_high, padding=0.02)
        self._updating = True
        try:
            decimals = decimals_for(span_high - span_low)
            self.limits.setDecimals(decimals)
            # the double slider takes floats; superqt annotates the inherited setRange with ints
            self.limits.setRange(span_low, span_high)  # type: ignore[arg-type]
            self._fit_limit_labels(span_low, span_high, decimals)
        finally:
            self._updating = False
        self.set_window(window)

    def set_window(self, window: Window) -> None:
        low, high = window_limits(window)
        self._updating = True
        try:
            self.region.setRegion((low, high))
            if low < self.limits.minimum() or high > self.limits.maximum():  # dragged beyond the data
                wider = min(low, self.limits.minimum()), max(high, self.limits.maximum())
                self.limits.setRange(*wider)  # type: ignore[arg-type]  # floats, as above
            self.limits.setValue((low, high))
        finally:
            self._updating = False

    def set_auto(self, auto: bool, enabled: bool = True) -> None:
        self._updating = True
        try:
            self.auto.setChecked(auto)
            self.auto.setEnabled(enabled)
        finally:
            self._updating = False

    def set_target(self, key: str) -> None:
        index = self.target.findData(key)
        if index >= 0 and index != self.target.currentIndex():
            self.target.setCurrentIndex(index)

    def _region_changed(self) -> None:
        if self._updating:
            return
        low, high = self.region.getRegion()
        centre, width = window_from_limits(float(low), float(high))
        self.windowEdited.emit(self.key, centre, width)

    def _fit_limit_labels(self, low: float, high: float, decimals: int) -> None:
        """Room for the longest value (superqt sizes its labels for the maximum only, cutting a minus sign)."""
        metrics = self.limits.fontMetrics()
        width = max(metrics.horizontalAdvance(f"{v:.{decimals}f}") for v in (low, high, -abs(high))) + 10
        for label in self.limits.findChildren(QLineEdit):
            label.setFixedWidth(width)

    def _limits_changed(self, value: tuple[float, float]) -> None:
        if self._updating:
            return
        centre, width = window_from_limits(float(value[0]), float(value[1]))
        self.windowEdited.emit(self.key, centre, width)

    def _preset_activated(self, index: int) -> None:
        if index <= 0 or index - 1 >= len(self._presets):
            return
        _, (centre, width) = self._presets[index - 1]
        self.presetChosen.emit(self.key, centre, width)
        self.presets.setCurrentIndex(0)
