"""The predictor's results without torch: the viewer model is typed against them (issue 24 item 3)."""

from __future__ import annotations

import numpy as np
import pytest
from _dfv_imports import packages_loaded_by

from dfviewer.core.config import Normalization
from dfviewer.core.geometry import resample_map
from dfviewer.core.normalize import denormalize_spread, denormalize_target
from dfviewer.core.results import MAP_NAMES, NETWORK_MAPS, StageResult
from dfviewer.display.viewer_state import ViewerState
from dfviewer.errors import cause
from dfviewer.io.radiograph import Radiograph


def test_the_results_and_the_viewer_model_load_neither_torch_nor_qt():
    assert packages_loaded_by(["dfviewer.core.results", "dfviewer.display.viewer_state"],
                              ["torch", "PyQt6", "pyqtgraph"]) == []


def test_a_working_size_result_resamples_with_the_predictors_resampler_and_units():
    rng = np.random.default_rng(3)
    work = {name: rng.random((8, 6), dtype=np.float32) for name in NETWORK_MAPS}
    norm = Normalization(target_offset=0.25, target_scale=2.0)
    result = StageResult.from_working(2, 5, work, (21, 15), norm, resample_map)
    assert result.shape == (21, 15) and result.stage == 2 and result.samples == 5
    np.testing.assert_array_equal(result.mean, denormalize_target(resample_map(work["mean"], (21, 15)), norm))
    np.testing.assert_array_equal(result.beta, resample_map(work["beta"], (21, 15)))
    for name in ("alpha", "aleatoric", "epistemic"):
        np.testing.assert_array_equal(result.map(name), denormalize_spread(resample_map(work[name], (21, 15)), norm))
    np.testing.assert_allclose(result.total, np.hypot(result.aleatoric, result.epistemic), rtol=1e-6)


def test_the_viewer_shows_the_maps_of_a_working_size_result():
    work = {name: np.full((4, 4), i + 1, np.float32) for i, name in enumerate(NETWORK_MAPS)}
    state = ViewerState()
    state.set_image(Radiograph(pixels=np.zeros((10, 8), np.float32), window=(0.0, 1.0)))
    state.set_results([StageResult.from_working(1, 0, work, (10, 8), None, resample_map)], 1, 1, False)
    for i, name in enumerate(MAP_NAMES[:-1]):
        assert state.array(name).shape == (10, 8)
        np.testing.assert_allclose(state.array(name), i + 1, rtol=1e-6)
    assert state.stage_result(1) is state.results[0] and state.stage_result(2) is None


@pytest.mark.parametrize(("error", "expected"), [
    (RuntimeError(""), "The model failed while generating the dark-field (RuntimeError)."),
    (ValueError("bad weights\nmore detail"), "The model failed while generating the dark-field (ValueError: bad weights)."),
])
def test_the_viewers_failure_sentence_names_the_cause_as_every_message_does(error, expected):
    from dfviewer.gui.inference_worker import describe_error

    assert describe_error(error) == expected
    assert cause(error) in expected


def test_a_damaged_store_index_names_its_cause_without_an_empty_tail(tmp_path):
    from dfviewer.core.store import INDEX_NAME, StoreError, read_index

    (tmp_path / INDEX_NAME).write_bytes(b"not parquet at all")
    with pytest.raises(StoreError) as info:
        read_index(tmp_path)
    text = str(info.value)
    assert text.startswith(f"{tmp_path / INDEX_NAME} could not be read (")
    assert text.endswith(")") and ": )" not in text and "\n" not in text
