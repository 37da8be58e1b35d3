"""Small images for the wizard: numpy arrays to QPixmaps through the project's colormaps."""

from __future__ import annotations

import numpy as np
from PyQt6.QtCore import Qt
from PyQt6.QtGui import QImage, QPixmap
from PyQt6.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget

from dfviewer.imaging.colormaps import apply_colormap
from dfviewer.imaging.voi_windows import Window, percentile_window


def to_pixmap(array: np.ndarray, colormap: str = "gray", window: Window | None = None,
              size: int = 128) -> QPixmap:
    """A pixmap of a 2-D array through ``window`` (default: 1-99 % percentiles), at most ``size`` px."""
    arr = np.asarray(array, dtype=np.float32)
    step = max(1, int(max(arr.shape) // (2 * size)))
    arr = arr[::step, ::step]
    window = window if window is not None else percentile_window(arr, 1.0, 99.0)
    rgb = np.ascontiguousarray(apply_colormap(arr, colormap, window))
    h, w = rgb.shape[:2]
    # PyQt6 reads any buffer here; its stubs accept only bytes
    image = QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()  # type: ignore[call-overload]
    return QPixmap.fromImage(image).scaled(size, size, Qt.AspectRatioMode.KeepAspectRatio,
                                           Qt.TransformationMode.SmoothTransformation)


class ImageTile(QWidget):
    """A fixed-size image with a caption beneath."""

    def __init__(self, caption: str, size: int = 128, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.size_px = size
        self.image = QLabel()
        self.image.setFixedSize(size, size)
        self.image.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.image.setStyleSheet("background: #1e1e22; border: 1px solid #3a3a40;")
        self.default_caption = caption
        self.caption = QLabel(caption)
        self.caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.caption.setStyleSheet("color: #a0a0a8; font-size: 11px;")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.setSpacing(2)
        layout.addWidget(self.image)
        layout.addWidget(self.caption)
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.setFixedSize(size + 8, size + 34)

    def show_array(self, array: np.ndarray, colormap: str = "gray", window: Window | None = None,
                   caption: str | None = None) -> None:
        self.image.setPixmap(to_pixmap(array, colormap, window, self.size_px))
        if caption is not None:
            self.caption.setText(caption)

    def clear(self) -> None:
        self.image.clear()
        self.image.setPixmap(QPixmap())
        self.caption.setText(self.default_caption)
