"""The viewer model without Qt: typed fields, change signals, stage choice, windows, crop, readout.

(The stage results are the predictor's own class; the model itself imports neither Qt nor torch.)
"""

from __future__ import annotations

import numpy as np
import pytest
from _dfv_imports import packages_loaded_by

from dfviewer.core.results import StageResult
from dfviewer.display.viewer_state import Preferences, ViewerState
from dfviewer.io.radiograph import Radiograph


def stages(n: int, shape=(12, 10), seed: int = 0) -> list[StageResult]:
    """``n`` stages of random maps, as the predictor returns them."""
    rng = np.random.default_rng(seed)
    return [StageResult(k, *(rng.random(shape, dtype=np.float32) for _ in range(6)), samples=1)
            for k in range(1, n + 1)]


def radiograph(shape=(12, 10)) -> Radiograph:
    pixels = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    return Radiograph(pixels=pixels, window=(50.0, 100.0))


class Recorder:
    """Counts the emissions of every signal of a state."""

    NAMES = ("imageChanged", "resultsChanged", "displayChanged", "windowChanged", "cropChanged",
             "progressChanged", "activeChanged", "preferencesChanged")

    def __init__(self, state: ViewerState) -> None:
        self.calls: list[tuple] = []
        for name in self.NAMES:
            getattr(state, name).connect(lambda *args, n=name: self.calls.append((n, *args)))

    def names(self) -> list[str]:
        return [c[0] for c in self.calls]


def test_importing_the_model_loads_neither_qt_nor_torch():
    modules = ["dfviewer.core.results", "dfviewer.display.viewer_state", "dfviewer.display.export",
               "dfviewer.io.file_filters"]
    assert packages_loaded_by(modules, ["PyQt6", "pyqtgraph", "superqt", "torch"]) == []


def test_new_image_resets_and_signals():
    state = ViewerState()
    rec = Recorder(state)
    state.set_image(radiograph(), "case.png")
    assert rec.names() == ["imageChanged"]
    assert state.has_image and state.shape == (12, 10) and state.results is None
    assert state.window("attenuation") == (50.0, 100.0)
    assert state.array("mean") is None and state.array("attenuation") is state.radiograph.pixels


def test_after_inference_the_final_stage_is_shown_unless_the_user_chose_one():
    state = ViewerState()
    state.set_image(radiograph())
    state.set_results(stages(3), 0, 5, preview=True)
    assert state.stage == 3
    state.set_stage(1)
    assert state.stage_chosen
    state.set_results(stages(3, seed=1), 5, 5, preview=False)
    assert state.stage == 1  # the user's choice stays
    state.set_image(radiograph())  # a new image: back to following the final stage
    state.set_results(stages(3), 0, 5, preview=True)
    assert state.stage == 3


def test_more_than_three_stages_can_be_shown():
    state = ViewerState()
    state.set_image(radiograph())
    results = stages(5)
    state.set_results(results, 1, 1, preview=False)
    assert state.stage == 5 and state.stages == [1, 2, 3, 4, 5]
    assert state.array("mean") is results[4].mean
    state.set_stage(4)
    assert state.array("aleatoric") is results[3].aleatoric
    state.set_stage(6)  # not computed: ignored
    assert state.stage == 4


def test_error_map_is_computed_once_per_stage_not_per_mouse_move():
    state = ViewerState()
    truth = np.full((12, 10), 0.5, np.float32)
    state.set_image(radiograph(), truth=truth)
    results = stages(3)
    state.set_results(results, 1, 1, preview=False)
    first = state.array("error")
    np.testing.assert_allclose(first, np.abs(results[2].mean - truth))
    for row in range(5):
        state.readout(row, 3)
    assert state.array("error") is first  # the cached array, not a new one
    state.set_results(stages(3, seed=2), 1, 1, preview=False)
    assert state.array("error") is not first  # new results: recomputed


