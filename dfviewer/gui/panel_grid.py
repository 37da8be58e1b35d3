"""Arrange the visible panels in the grid (columns x rows) that shows the image largest."""

from __future__ import annotations

import math

from PyQt6.QtCore import pyqtSignal
from PyQt6.QtWidgets import QGridLayout, QWidget

#: room a panel needs besides the image when it cannot say: colorbar width, title height (pixels)
PANEL_EXTRA_W, PANEL_EXTRA_H = 60, 24
SPACING = 3


def image_scale(columns: int, rows: int, width: int, height: int, image_shape: tuple[int, int] | None,
                extra: tuple[int, int] = (PANEL_EXTRA_W, PANEL_EXTRA_H)) -> float:
    """Screen pixels per image pixel when the image fits one cell of a columns x rows grid."""
    ih, iw = image_shape or (1, 1)
    cell_w = (width - SPACING * (columns - 1)) / columns - extra[0]
    cell_h = (height - SPACING * (rows - 1)) / rows - extra[1]
    return max(min(cell_w / iw, cell_h / ih), 0.0)


def best_grid(n: int, fillers: int, width: int, height: int, image_shape: tuple[int, int] | None,
              extra: tuple[int, int] = (PANEL_EXTRA_W, PANEL_EXTRA_H)) -> tuple[int, int]:
    """(columns, fillers used) that show ``n`` panels' image largest in width x height.

    A grid may have more cells than panels when up to ``fillers`` optional panels fill them (three
    panels and one filler make a 2 x 2 grid); a cell left empty, or an empty row, never wins.
    Near ties (2 %) go to fewer rows: wider is the reading order.
    """
    if n <= 0:
        return 1, 0
    best, best_scale = (n, 0), -1.0
    for columns in range(n + fillers, 0, -1):  # widest first: a taller grid must win by more than 2 %
        rows = math.ceil(n / columns)
        spare = rows * columns - n
        if spare > fillers:
            continue
        scale = image_scale(columns, rows, width, height, image_shape, extra)
        if scale > best_scale * 1.02:
            best, best_scale = (columns, spare), scale
    return best


class PanelGrid(QWidget):
    """Holds the image panels; re-arranges them when the size, the image or the visible set changes.

    ``fillers`` are optional panels (the companion map) shown only in cells the grid would
    otherwise leave empty.
    """

    laidOut = pyqtSignal()  # the arrangement (or the set of panels shown) changed

    def __init__(self, panels: list[QWidget], fillers: list[QWidget] | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.panels = list(panels)
        self.fillers = list(fillers or [])
        self.image_shape: tuple[int, int] | None = None
        self.shown = {id(p): True for p in self.panels}
        self.fillers_used = 0
        self.columns = 0
        self.rows = 0
        self._layout = QGridLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(SPACING)
        for panel in self.panels + self.fillers:
            panel.setParent(self)  # before any is shown: a parentless widget shown becomes a window of its own
        for filler in self.fillers:
            filler.setVisible(False)
        self.relayout(force=True)

    def visible_panels(self) -> list[QWidget]:
        """The panels shown now, in grid order (fillers last)."""
        return [p for p in self.panels if self.shown[id(p)]] + self.fillers[:self.fillers_used]

    def is_shown(self, panel: QWidget) -> bool:
        return any(p is panel for p in self.visible_panels())

    def set_panel_shown(self, panel: QWidget, shown: bool) -> None:
        """Show or hide one panel (use this, not ``setVisible``, so the grid re-arranges)."""
        self.shown[id(panel)] = bool(shown)
        panel.setVisible(bool(shown))
        self.relayout(force=True)

    def set_image_shape(self, shape: tuple[int, int] | None) -> None:
        self.image_shape = shape
        self.relayout(force=True)

    def _extra(self) -> tuple[int, int]:
        """What a panel needs besides its image (asked from the first panel that can tell)."""
        for panel in self.panels:
            chrome = getattr(panel, "chrome_size", None)
            if chrome is not None:
                return chrome()
        return PANEL_EXTRA_W, PANEL_EXTRA_H

    def relayout(self, force: bool = False) -> None:
        required = [p for p in self.panels if self.shown[id(p)]]
        fillers = len(self.fillers) if self.image_shape is not None else 0
        columns, used = best_grid(len(required), fillers, max(self.width(), 1), max(self.height(), 1),
                                  self.image_shape, self._extra())
        if (columns, used) == (self.columns, self.fillers_used) and not force:
            return
        self.columns, self.fillers_used = columns, used
        for panel in self.panels + self.fillers:
            self._layout.removeWidget(panel)
        for i in range(self._layout.columnCount()):
            self._layout.setColumnStretch(i, 0)
        for i in range(self._layout.rowCount()):
            self._layout.setRowStretch(i, 0)
        for i, filler in enumerate(self.fillers):
            filler.setVisible(i < used)
        visible = self.visible_panels()
        self.rows = math.ceil(len(visible) / columns) if visible else 0
        for index, panel in enumerate(visible):
            row, col = divmod(index, columns)
            self._layout.addWidget(panel, row, col)
            self._layout.setColumnStretch(col, 1)
            self._layout.setRowStretch(row, 1)
        self.laidOut.emit()

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        self.relayout()
