"""One image panel: a pyqtgraph view of a :class:`~dfviewer.display.layers.Layer` plus its colorbar.

Left-drag pans, the wheel zooms, right-drag changes the window (horizontal: width,
vertical: centre), double-click resets the view. The panel reports the pixel under the cursor
and window drags as signals; it holds no state beyond what it draws.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QPointF, QRectF, Qt, pyqtSignal
from PyQt6.QtGui import QColor, QFont, QImage, QPainter, QPen
from PyQt6.QtWidgets import QFrame, QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget
from superqt import QElidingLabel

from dfviewer.display.layers import Layer, colorize
from dfviewer.display.windows import window_limits

pg.setConfigOptions(imageAxisOrder="row-major", antialias=False)

BACKGROUND = "#101014"


def _short(value: float) -> str:
    """At most about 7 characters: the colorbar is narrow."""
    if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
        return f"{value:.2g}"
    return f"{value:.4g}" if abs(value) >= 1 else f"{value:.3g}"


class ColorBar(QWidget):
    """A vertical colour scale with the window's limits, middle value and units."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFixedWidth(72)
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Expanding)
        self._image: QImage | None = None
        self._labels: tuple[str, str, str] = ("", "", "")
        self._units = ""
        self._colormap = ""
        self._window = (0.0, 0.0)

    def set_scale(self, colormap: str, window: tuple[float, float], units: str) -> None:
        if (colormap, tuple(window), units) == (self._colormap, self._window, self._units):
            return
        self._colormap, self._window, self._units = colormap, tuple(window), units
        low, high = window_limits(window)
        ramp = np.linspace(high, low, 256, dtype=np.float32)[:, None].repeat(2, axis=1)
        rgba = np.ascontiguousarray(colorize(ramp, colormap, window))
        self._rgba = rgba  # keep the buffer alive for QImage
        self._image = QImage(rgba.data, rgba.shape[1], rgba.shape[0], rgba.strides[0], QImage.Format.Format_RGBA8888)
        self._labels = tuple(_short(v) for v in (high, (low + high) / 2, low))
        self.update()

    def clear(self) -> None:
        self._image = None
        self._colormap = ""
        self.update()

    def labels(self) -> tuple[str, str, str]:
        return self._labels

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt name
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(BACKGROUND))
        if self._image is None:
            return
        font = QFont(self.font())
        font.setPointSizeF(max(7.0, font.pointSizeF() * 0.85))
        painter.setFont(font)
        top, bottom = 16, self.height() - 16
        bar = QRectF(4, top, 12, max(bottom - top, 10))
        painter.drawImage(bar, self._image)
        painter.setPen(QPen(QColor("#8a8a90")))
        painter.drawRect(bar)
        painter.setPen(QColor("#e0e0e0"))
        fm = painter.fontMetrics()
        for text, y in zip(self._labels, (top, (top + bottom) / 2, bottom)):
            painter.drawText(QPointF(19, y + fm.ascent() / 2 - 1), text)
        if self._units:
            painter.drawText(QRectF(0, 0, self.width(), 14), Qt.AlignmentFlag.AlignCenter, self._units)
        painter.end()


class _ViewBox(pg.ViewBox):
    """ViewBox whose right-drag adjusts the window instead of zooming."""

    def __init__(self, panel: ImagePanel) -> None:
        super().__init__(lockAspect=True, invertY=True, enableMenu=False)
        self._panel = panel

    def mouseDragEvent(self, ev, axis=None):  # noqa: N802 - pyqtgraph name
        if ev.button() == Qt.MouseButton.RightButton:
            ev.accept()
            delta = ev.screenPos() - ev.lastScreenPos()
            self._panel.windowDragged.emit(self._panel.key, float(delta.x()), float(delta.y()), bool(ev.isStart()))
            return
        super().mouseDragEvent(ev, axis)

    def mouseClickEvent(self, ev):  # noqa: N802
        self._panel.activated.emit(self._panel.key)
        if ev.button() == Qt.MouseButton.RightButton:
            ev.accept()  # no zoom-out menu: right button is for windowing
            return
        if ev.double():
            ev.accept()
            self._panel.resetViewRequested.emit()
            return
        super().mouseClickEvent(ev)


