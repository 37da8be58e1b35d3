"""One image panel: a pyqtgraph view of a :class:`~dfviewer.display.layers.Layer` plus its colorbar.

Left-drag pans, the wheel zooms, right-drag changes the window (horizontal: width,
vertical: centre), double-click resets the view. The panel reports the pixel under the cursor,
window drags and the user's own pans and zooms as signals; it holds no state beyond what it
draws. Its colorbar stands right beside the displayed image, wherever the view puts it.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QPointF, QRectF, Qt, pyqtSignal
from PyQt6.QtGui import QColor, QFont, QImage, QPainter, QPen
from PyQt6.QtWidgets import QFrame, QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget
from superqt import QElidingLabel

from dfviewer.display.layers import Layer, colorize
from dfviewer.imaging.voi_windows import window_limits

pg.setConfigOptions(imageAxisOrder="row-major", antialias=False)

BACKGROUND = "#101014"


#: gap between the image and its colorbar, and the smallest colorbar height (pixels)
COLORBAR_GAP, COLORBAR_MIN_H = 2, 90


def _short(value: float) -> str:
    """At most about 7 characters: the colorbar is narrow."""
    if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
        return f"{value:.2g}"
    if abs(value) >= 1000:
        return f"{value:.0f}"
    return f"{value:.4g}" if abs(value) >= 1 else f"{value:.3g}"


class ColorBar(QWidget):
    """A vertical colour scale with the window's limits, middle value and units."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFixedWidth(64)
        self._image: QImage | None = None
        self._labels: tuple[str, str, str] = ("", "", "")
        self._units = ""
        self._colormap = ""
        self._window = (0.0, 0.0)

    def set_scale(self, colormap: str, window: tuple[float, float], units: str) -> None:
        pair = (window[0], window[1])
        if (colormap, pair, units) == (self._colormap, self._window, self._units):
            return
        self._colormap, self._window, self._units = colormap, pair, units
        low, high = window_limits(window)
        ramp = np.linspace(high, low, 256, dtype=np.float32)[:, None].repeat(2, axis=1)
        rgba = np.ascontiguousarray(colorize(ramp, colormap, window))
        self._rgba = rgba  # keep the buffer alive for QImage
        # PyQt6 reads any buffer here; its stubs accept only bytes
        self._image = QImage(rgba.data, rgba.shape[1], rgba.shape[0], rgba.strides[0],  # type: ignore[call-overload]
                             QImage.Format.Format_RGBA8888)
        self._labels = (_short(high), _short((low + high) / 2), _short(low))
        self.update()

    def clear(self) -> None:
        self._image = None
        self._colormap = ""
        self.update()

    def has_scale(self) -> bool:
        return self._image is not None

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
        self._panel.viewEdited.emit()

    def wheelEvent(self, ev, axis=None):  # noqa: N802 - pyqtgraph name
        super().wheelEvent(ev, axis)
        self._panel.viewEdited.emit()

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
    viewEdited = pyqtSignal()  # the user panned or zoomed this view

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
        self.subtitle.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Preferred)  # width: _fit_header
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
        # not in a layout: placed beside the image by place_colorbar whenever the view changes
        self.colorbar = ColorBar(self)
        self.colorbar.setVisible(False)
        self.region: tuple[float, float, float, float] | None = None  # what the last fit showed
        self._full_title = title

        header = QHBoxLayout()
        header.setContentsMargins(0, 0, 0, 0)
        header.setSpacing(0)
        header.addWidget(self.title, 1)
        header.addWidget(self.subtitle, 0)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(1, 1, 1, 1)
        layout.setSpacing(0)
        layout.addLayout(header)
        layout.addWidget(self.graphics, 1)

        self.graphics.scene().sigMouseMoved.connect(self._mouse_moved)
        self.graphics.setMouseTracking(True)
        self.view.sigRangeChanged.connect(lambda *_: self.place_colorbar())
        self.view.sigResized.connect(lambda *_: self.place_colorbar())

    # -- content --

    def set_layer(self, layer: Layer | None, placeholder: str = "") -> None:
        """Draw ``layer`` (None: empty panel with an optional placeholder message)."""
        self.layer = layer
        if layer is None:
            self.image_item.clear()
            self.colorbar.clear()
            self.colorbar.setVisible(False)
            self.placeholder.setText(placeholder)
            self.placeholder.setVisible(bool(placeholder))
            return
        self.placeholder.setVisible(False)
        self.image_item.setImage(layer.rgba, autoLevels=False, levels=(0, 255))
        self.colorbar.set_scale(layer.colormap, layer.window, layer.units)
        self.place_colorbar()

    def set_title(self, title: str, subtitle: str = "", tooltip: str = "") -> None:
        """Title and subtitle, elided to the panel's width; the full text is the title's tooltip."""
        self._full_title = f"{title} — {subtitle}" if subtitle else title
        if (title, subtitle) != (self.title.text(), self.subtitle.text()):
            self.title.setText(title)
            self.subtitle.setText(subtitle)
            self._fit_header()
        self.title.setToolTip(self._full_title)
        self.subtitle.setToolTip(self._full_title)
        if tooltip:
            self.setToolTip(tooltip)

    def _fit_header(self) -> None:
        """The title gets the room it needs first; the subtitle keeps at least a third of the width."""
        width = max(self.width() - 2, 1)
        pad = 10  # the labels' horizontal padding
        title_w = self.title.fontMetrics().horizontalAdvance(self.title.text()) + pad
        sub_w = self.subtitle.fontMetrics().horizontalAdvance(self.subtitle.text()) + pad if self.subtitle.text() else 0
        if title_w + sub_w > width:
            sub_w = max(min(sub_w, width - title_w), min(sub_w, width // 3))
        self.subtitle.setFixedWidth(max(sub_w, 0))

    def chrome_size(self) -> tuple[int, int]:
        """Room the panel needs besides its image: colorbar beside it, title above (pixels)."""
        frame = self.frameWidth() + 1
        return self.colorbar.width() + COLORBAR_GAP + 2 * frame, self.title.sizeHint().height() + 2 * frame

    def center_placeholder(self) -> None:
        self.placeholder.setGeometry(self.graphics.rect())

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        self.center_placeholder()
        self._fit_header()
        self.place_colorbar()

    def displayed_rgba(self) -> np.ndarray | None:
        """The pixels the image item holds (what is drawn)."""
        return None if self.image_item.image is None else np.asarray(self.image_item.image)

    # -- crosshair --

    def set_crosshair(self, row: int | None, col: int | None) -> None:
        visible = row is not None and col is not None
        self.vline.setVisible(visible)
        self.hline.setVisible(visible)
        if row is not None and col is not None:
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
        """Fit rows r0:r1, columns c0:c1 (or the whole image) as large as the view allows.

        The region and its colorbar are centred together, so the colorbar stands beside the image.
        """
        if box is None:
            if shape is None:
                return
            box = (0, shape[0], 0, shape[1])
        r0, r1, c0, c1 = (float(v) for v in box)
        self.region = (r0, r1, c0, c1)
        width, height = self.view.width(), self.view.height()
        bar = self.colorbar.width() + COLORBAR_GAP
        if width <= bar or height <= 0 or r1 <= r0 or c1 <= c0:
            self.view.setRange(QRectF(c0, r0, c1 - c0, r1 - r0), padding=0.0)
            return
        scale = min((width - bar) / (c1 - c0), height / (r1 - r0))  # screen pixels per image pixel
        left = (width - (c1 - c0) * scale - bar) / 2
        top = (height - (r1 - r0) * scale) / 2
        x0, y0 = c0 - left / scale, r0 - top / scale
        self.view.setRange(xRange=(x0, x0 + width / scale), yRange=(y0, y0 + height / scale), padding=0.0)

    def region_rect(self) -> QRectF | None:
        """The fitted region (the crop box, else the image) in graphics-view pixels, unclipped."""
        image = self.image_item.image
        if self.region is None and image is None:
            return None
        r0, r1, c0, c1 = self.region or (0, image.shape[0], 0, image.shape[1])
        return self._to_pixels(r0, r1, c0, c1)

    def _to_pixels(self, r0: float, r1: float, c0: float, c1: float) -> QRectF:
        """Image rows r0:r1, columns c0:c1 as a rectangle of graphics-view pixels."""
        top_left = self.view.mapViewToDevice(QPointF(c0, r0))
        bottom_right = self.view.mapViewToDevice(QPointF(c1, r1))
        if top_left is None or bottom_right is None:  # not laid out yet
            return QRectF()
        return QRectF(top_left, bottom_right).normalized()

    def displayed_image_rect(self) -> QRectF:
        """The part of the view that shows image pixels, in graphics-view pixels (empty without an image)."""
        image = self.image_item.image
        if image is None:
            return QRectF()
        h, w = image.shape[:2]
        return self._to_pixels(0, h, 0, w).intersected(QRectF(self.graphics.rect()))

    def place_colorbar(self) -> None:
        """Put the colorbar right beside the shown region, as tall as it, inside the view."""
        rect = self.region_rect() if self.layer is not None and self.colorbar.has_scale() else None
        if rect is None or rect.isEmpty():
            self.colorbar.setVisible(False)
            return
        view = QRectF(self.graphics.rect())
        bar_w = self.colorbar.width()
        x = min(max(rect.right() + COLORBAR_GAP, view.left()), view.right() - bar_w)
        top, bottom = max(rect.top(), view.top()), min(rect.bottom(), view.bottom())
        if bottom - top < COLORBAR_MIN_H:
            middle = (top + bottom) / 2
            top = max(view.top(), middle - COLORBAR_MIN_H / 2)
            bottom = min(view.bottom(), top + COLORBAR_MIN_H)
        origin = self.graphics.geometry().topLeft()
        self.colorbar.setGeometry(origin.x() + round(x), origin.y() + round(top), bar_w, max(round(bottom - top), 1))
        self.colorbar.setVisible(True)
        self.colorbar.raise_()

    def view_region(self) -> tuple[float, float, float, float]:
        """The visible area as (r0, r1, c0, c1) in image pixels."""
        (x0, x1), (y0, y1) = self.view.viewRange()
        return y0, y1, x0, x1
