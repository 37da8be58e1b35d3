"""The viewer's state, separate from any widget: views subscribe to its signals.

Holds the open radiograph (and a real dark-field when one was found beside it), the cached
results of every stage, the selected stage and overlay map, the overlay mode and opacity,
one window per map, and the lung crop. It owns no widgets; the panels redraw on its signals.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PyQt6.QtCore import QObject, pyqtSignal

from dfviewer.gui.maps import MAPS, OVERLAY_MAPS, OVERLAY_MODES, Window, format_value, percentile_window

Box = tuple[int, int, int, int]  # rows r0:r1, columns c0:c1 (half-open)


@dataclass
class Progress:
    done: int = 0
    total: int = 0
    preview: bool = True
    running: bool = False


@dataclass
class Readout:
    row: int
    col: int
    values: list[tuple[str, float, str]] = field(default_factory=list)  # (map key, value, units)

    def text(self) -> str:
        parts = [f"x {self.col}  y {self.row}"]
        for key, value, units in self.values:
            unit = f" {units}" if units else ""
            parts.append(f"{MAPS[key].symbol} {format_value(value)}{unit}")
        return "   ".join(parts)


class ViewerState(QObject):
    """Qt-signalling model of what the viewer shows."""

    imageChanged = pyqtSignal()  # a new radiograph (results cleared)
    resultsChanged = pyqtSignal()  # new or updated stage results
    displayChanged = pyqtSignal()  # stage, overlay map, mode or opacity
    windowChanged = pyqtSignal(str)  # the map key whose window changed
    cropChanged = pyqtSignal()
    progressChanged = pyqtSignal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.radiograph: Any = None
        self.path: Path | None = None
        self.truth: np.ndarray | None = None
        self.truth_path: Path | None = None
        self.results: list[Any] | None = None  # list[StageResult]
        self.progress = Progress()
        self.stage = 1
        self.overlay_map = "aleatoric"
        self.overlay_mode = "alone"
        self.opacity = 0.6
        self.windows: dict[str, Window] = {}
        self.auto_windows: set[str] = set()
        self.crop_enabled = False
        self.crop_box: Box | None = None
        self.crop_found = True  # False when the lung finder fell back to the whole image

    # -- image and results --

    @property
    def has_image(self) -> bool:
        return self.radiograph is not None

    @property
    def shape(self) -> tuple[int, int] | None:
        return None if self.radiograph is None else tuple(self.radiograph.pixels.shape)

    def set_image(self, radiograph: Any, path: str | Path | None = None, truth: np.ndarray | None = None,
                  truth_path: str | Path | None = None) -> None:
        """Show a new radiograph; clears the results and resets the windows and the crop box."""
        self.radiograph = radiograph
        self.path = Path(path) if path is not None else None
        if truth is not None and truth.shape != radiograph.pixels.shape:
            truth = None
        self.truth = truth
        self.truth_path = Path(truth_path) if truth is not None and truth_path else None
        self.results = None
        self.progress = Progress()
        self.windows = {"attenuation": tuple(float(v) for v in radiograph.window)}
        self.auto_windows = {key for key in MAPS if key != "attenuation"}
        self.crop_box = None
        if self.stage > self.n_stages_hint:
            self.stage = 1
        if self.truth is not None:
            self._auto("mean")
        self.imageChanged.emit()

    @property
    def n_stages_hint(self) -> int:
        return len(self.results) if self.results else 3

    def set_results(self, stages: list[Any], done: int, total: int, preview: bool) -> None:
        """Cache new results of every stage (preview or running MC estimate)."""
        first = self.results is None
        self.results = list(stages)
        self.progress = Progress(done, total, preview, self.progress.running)
        if self.stage > len(self.results):
            self.stage = len(self.results)
        # running MC updates mostly change the epistemic spread; the other ranges are refreshed
        # with the preview and the final estimate only (keeps the interface smooth on big images)
        changing = {"epistemic", "total"} if not (first or preview or done >= total) else None
        for key in list(self.auto_windows):
            if changing is None or key in changing:
                self._auto(key)
        self.resultsChanged.emit()
        self.progressChanged.emit()

    def set_running(self, running: bool) -> None:
        self.progress.running = running
        self.progressChanged.emit()

    def stage_result(self, stage: int | None = None) -> Any:
        if not self.results:
            return None
        stage = self.stage if stage is None else stage
        for result in self.results:
            if result.stage == stage:
                return result
        return None

    def available(self, key: str) -> bool:
        """Whether ``key``'s array exists now."""
        return self.array(key) is not None

    def array(self, key: str, stage: int | None = None) -> np.ndarray | None:
        """The float array of map ``key`` for the selected (or given) stage, or None."""
        if self.radiograph is None:
            return None
        if key == "attenuation":
            return self.radiograph.pixels
        if key == "truth":
            return self.truth
        result = self.stage_result(stage)
        if result is None:
            return None
        if key == "error":
            if self.truth is None:
                return None
            return np.abs(result.mean - self.truth).astype(np.float32)
        return getattr(result, key)

    # -- display selection --

    def set_stage(self, stage: int) -> None:
        n = len(self.results) if self.results else 3
        stage = int(stage)
        if 1 <= stage <= n and stage != self.stage:
            self.stage = stage
            self.displayChanged.emit()

    def set_overlay_map(self, key: str) -> None:
        if key not in OVERLAY_MAPS:
            raise ValueError(f"unknown overlay map {key!r}")
        if key != self.overlay_map:
            self.overlay_map = key
            self.displayChanged.emit()

    def set_overlay_mode(self, mode: str) -> None:
        if mode not in OVERLAY_MODES:
            raise ValueError(f"unknown overlay mode {mode!r}")
        if mode != self.overlay_mode:
            self.overlay_mode = mode
            self.displayChanged.emit()

    def set_opacity(self, opacity: float) -> None:
        opacity = float(np.clip(opacity, 0.0, 1.0))
        if opacity != self.opacity:
            self.opacity = opacity
            self.displayChanged.emit()

    # -- windows --

    def window(self, key: str) -> Window:
        """The window of map ``key`` (the generated and real dark-field share one)."""
        key = "mean" if key == "truth" else key
        if key not in self.windows:
            self._auto(key)
        return self.windows.get(key, (0.5, 1.0))

    def set_window(self, key: str, centre: float, width: float) -> None:
        """A fixed window for ``key`` (its automatic range is switched off)."""
        key = "mean" if key == "truth" else key
        width = float(width)
        if not width > 0:
            width = 1e-6
        self.windows[key] = (float(centre), width)
        self.auto_windows.discard(key)
        self.windowChanged.emit(key)

    def reset_window(self, key: str) -> None:
        """Back to the default: the file's window for the input, the automatic range otherwise."""
        key = "mean" if key == "truth" else key
        if key == "attenuation" and self.radiograph is not None:
            self.windows[key] = tuple(float(v) for v in self.radiograph.window)
        else:
            self.auto_windows.add(key)
            self._auto(key)
        self.windowChanged.emit(key)

    def _auto(self, key: str) -> None:
        """Automatic range of ``key``: percentiles over all stages, so stages compare directly."""
        if self.radiograph is None:
            return
        if key == "attenuation":
            self.windows[key] = percentile_window(self.radiograph.pixels)
            return
        arrays = []
        stages = [r.stage for r in self.results] if self.results else []
        for stage in stages:
            value = self.array(key, stage)
            if value is not None:
                arrays.append(value)
        if key == "mean" and self.truth is not None:
            arrays.append(self.truth)
        if not arrays:
            return
        if key in ("mean", "beta"):
            self.windows[key] = percentile_window(arrays, 0.5, 99.5)
        else:  # uncertainties and errors: from zero, so "dark" means "certain"
            high = percentile_window(arrays, 0.0, 99.5)
            top = high[0] + high[1] / 2
            self.windows[key] = (top / 2, top) if top > 0 else (0.5e-6, 1e-6)

    # -- crop --

    def set_crop_box(self, box: Box | None, found: bool = True) -> None:
        """The lung box (clipped to the image); None clears it."""
        if box is not None and self.shape is not None:
            h, w = self.shape
            r0, r1, c0, c1 = (int(round(v)) for v in box)
            r0, r1 = sorted((min(max(r0, 0), h), min(max(r1, 0), h)))
            c0, c1 = sorted((min(max(c0, 0), w), min(max(c1, 0), w)))
            box = (r0, max(r1, r0 + 1), c0, max(c1, c0 + 1))
        self.crop_box = box
        self.crop_found = found
        self.cropChanged.emit()

    def set_crop_enabled(self, enabled: bool) -> None:
        if bool(enabled) != self.crop_enabled:
            self.crop_enabled = bool(enabled)
            self.cropChanged.emit()

    @property
    def active_crop(self) -> Box | None:
        """The box that applies now (None when cropping is off)."""
        return self.crop_box if self.crop_enabled else None

    # -- readout --

    def readout(self, row: int, col: int) -> Readout | None:
        """Every available map's value at pixel (row, col), with units; None outside the image."""
        shape = self.shape
        if shape is None or not (0 <= row < shape[0] and 0 <= col < shape[1]):
            return None
        out = Readout(row, col)
        for key in ("attenuation", "mean", "truth", "alpha", "beta", "aleatoric", "epistemic", "total", "error"):
            array = self.array(key)
            if array is not None:
                out.values.append((key, float(array[row, col]), MAPS[key].units))
        return out
