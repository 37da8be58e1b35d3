"""The display layer: one table of maps, one window function, one crop, one naming, one file filter."""

from __future__ import annotations

import numpy as np
import pytest

from dfviewer.display.crop import crop
from dfviewer.display.export_plan import ExportOptions, map_file_name, plan_all_maps, plan_predictions
from dfviewer.display.maps import MAPS, OVERLAY_MAPS, PREDICTED_MAPS
from dfviewer.imaging.voi_windows import percentile_window, window_from_limits, window_limits
from dfviewer.io.file_filters import find_truth, is_companion_file, list_radiographs


def test_predicted_maps_are_the_predictors_maps():
    from dfviewer.core.inference import MAP_NAMES

    assert PREDICTED_MAPS == MAP_NAMES
    assert set(OVERLAY_MAPS) <= set(MAPS)


def test_percentile_window_of_one_or_several_arrays():
    ramp = np.arange(1001, dtype=np.float32)
    centre, width = percentile_window(ramp, 0, 100)
    assert window_limits((centre, width)) == pytest.approx((0.0, 1000.0))
    assert window_limits(percentile_window([ramp, ramp + 1000], 0, 100)) == pytest.approx((0.0, 2000.0), abs=2)
    assert percentile_window(np.full(5, np.nan)) == (0.5, 1.0)
    flat = percentile_window(np.full((4, 4), 3.0))
    assert flat[0] == pytest.approx(3.0) and flat[1] > 0
    assert window_from_limits(2.0, 1.0) == (1.5, 1.0)


def test_the_readers_default_window_is_the_display_window(tmp_path):
    """A file without windows of its own opens with the 0.5-99.5 % window the viewer's Auto preset gives."""
    from PIL import Image

    from dfviewer.io import read_radiograph

    ramp = np.tile(np.arange(256, dtype=np.uint8), (64, 1))
    ramp[:, :8] = 0  # outliers the percentiles leave out
    Image.fromarray(ramp).save(tmp_path / "ramp.png")
    radiograph = read_radiograph(tmp_path / "ramp.png")
    assert radiograph.window == pytest.approx(percentile_window(radiograph.pixels))
    assert window_limits(radiograph.window) == pytest.approx(tuple(np.percentile(ramp, [0.5, 99.5])))


def test_crop_serves_maps_and_rgba():
    array = np.arange(20).reshape(4, 5)
    rgba = np.zeros((4, 5, 4), np.uint8)
    assert crop(array, None) is array
    assert crop(array, (1, 3, 2, 5)).shape == (2, 3)
    assert crop(rgba, (1, 3, 2, 5)).shape == (2, 3, 4)


def test_one_naming_for_viewer_and_predict(tmp_path):
    assert map_file_name("case", "mean", 2, "tiff") == "case_stage2_darkfield.tiff"
    assert map_file_name("case", "attenuation", None, "png") == "case_attenuation.png"
    viewer = {p.path.name for p in plan_all_maps(tmp_path, "case", [1], False, ExportOptions(tiff=True), False)}
    predict = {p.path.name for p in plan_predictions(tmp_path, "case", [1], "tiff")}
    assert predict <= viewer and "case_stage1_darkfield.tiff" in predict


def test_open_folder_leaves_out_exports_companions_and_other_files(tmp_path):
    names = ["a.dcm", "b.png", "c", "a_darkfield.tiff", "a_lung.png", "b_stage1_epistemic.png",
             "b_stage2_darkfield.tiff", "b_stage1_aleatoric_over_darkfield.png", "b_attenuation.png",
             "b_stage3_mean.tiff", "notes.txt", ".hidden.png"]
    for name in names:
        (tmp_path / name).write_bytes(b"x")
    assert [p.name for p in list_radiographs(tmp_path)] == ["a.dcm", "b.png", "c"]
    assert is_companion_file(tmp_path / "b_stage1_epistemic.png")
    assert find_truth(tmp_path / "a.dcm") == tmp_path / "a_darkfield.tiff"


@pytest.mark.parametrize("key", sorted(MAPS))
def test_every_maps_export_is_left_out_of_folder_listings(tmp_path, key):
    """io's file filters keep their own list of export names (io sits below display): each map's
    exported stage file must still count as a companion, and a radiograph named like it must not."""
    exported = tmp_path / map_file_name("case", key, 2, "tiff")
    (tmp_path / "case.dcm").write_bytes(b"x")
    exported.write_bytes(b"x")
    assert is_companion_file(exported)
    assert [p.name for p in list_radiographs(tmp_path)] == ["case.dcm"]
