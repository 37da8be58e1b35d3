"""Small images for the wizard: numpy arrays to QPixmaps through the project's colormaps."""

from __future__ import annotations

import numpy as np
from PyQt6.QtCore import Qt
from PyQt6.QtGui import QImage, QPixmap
from PyQt6.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget

from dfviewer.io.colormaps import apply_colormap


def percentile_window(array: np.ndarray, low: float = 1.0, high: float = 99.0) -> tuple[float, float]:
    """(low, high) values for display: robust percentiles of the finite pixels."""
    finite = np.asarray(array, dtype=np.float32)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        return 0.0, 1.0
    lo, hi = (float(v) for v in np.percentile(finite, [low, high]))
    return (lo, hi) if hi > lo else (lo, lo + 1e-6)


def to_pixmap(array: np.ndarray, colormap: str = "gray", limits: tuple[float, float] | None = None,
              size: int = 128) -> QPixmap:
    """A pixmap of a 2-D array, windowed to ``limits`` (default: 1-99 % percentiles), at most ``size`` px."""
    arr = np.asarray(array, dtype=np.float32)
    step = max(1, int(max(arr.shape) // (2 * size)))
    arr = arr[::step, ::step]
    lo, hi = limits if limits is not None else percentile_window(arr)
    rgb = np.ascontiguousarray(apply_colormap(arr, colormap, ((lo + hi) / 2, hi - lo)))
    h, w = rgb.shape[:2]
    image = QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
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

    def show_array(self, array: np.ndarray, colormap: str = "gray", limits: tuple[float, float] | None = None,
                   caption: str | None = None) -> None:
        self.image.setPixmap(to_pixmap(array, colormap, limits, self.size_px))
        if caption is not None:
            self.caption.setText(caption)

    def clear(self) -> None:
        self.image.clear()
        self.image.setPixmap(QPixmap())
        self.caption.setText(self.default_caption)
