"""Arrange the visible panels in the grid (columns x rows) that shows the image largest."""

from __future__ import annotations

from PyQt6.QtWidgets import QGridLayout, QWidget

#: room a panel needs besides the image: colorbar width, title height (pixels)
PANEL_EXTRA_W, PANEL_EXTRA_H = 72, 24


def best_columns(n: int, width: int, height: int, image_shape: tuple[int, int] | None) -> int:
    """The column count that maximises the displayed image size of ``n`` panels in width x height.

    Only full grids are considered (the column count divides ``n``): three panels stand in one
    row or one column, never in a 2 x 2 grid with an empty quadrant.
    """
    if n <= 1:
        return 1
    ih, iw = image_shape or (1, 1)
    best, best_scale = n, -1.0
    for columns in (c for c in range(1, n + 1) if n % c == 0):
        rows = n // columns
        cell_w = width / columns - PANEL_EXTRA_W
        cell_h = height / rows - PANEL_EXTRA_H
        scale = min(cell_w / iw, cell_h / ih)
        if scale > best_scale * 1.02:  # prefer fewer rows on near ties (wider is the reading order)
            best, best_scale = columns, scale
    return best


class PanelGrid(QWidget):
    """Holds the image panels; re-arranges them when the size, the image or the visible set changes."""

    def __init__(self, panels: list[QWidget], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.panels = panels
        self.image_shape: tuple[int, int] | None = None
        self.shown = {id(p): True for p in panels}
        self.columns = 0
        self._layout = QGridLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(3)
        self.relayout(force=True)

    def visible_panels(self) -> list[QWidget]:
        return [p for p in self.panels if self.shown[id(p)]]

    def set_panel_shown(self, panel: QWidget, shown: bool) -> None:
        """Show or hide one panel (use this, not ``setVisible``, so the grid re-arranges)."""
        self.shown[id(panel)] = bool(shown)
        panel.setVisible(bool(shown))
        self.relayout(force=True)

    def set_image_shape(self, shape: tuple[int, int] | None) -> None:
        self.image_shape = shape
        self.relayout(force=True)

    def relayout(self, force: bool = False) -> None:
        visible = self.visible_panels()
        columns = best_columns(len(visible), max(self.width(), 1), max(self.height(), 1), self.image_shape)
        if columns == self.columns and not force:
            return
        self.columns = columns
        for panel in self.panels:
            self._layout.removeWidget(panel)
        for i in range(self._layout.columnCount()):
            self._layout.setColumnStretch(i, 0)
        for i in range(self._layout.rowCount()):
            self._layout.setRowStretch(i, 0)
        for index, panel in enumerate(visible):
            row, col = divmod(index, columns)
            self._layout.addWidget(panel, row, col)
            self._layout.setColumnStretch(col, 1)
            self._layout.setRowStretch(row, 1)

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        self.relayout()