class ImagePanel(QFrame):
    """Title, image view with crosshair, and colorbar."""

    hovered = pyqtSignal(int, int)  # row, col under the cursor (may lie outside the image)
    left = pyqtSignal()
    windowDragged = pyqtSignal(str, float, float, bool)  # panel key, dx, dy, drag start
    activated = pyqtSignal(str)
    resetViewRequested = pyqtSignal()

    def __init__(self, key: str, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.key = key
        self.layer: Layer | None = None
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setObjectName(f"panel_{key}")

        self.title = QElidingLabel(title)
        self.title.setEllipsesWidth(8)  # the stylesheet's horizontal padding
        self.title.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        self.title.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.title.setObjectName("panelTitle")
        self.title.setStyleSheet("font-weight: 600; padding: 2px 4px;")
        self.subtitle = QElidingLabel("")
        self.subtitle.setElideMode(Qt.TextElideMode.ElideMiddle)
        self.subtitle.setEllipsesWidth(8)
        self.subtitle.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.subtitle.setStyleSheet("color: #9a9aa0; padding: 2px 4px;")
        self.subtitle.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)

        self.graphics = pg.GraphicsView(background=BACKGROUND)
        self.graphics.setMinimumSize(120, 120)
        self.view = _ViewBox(self)
        self.graphics.setCentralItem(self.view)
        self.image_item = pg.ImageItem()
        self.view.addItem(self.image_item)
        pen = pg.mkPen(QColor(80, 220, 255, 170), width=1, style=Qt.PenStyle.DashLine)
        self.vline = pg.InfiniteLine(angle=90, movable=False, pen=pen)
        self.hline = pg.InfiniteLine(angle=0, movable=False, pen=pen)
        for line in (self.vline, self.hline):
            line.setVisible(False)
            line.setZValue(10)
            self.view.addItem(line, ignoreBounds=True)
        self.placeholder = QLabel("", self.graphics)
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setStyleSheet("color: #9a9aa0; background: transparent; font-size: 13px;")
        self.placeholder.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.colorbar = ColorBar()

        header = QHBoxLayout()
        header.setContentsMargins(0, 0, 0, 0)
        header.addWidget(self.title, 3)
        header.addWidget(self.subtitle, 2)
        body = QHBoxLayout()
        body.setContentsMargins(0, 0, 0, 0)
        body.setSpacing(0)
        body.addWidget(self.graphics, 1)
        body.addWidget(self.colorbar)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(1, 1, 1, 1)
        layout.setSpacing(0)
        layout.addLayout(header)
        layout.addLayout(body, 1)

        self.graphics.scene().sigMouseMoved.connect(self._mouse_moved)
        self.graphics.setMouseTracking(True)

    # -- content --

    def set_layer(self, layer: Layer | None, placeholder: str = "") -> None:
        """Draw ``layer`` (None: empty panel with an optional placeholder message)."""
        self.layer = layer
        if layer is None:
            self.image_item.clear()
            self.colorbar.clear()
            self.placeholder.setText(placeholder)
            self.placeholder.setVisible(bool(placeholder))
            return
        self.placeholder.setVisible(False)
        self.image_item.setImage(layer.rgba, autoLevels=False, levels=(0, 255))
        self.colorbar.set_scale(layer.colormap, layer.window, layer.units)

    def set_title(self, title: str, subtitle: str = "", tooltip: str = "") -> None:
        self.title.setText(title)
        self.subtitle.setText(subtitle)
        if tooltip:
            self.setToolTip(tooltip)

    def center_placeholder(self) -> None:
        self.placeholder.setGeometry(self.graphics.rect())

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        self.center_placeholder()

    def displayed_rgba(self) -> np.ndarray | None:
        """The pixels the image item holds (what is drawn)."""
        return None if self.image_item.image is None else np.asarray(self.image_item.image)

    # -- crosshair --

    def set_crosshair(self, row: int | None, col: int | None) -> None:
        visible = row is not None and col is not None
        self.vline.setVisible(visible)
        self.hline.setVisible(visible)
        if visible:
            self.vline.setPos(col + 0.5)
            self.hline.setPos(row + 0.5)

    def _mouse_moved(self, scene_pos) -> None:
        if self.layer is None:
            return
        if not self.view.sceneBoundingRect().contains(scene_pos):
            self.left.emit()
            return
        point = self.view.mapSceneToView(scene_pos)
        self.hovered.emit(int(np.floor(point.y())), int(np.floor(point.x())))

    def leaveEvent(self, event) -> None:  # noqa: N802
        self.left.emit()
        super().leaveEvent(event)

    # -- view --

    def show_region(self, box: tuple[int, int, int, int] | None, shape: tuple[int, int] | None) -> None:
        """Fit the view to rows r0:r1, columns c0:c1 (or the whole image)."""
        if box is None:
            if shape is None:
                return
            box = (0, shape[0], 0, shape[1])
        r0, r1, c0, c1 = box
        self.view.setRange(QRectF(c0, r0, c1 - c0, r1 - r0), padding=0.0)

    def view_region(self) -> tuple[float, float, float, float]:
        """The visible area as (r0, r1, c0, c1) in image pixels."""
        (x0, x1), (y0, y1) = self.view.viewRange()
        return y0, y1, x0, x1
