"""The viewer's model, Qt-free: what is open, what is computed and how it is shown.

Holds the open radiograph (and a real dark-field found beside it), the results of every stage,
the stage shown, the active panel and map, the overlay map, mode and opacity, the windows
(automatic ones per stage unless the user links the stages; one set by hand applies to every
stage), the lung crop (automatic or edited by hand) and the preferences. Widgets subscribe to its
signals (:class:`~dfviewer.display.observer.Signal`) and redraw; the model owns no widget.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dfviewer.core.results import DEFAULT_MC_SAMPLES, StageResult
from dfviewer.core.stages import MAX_STAGES
from dfviewer.display.crop import Box, clip_box
from dfviewer.display.maps import MAPS, OVERLAY_MAPS, OVERLAY_MODES, STAGE_MAPS
from dfviewer.display.observer import Signal
from dfviewer.imaging.voi_windows import Window, format_number, percentile_window
from dfviewer.io.radiograph import Radiograph

#: the panels, in reading order, and the map each one shows ("overlay": the chosen overlay map,
#: "companion": the uncertainty shown beside it, in a grid cell the other panels leave free)
PANELS = ("attenuation", "darkfield", "overlay", "truth", "companion")
PANEL_MAPS = {"attenuation": "attenuation", "darkfield": "mean", "truth": "mean"}
#: the maps of the status bar readout, in order
READOUT_MAPS = ("attenuation", "mean", "truth", "alpha", "beta", "aleatoric", "epistemic", "total", "error")


@dataclass
class Progress:
    done: int = 0
    total: int = 0
    preview: bool = True
    running: bool = False


@dataclass
class Preferences:
    """What the user set in Edit > Preferences (kept in the settings by the GUI)."""

    model_path: str = ""
    device: str = "auto"
    mc_samples: int = DEFAULT_MC_SAMPLES
    working_size: int = 0  # 0: the size the model was trained at
    threads: int = 0  # CPU compute threads; 0: automatic (dfviewer.threads), chosen at each inference start


@dataclass
class Readout:
    row: int
    col: int
    values: list[tuple[str, float, str]] = field(default_factory=list)  # (map key, value, units)

    def text(self) -> str:
        parts = [f"x {self.col}  y {self.row}"]
        for key, value, units in self.values:
            unit = f" {units}" if units else ""
            parts.append(f"{MAPS[key].symbol} {format_number(value)}{unit}")
        return "   ".join(parts)


class ViewerState:
    """Typed model of what the viewer shows, with change signals."""

    def __init__(self, preferences: Preferences | None = None) -> None:
        self.imageChanged = Signal()  # a new radiograph (results cleared)
        self.resultsChanged = Signal()  # new or updated stage results
        self.displayChanged = Signal()  # stage, overlay map, mode or opacity
        self.windowChanged = Signal()  # (map key) whose window changed
        self.cropChanged = Signal()
        self.progressChanged = Signal()
        self.activeChanged = Signal()  # the active panel (the histogram's and the export's target)
        self.preferencesChanged = Signal()

        self.preferences = preferences or Preferences()
        self.radiograph: Radiograph | None = None
        self.path: Path | None = None
        self.truth: np.ndarray | None = None
        self.truth_path: Path | None = None
        self.results: list[StageResult] | None = None
        self.progress = Progress()
        self.stage = 1
        self.stage_chosen = False  # the user picked a stage: results no longer move it to the last one
        self.active_panel = "overlay"
        self.overlay_map = "aleatoric"
        self.overlay_mode = "alone"
        self.opacity = 0.6
        self.windows: dict[str, Window] = {}
        self.auto_windows: set[str] = set()
        #: automatic windows span every stage (stages compare directly) instead of each stage its own
        self.link_windows = False
        self._stage_windows: dict[tuple[str, int], Window] = {}  # automatic window of (map, stage)
        self.crop_enabled = False
        self.crop_box: Box | None = None
        self.crop_found = True  # False when the lung finder fell back to the whole image
        self.crop_manual = False  # the user moved the box: the lung finder no longer replaces it
        self._errors: dict[int, np.ndarray] = {}  # |mean - truth| per stage, computed once

    # -- image and results --

    @property
    def has_image(self) -> bool:
        return self.radiograph is not None

    @property
    def shape(self) -> tuple[int, int] | None:
        return None if self.radiograph is None else tuple(self.radiograph.pixels.shape)

    @property
    def stages(self) -> list[int]:
        """The stages computed so far."""
        return [r.stage for r in self.results] if self.results else []

    def set_image(self, radiograph: Radiograph, path: str | Path | None = None, truth: np.ndarray | None = None,
                  truth_path: str | Path | None = None) -> None:
        """Show a new radiograph; clears the results and resets the windows and the crop box."""
        self.radiograph = radiograph
        self.path = Path(path) if path is not None else None
        if truth is not None and truth.shape != radiograph.pixels.shape:
            truth = None
        self.truth = truth
        self.truth_path = Path(truth_path) if truth is not None and truth_path else None
        self.results = None
        self._errors = {}
        self.progress = Progress()
        self.windows = {"attenuation": tuple(float(v) for v in radiograph.window)}  # type: ignore[dict-item]
        self.auto_windows = {key for key in MAPS if key != "attenuation"}
        self._stage_windows = {}
        self.crop_box = None
        self.crop_manual = False
        self.stage_chosen = False
        if self.truth is None and self.overlay_map == "error":
            self.overlay_map = "aleatoric"
        if self.truth is not None:
            self._auto("mean")
        self.imageChanged.emit()

    def set_results(self, stages: list[StageResult], done: int, total: int, preview: bool) -> None:
        """Cache new results of every stage (preview or running MC estimate).

        Shows the final stage (the cascade's result) unless the user chose a stage.
        """
        first = self.results is None
        self.results = list(stages)
        self._errors = {}
        self.progress = Progress(done, total, preview, self.progress.running)
        if self.results and (not self.stage_chosen or self.stage not in self.stages):
            self.stage = self.stages[-1]
        # running MC updates mostly change the epistemic spread; the other ranges are refreshed
        # with the preview and the final estimate only (keeps the interface smooth on big images)
        changing = {"epistemic", "total"} if not (first or preview or done >= total) else None
        for key in list(self.auto_windows):
            if changing is None or key in changing:
                self._auto(key)
        self._stage_windows = {k: w for k, w in self._stage_windows.items()
                               if changing is not None and k[0] not in changing}
        self.resultsChanged.emit()
        self.progressChanged.emit()

    def set_running(self, running: bool) -> None:
        self.progress.running = running
        self.progressChanged.emit()

    def stage_result(self, stage: int | None = None) -> StageResult | None:
        """The result of ``stage`` (default: the one shown), or None while it is not computed."""
        stage = self.stage if stage is None else stage
        for result in self.results or ():
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
            if result.stage not in self._errors:
                self._errors[result.stage] = np.abs(result.mean - self.truth).astype(np.float32)
            return self._errors[result.stage]
        return result.map(key)

    # -- display selection --

    def set_stage(self, stage: int) -> None:
        """Show ``stage`` (the user's choice: later results keep it)."""
        stage = int(stage)
        allowed = self.stages if self.results else range(1, MAX_STAGES + 1)
        if stage not in allowed:
            return
        self.stage_chosen = True
        if stage != self.stage:
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

    def cycle_overlay_mode(self) -> None:
        modes = list(OVERLAY_MODES)
        self.set_overlay_mode(modes[(modes.index(self.overlay_mode) + 1) % len(modes)])

    def set_opacity(self, opacity: float) -> None:
        opacity = float(np.clip(opacity, 0.0, 1.0))
        if opacity != self.opacity:
            self.opacity = opacity
            self.displayChanged.emit()

    @property
    def companion_map(self) -> str:
        """The companion panel's map: epistemic beside the overlay, aleatoric when the overlay is epistemic."""
        return "aleatoric" if self.overlay_map == "epistemic" else "epistemic"

    def panel_map(self, panel: str) -> str:
        """The map key ``panel`` shows now."""
        if panel == "companion":
            return self.companion_map
        return PANEL_MAPS.get(panel, self.overlay_map)

    @property
    def active_map(self) -> str:
        """The map of the active panel (the histogram's target)."""
        return self.panel_map(self.active_panel)

    def set_active_panel(self, panel: str) -> None:
        """Make ``panel`` the active one (emits even when it already was: the user clicked it)."""
        if panel not in PANELS:
            raise ValueError(f"unknown panel {panel!r}")
        self.active_panel = panel
        self.activeChanged.emit()

    # -- windows --

    def window(self, key: str, stage: int | None = None) -> Window:
        """The window of map ``key`` in the shown (or given) stage; the generated and real dark-field share one."""
        key = "mean" if key == "truth" else key
        if self._per_stage(key):
            stage = self.stage if stage is None else stage
            if (key, stage) not in self._stage_windows and self.array(key, stage) is not None:
                self._auto(key, stage)
            if (key, stage) in self._stage_windows:
                return self._stage_windows[(key, stage)]
        if key not in self.windows:
            self._auto(key)
        return self.windows.get(key, (0.5, 1.0))

    def _per_stage(self, key: str) -> bool:
        """Whether ``key`` (a map of a stage) has an automatic window of each stage's own."""
        return not self.link_windows and key in STAGE_MAPS and key in self.auto_windows

    def window_source(self, key: str, stage: int | None = None) -> str:
        """Where the window of a stage's map comes from, for titles: ``stage 1 auto``, ``linked auto``, ``set by hand``."""
        key = "mean" if key == "truth" else key
        if key not in self.auto_windows:
            return "set by hand"
        if self._per_stage(key):
            return f"stage {self.stage if stage is None else stage} auto"
        return "linked auto"

    def set_link_windows(self, linked: bool) -> None:
        """Automatic windows over all stages together (``linked``) or each stage its own."""
        if bool(linked) == self.link_windows:
            return
        self.link_windows = bool(linked)
        self._stage_windows = {}
        for key in STAGE_MAPS:
            if key in self.auto_windows:
                self._auto(key)
                self.windowChanged.emit(key)

    def set_window(self, key: str, centre: float, width: float) -> None:
        """A fixed window for ``key`` in every stage (its automatic range is switched off)."""
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
            self.windows[key] = tuple(float(v) for v in self.radiograph.window)  # type: ignore[assignment]
        else:
            self.auto_windows.add(key)
            self._auto(key)
        self.windowChanged.emit(key)

    def _auto(self, key: str, stage: int | None = None) -> None:
        """Automatic range of ``key``: percentiles over all stages (linked, so stages compare directly),
        or over one ``stage`` (stored apart, its own window)."""
        if self.radiograph is None:
            return
        if key == "attenuation":
            self.windows[key] = percentile_window(self.radiograph.pixels)
            return
        stages = self.stages if stage is None else [stage]
        arrays = [a for a in (self.array(key, k) for k in stages) if a is not None]
        if key == "mean" and self.truth is not None:
            arrays.append(self.truth)
        if not arrays:
            return
        if key in ("mean", "beta"):
            window = percentile_window(arrays, 0.5, 99.5)
        else:  # uncertainties and errors: from zero, so "dark" means "certain"
            high = percentile_window(arrays, 0.0, 99.5)
            top = high[0] + high[1] / 2
            window = (top / 2, top) if top > 0 else (0.5e-6, 1e-6)
        if stage is None:
            self.windows[key] = window
        else:
            self._stage_windows[(key, stage)] = window

    # -- crop --

    def set_crop_box(self, box: tuple[float, float, float, float] | None, found: bool = True,
                     manual: bool = False) -> None:
        """The crop box (clipped to the image); None clears it. ``manual``: the user drew it."""
        if box is not None and self.shape is not None:
            box = clip_box(box, self.shape)
        self.crop_box = box  # type: ignore[assignment]
        self.crop_found = found
        self.crop_manual = self.crop_manual or manual
        self.cropChanged.emit()

    def set_lung_box(self, box: Box, found: bool) -> bool:
        """The lung finder's box; ignored once the user edited the box. Returns whether it was taken."""
        if self.crop_manual:
            return False
        self.set_crop_box(box, found)
        return True

    def set_crop_enabled(self, enabled: bool) -> None:
        if bool(enabled) != self.crop_enabled:
            self.crop_enabled = bool(enabled)
            self.cropChanged.emit()

    @property
    def active_crop(self) -> Box | None:
        """The box that applies now (None when cropping is off)."""
        return self.crop_box if self.crop_enabled else None

    # -- preferences --

    def set_preferences(self, preferences: Preferences) -> bool:
        """New preferences; returns whether anything changed."""
        if preferences == self.preferences:
            return False
        self.preferences = preferences
        self.preferencesChanged.emit()
        return True

    # -- readout --

    def readout(self, row: int, col: int) -> Readout | None:
        """Every available map's value at pixel (row, col), with units; None outside the image."""
        shape = self.shape
        if shape is None or not (0 <= row < shape[0] and 0 <= col < shape[1]):
            return None
        out = Readout(row, col)
        for key in READOUT_MAPS:
            array = self.array(key)
            if array is not None:
                out.values.append((key, float(array[row, col]), MAPS[key].units))
        return out