def test_overlay_opacity_and_modes_signal_display_changes():
    state = ViewerState()
    rec = Recorder(state)
    state.set_overlay_map("epistemic")
    state.set_overlay_map("epistemic")  # unchanged: no signal
    state.set_opacity(2.0)
    state.cycle_overlay_mode()
    assert rec.names() == ["displayChanged"] * 3
    assert (state.overlay_map, state.opacity, state.overlay_mode) == ("epistemic", 1.0, "darkfield")
    with pytest.raises(ValueError, match="^unknown overlay map 'nonsense'$"):
        state.set_overlay_map("nonsense")


def test_error_overlay_falls_back_without_a_real_darkfield():
    state = ViewerState()
    state.set_image(radiograph(), truth=np.zeros((12, 10), np.float32))
    state.set_overlay_map("error")
    state.set_image(radiograph())
    assert state.overlay_map == "aleatoric"


def test_windows_manual_auto_and_shared_by_the_two_darkfields():
    state = ViewerState()
    state.set_image(radiograph(), truth=np.ones((12, 10), np.float32))
    state.set_results(stages(3), 1, 1, preview=False)
    rec = Recorder(state)
    assert "aleatoric" in state.auto_windows
    low = state.window("aleatoric")
    assert low[0] == pytest.approx(low[1] / 2)  # uncertainty windows start at zero
    state.set_window("truth", 0.5, 0.25)
    assert state.window("mean") == (0.5, 0.25) and "mean" not in state.auto_windows
    state.reset_window("mean")
    assert "mean" in state.auto_windows
    assert rec.calls == [("windowChanged", "mean"), ("windowChanged", "mean")]


def test_crop_box_is_clipped_and_a_manual_box_survives_the_lung_finder():
    state = ViewerState()
    state.set_image(radiograph())
    assert state.set_lung_box((2, 8, 1, 9), True)
    state.set_crop_enabled(True)
    assert state.active_crop == (2, 8, 1, 9)
    state.set_crop_box((-5, 40, 3.4, 3.2), manual=True)
    assert state.crop_box == (0, 12, 3, 4) and state.crop_manual
    assert not state.set_lung_box((2, 8, 1, 9), True)
    assert state.crop_box == (0, 12, 3, 4)


def test_active_panel_and_its_map():
    state = ViewerState()
    rec = Recorder(state)
    state.set_active_panel("darkfield")
    assert state.active_map == "mean"
    state.set_overlay_map("beta")
    state.set_active_panel("overlay")
    assert state.active_map == "beta"
    assert rec.names().count("activeChanged") == 2
    with pytest.raises(ValueError, match="^unknown panel 'elsewhere'$"):
        state.set_active_panel("elsewhere")


def test_preferences_signal_only_on_change():
    state = ViewerState(Preferences(model_path="a.safetensors"))
    rec = Recorder(state)
    assert not state.set_preferences(Preferences(model_path="a.safetensors"))
    assert state.set_preferences(Preferences(model_path="b.safetensors", mc_samples=5))
    assert rec.names() == ["preferencesChanged"] and state.preferences.mc_samples == 5


def test_readout_lists_every_available_map_with_units():
    state = ViewerState()
    assert state.readout(0, 0) is None
    state.set_image(radiograph())
    state.set_results(stages(2), 1, 1, preview=False)
    readout = state.readout(1, 2)
    assert [key for key, _, _ in readout.values] == ["attenuation", "mean", "alpha", "beta", "aleatoric",
                                                       "epistemic", "total"]
    assert readout.values[0][1] == 12.0 and "x 2  y 1" in readout.text()
    assert state.readout(12, 0) is None


def test_companion_panel_shows_the_other_uncertainty():
    state = ViewerState()
    assert state.panel_map("companion") == state.companion_map == "epistemic"  # beside the aleatoric overlay
    state.set_overlay_map("epistemic")
    assert state.panel_map("companion") == "aleatoric"
    state.set_overlay_map("total")
    assert state.panel_map("companion") == "epistemic"
    state.set_active_panel("companion")
    assert state.active_map == "epistemic"
