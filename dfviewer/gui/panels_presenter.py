"""The image panels as views of the viewer model: layers, titles, linked views, crop box, readout.

Redraws are batched: a change marks panels dirty and the next event-loop turn (or
:meth:`PanelsPresenter.flush`) redraws them once. The histogram dock follows the active panel.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import pyqtgraph as pg
from PyQt6.QtCore import QObject, QTimer

from dfviewer.display.layers import Layer, make_layer, make_overlay
from dfviewer.display.maps import MAPS, OVERLAY_MODES
from dfviewer.display.viewer_state import PANELS, ViewerState
from dfviewer.gui.histogram import WindowingWidget
from dfviewer.gui.image_panel import ImagePanel
from dfviewer.gui.panel_grid import PanelGrid
from dfviewer.imaging.voi_windows import attenuation_presets, map_presets

#: the windowing dock's target for each panel
_HISTOGRAM_TARGET = {"attenuation": "attenuation", "darkfield": "mean", "truth": "mean", "overlay": "overlay",
                     "companion": "companion"}


class PanelsPresenter(QObject):
    """Owns the image panels, their grid and the crop rectangle; draws the model into them.

    Views refit the image whenever the panels change size, until the user pans or zooms; then
    the user's view is kept until Reset View, a double-click or a new image.
    """

    def __init__(self, state: ViewerState, windowing: WindowingWidget, show_readout: Callable[[str], None],
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.windowing = windowing
        self.show_readout = show_readout
        self.layers: dict[str, Layer | None] = {}
        self._dirty: set[str] = set()
        self._syncing = False
        self._crop_was_enabled = False
        self._hist_source: tuple[str, int] | None = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self.flush)
        self.user_view = False  # the user panned or zoomed: resizing keeps their view
        self._user_centre_scale: tuple[float, float, float] | None = None  # that view: centre x, y, scale
        self._refit_timer = QTimer(self)
        self._refit_timer.setSingleShot(True)
        self._refit_timer.setInterval(0)
        self._refit_timer.timeout.connect(self._refit)

        self.panels: dict[str, ImagePanel] = {}
        for key in PANELS:
            info = MAPS[state.panel_map(key)]
            panel = ImagePanel(key, info.label)
            panel.setToolTip(info.tooltip)
            panel.view.sigRangeChanged.connect(lambda view, *_: self.sync_views(view))
            panel.hovered.connect(self._on_hover)
            panel.left.connect(self._on_leave)
            panel.windowDragged.connect(self._on_window_drag)
            panel.activated.connect(state.set_active_panel)
            panel.resetViewRequested.connect(self.reset_view)
            panel.viewEdited.connect(lambda p=panel: self._on_view_edited(p))
            panel.view.sigResized.connect(self._on_view_resized)
            self.panels[key] = panel
        self.grid = PanelGrid([self.panels[key] for key in PANELS if key != "companion"],
                              fillers=[self.panels["companion"]])
        self.grid.set_panel_shown(self.panels["truth"], False)
        self.grid.laidOut.connect(self._on_laid_out)
        self.crop_roi = self._make_crop_roi()
        self.panels["attenuation"].view.addItem(self.crop_roi, ignoreBounds=True)

        state.imageChanged.connect(self._on_image_changed)
        state.resultsChanged.connect(lambda: self.mark("darkfield", "overlay", "companion"))
        state.displayChanged.connect(self._on_display_changed)
        state.windowChanged.connect(self._on_window_changed)
        state.cropChanged.connect(self._on_crop_changed)
        state.activeChanged.connect(self._on_active_changed)
        windowing.windowEdited.connect(lambda key, c, w: state.set_window(key, c, w))
        windowing.presetChosen.connect(lambda key, c, w: state.set_window(key, c, w))
        windowing.resetRequested.connect(state.reset_window)
        windowing.targetChanged.connect(self._on_target_changed)
        windowing.autoToggled.connect(self._on_auto_toggled)
        self._histogram_key = "attenuation"

    def _make_crop_roi(self) -> pg.RectROI:
        roi = pg.RectROI([0, 0], [10, 10], pen=pg.mkPen("#ffc83c", width=2), movable=True, rotatable=False,
                         resizable=True)
        roi.addScaleHandle([0, 0], [1, 1])
        roi.addScaleHandle([1, 0], [0, 1])
        roi.addScaleHandle([0, 1], [1, 0])
        roi.setZValue(20)
        roi.setVisible(False)
        roi.setToolTip("Lung crop box: drag or resize it to adjust the crop")
        roi.sigRegionChangeFinished.connect(self._on_roi_edited)
        return roi

    # ------------------------------------------------------------------ redraw

    def mark(self, *panels: str) -> None:
        """Redraw ``panels`` on the next event-loop turn."""
        self._dirty.update(panels)
        if not self._timer.isActive():
            self._timer.start()

    def flush(self) -> None:
        """Redraw the panels marked dirty now (normally done on the next event-loop turn)."""
        self._timer.stop()
        dirty, self._dirty = self._dirty, set()
        if "companion" in dirty and not self.grid.is_shown(self.panels["companion"]):
            dirty.discard("companion")  # drawn when the grid has room for it
            self._dirty.add("companion")
        for key in PANELS:
            if key in dirty or (key == "overlay" and self._overlay_base_key() in dirty):
                self._redraw(key)
        self._update_titles()
        self.update_histogram()

    def _overlay_base_key(self) -> str | None:
        return {"darkfield": "darkfield", "attenuation": "attenuation"}.get(self.state.overlay_mode)

    def _redraw(self, key: str) -> None:
        s = self.state
        layer: Layer | None = None
        message = ""
        if s.radiograph is None:
            message = "Open a radiograph\n(Ctrl+O, or drop a file here)" if key == "attenuation" else ""
        elif key == "attenuation":
            layer = make_layer("attenuation", s.radiograph.pixels, s.window("attenuation"))
        elif key == "truth":
            if s.truth is not None:
                layer = make_layer("truth", s.truth, s.window("mean"))
        elif not s.results:
            message = "Generating…" if s.progress.running else "No result"
        elif key in ("darkfield", "companion"):
            map_key = "mean" if key == "darkfield" else s.companion_map
            array = s.array(map_key)  # the shown stage always has a result once results exist
            if array is not None:
                layer = make_layer(map_key, array, s.window(map_key))
        else:
            array = s.array(s.overlay_map)
            if array is None:
                message = "Needs a real dark-field\n(<name>_darkfield.tiff beside the file)"
            else:
                base_key = self._overlay_base_key()
                base = self.layers.get(base_key) if base_key else None
                layer = make_overlay(s.overlay_map, array, s.window(s.overlay_map), base, s.opacity)
        self.layers[key] = layer
        panel = self.panels[key]
        panel.set_layer(layer, message)
        if layer is None:
            panel.center_placeholder()

    def _update_titles(self) -> None:
        s = self.state
        p = s.progress
        samples = ""
        if s.results:
            if p.preview:
                samples = "quick preview (no epistemic)"
            elif p.done < p.total:
                samples = f"MC {p.done}/{p.total}" + (" (cancelled)" if not p.running else "")
            else:
                samples = f"{p.total} MC samples"
        self.panels["attenuation"].set_title(MAPS["attenuation"].label, s.path.name if s.path is not None else "")
        self.panels["darkfield"].set_title(f"Generated dark-field · stage {s.stage}", samples)
        info = MAPS[s.overlay_map]
        mode = ("" if s.overlay_mode == "alone"
                else f"over {OVERLAY_MODES[s.overlay_mode].split()[-1]} · {int(s.opacity * 100)}%")
        self.panels["overlay"].set_title(f"{info.label} · stage {s.stage}", mode, info.tooltip)
        self.panels["truth"].set_title(MAPS["truth"].label, s.truth_path.name if s.truth_path else "")
        second = MAPS[s.companion_map]
        note = "none in the quick preview" if s.companion_map == "epistemic" and s.results and p.preview else ""
        self.panels["companion"].set_title(f"{second.label} · stage {s.stage}", note, second.tooltip)

    # ------------------------------------------------------------------ histogram

    def update_histogram(self) -> None:
        """Show the histogram, presets and window of the map the windowing dock acts on."""
        s = self.state
        key = self._histogram_key
        array = s.array(key) if s.has_image else None
        window = s.window(key) if s.has_image else (0.5, 1.0)
        source = (key, id(array))
        if source != self._hist_source:
            presets = []
            if array is not None:
                presets = (attenuation_presets(array, getattr(s.radiograph, "window_presets", ()))
                           if key == "attenuation" else map_presets(array))
            self.windowing.show_data(key, array, window, presets)
            self._hist_source = source
        else:
            self.windowing.set_window(window)
        self.windowing.set_auto(key in s.auto_windows, enabled=key != "attenuation")

    def _on_active_changed(self) -> None:
        self._histogram_key = self.state.active_map
        self.windowing.set_target(_HISTOGRAM_TARGET[self.state.active_panel])
        self.update_histogram()

    def _on_target_changed(self, target: str) -> None:
        self._histogram_key = self._target_map(target)
        self.update_histogram()

    def _target_map(self, target: str) -> str:
        """The map a windowing-dock target edits now."""
        return {"overlay": self.state.overlay_map, "companion": self.state.companion_map}.get(target, target)

    def _on_auto_toggled(self, key: str, auto: bool) -> None:
        if auto:
            self.state.reset_window(key)
        else:
            self.state.set_window(key, *self.state.window(key))

    @property
    def histogram_key(self) -> str:
        """The map whose window the histogram dock edits (and the W key resets)."""
        return self._histogram_key

    # ------------------------------------------------------------------ model reactions

    def _on_image_changed(self) -> None:
        s = self.state
        self.grid.set_panel_shown(self.panels["truth"], s.truth is not None)
        self.grid.set_image_shape(s.shape)
        self.layers.clear()
        self._hist_source = None
        QTimer.singleShot(0, self.reset_view)
        self.mark(*PANELS)
        self.flush()

    def _on_display_changed(self) -> None:
        self.mark("darkfield", "overlay", "truth", "companion")  # the truth shares the stage's dark-field window
        if self._histogram_key not in ("attenuation", "mean"):
            self._histogram_key = self._target_map(self.windowing.target.currentData() or "overlay")

    def _on_window_changed(self, key: str) -> None:
        if key == "attenuation":
            self.mark("attenuation")
        elif key == "mean":
            self.mark("darkfield", "truth")
        else:
            if key == self.state.overlay_map:
                self.mark("overlay")
            if key == self.state.companion_map:
                self.mark("companion")

    def _on_crop_changed(self) -> None:
        s = self.state
        box = s.crop_box
        self.crop_roi.setVisible(s.crop_enabled and box is not None)
        if box is not None:
            r0, r1, c0, c1 = box
            self.crop_roi.blockSignals(True)
            self.crop_roi.setPos((c0, r0), finish=False)
            self.crop_roi.setSize((c1 - c0, r1 - r0), finish=False)
            self.crop_roi.blockSignals(False)
        if s.crop_enabled or self._crop_was_enabled:
            self.reset_view()
        self._crop_was_enabled = s.crop_enabled

    def _on_roi_edited(self) -> None:
        pos, size = self.crop_roi.pos(), self.crop_roi.size()
        self.state.set_crop_box((pos.y(), pos.y() + size.y(), pos.x(), pos.x() + size.x()), True, manual=True)

    # ------------------------------------------------------------------ mouse

    def _on_hover(self, row: int, col: int) -> None:
        readout = self.state.readout(row, col)
        if readout is None:
            self._on_leave()
            return
        self.show_readout(readout.text())
        for panel in self.panels.values():
            panel.set_crosshair(row, col)

    def _on_leave(self) -> None:
        for panel in self.panels.values():
            panel.set_crosshair(None, None)

    def _on_window_drag(self, panel_key: str, dx: float, dy: float, start: bool) -> None:
        s = self.state
        key = s.panel_map(panel_key)
        if not s.has_image or s.array(key) is None:
            return
        s.set_active_panel(panel_key)
        centre, width = s.window(key)
        width = width * math.exp(dx / 150.0)
        centre = centre - dy * width / 200.0
        s.set_window(key, centre, width)

    # ------------------------------------------------------------------ linked views

    def reset_view(self) -> None:
        """Fit the crop box (when cropping) or the whole image in every (linked) panel; resizing refits again."""
        s = self.state
        self.user_view = False
        if s.shape is None:
            return
        region = s.active_crop or (0, s.shape[0], 0, s.shape[1])
        for panel in self.panels.values():
            panel.region = tuple(float(v) for v in region)  # type: ignore[assignment]
        self.panels["attenuation"].show_region(region, s.shape)
        self.sync_views(self.panels["attenuation"].view)
        for panel in self.panels.values():
            panel.place_colorbar()

    def _on_view_edited(self, panel: ImagePanel) -> None:
        self.user_view = True
        (x0, x1), (y0, y1) = panel.view.viewRange()
        if panel.view.width() > 0:
            self._user_centre_scale = ((x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / panel.view.width())

    def _on_view_resized(self, *_) -> None:
        if self.state.has_image:
            self._refit_timer.start()

    def _refit(self) -> None:
        """After a resize: fit again, or keep the user's centre and zoom."""
        if not self.user_view or self._user_centre_scale is None:
            self.reset_view()
            return
        cx, cy, scale = self._user_centre_scale
        view = self.panels["attenuation"].view
        half_w, half_h = view.width() * scale / 2, view.height() * scale / 2
        if half_w > 0 and half_h > 0:
            view.setRange(xRange=(cx - half_w, cx + half_w), yRange=(cy - half_h, cy + half_h), padding=0)
            self.sync_views(view)
        for panel in self.panels.values():
            panel.place_colorbar()

    def _on_laid_out(self) -> None:
        if self.grid.is_shown(self.panels["companion"]) and "companion" in self._dirty:
            self.mark("companion")
        self._on_view_resized()

    def sync_views(self, source) -> None:
        """Linked pan and zoom: every panel shows the same centre at the same pixel scale."""
        if self._syncing:
            return
        # A hidden panel (the real dark-field when there is none) keeps its own default range and
        # may report it when it is laid out or painted; it must never drive the shown panels.
        if not any(p.view is source and self.grid.is_shown(p) for p in self.panels.values()):
            return
        width_px = source.width()
        (x0, x1), (y0, y1) = source.viewRange()
        if width_px <= 0 or x1 <= x0:
            return
        scale = (x1 - x0) / width_px  # image pixels per screen pixel
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        self._syncing = True
        try:
            for panel in self.panels.values():
                view = panel.view
                if view is source or not self.grid.is_shown(panel):
                    continue
                half_w, half_h = view.width() * scale / 2, view.height() * scale / 2
                if half_w <= 0 or half_h <= 0:
                    continue
                view.setRange(xRange=(cx - half_w, cx + half_w), yRange=(cy - half_h, cy + half_h), padding=0)
        finally:
            self._syncing = False
