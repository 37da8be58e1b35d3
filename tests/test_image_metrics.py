"""The one implementation of MSE, PSNR, SSIM and mean +/- std, used by evaluate, training and the viewer."""

from __future__ import annotations

import math

import numpy as np
import pytest
import tifffile
from _dfv_imports import packages_loaded_by
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from dfviewer.imaging.image_metrics import image_quality, mean_std, mse, psnr, ssim, to_network_units
from dfviewer.io import RadiographError, read_pixels


@pytest.mark.parametrize("shape", [(64, 64), (37, 53), (11, 30), (300, 257)])
@pytest.mark.parametrize("data_range", [1.0, 0.37])
def test_psnr_and_ssim_equal_scikit_images_wang_settings(shape, data_range):
    rng = np.random.default_rng(sum(shape))
    truth = rng.random(shape) * data_range
    pred = np.clip(truth + 0.1 * data_range * rng.standard_normal(shape), 0, data_range)
    expected = structural_similarity(truth, pred, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                     data_range=data_range)
    assert ssim(pred, truth, data_range) == pytest.approx(expected, rel=1e-12)
    assert psnr(pred, truth, data_range) == pytest.approx(
        peak_signal_noise_ratio(truth, pred, data_range=data_range), rel=1e-12)


def test_ssim_refuses_images_smaller_than_its_window():
    with pytest.raises(ValueError, match="11 x 11"):
        ssim(np.zeros((10, 40)), np.zeros((10, 40)))


def test_image_quality_clips_both_images_to_the_unit_range():
    truth = np.full((20, 20), 1.5, np.float32)  # clipped to 1
    pred = np.full((20, 20), 0.5, np.float32)
    q = image_quality(pred, truth)
    assert q["mse"] == pytest.approx(0.25) and q["psnr"] == pytest.approx(10 * math.log10(4))
    assert image_quality(truth, truth)["psnr"] == math.inf and image_quality(truth, truth)["ssim"] == 1.0
    assert math.isnan(image_quality(pred, truth, with_ssim=False)["ssim"])
    assert math.isnan(image_quality(pred[:8], truth[:8])["ssim"])  # smaller than the window


def test_to_network_units_is_the_checkpoints_target_normalisation():
    y = np.array([[0.2, 0.7]], np.float32)
    np.testing.assert_array_equal(to_network_units(y, 0.2, 0.5), np.array([[0.0, 1.0]], np.float32))
    assert to_network_units(y, 0.0, 1.0).dtype == np.float32


@pytest.mark.parametrize("values, expected", [
    ([1.0, 3.0], {"mean": 2.0, "std": 1.0, "n": 2}),
    ([2.0, None, math.nan, math.inf, 4.0], {"mean": 3.0, "std": 1.0, "n": 2}),
    ([], {"mean": None, "std": None, "n": 0}),
    ([None, math.nan], {"mean": None, "std": None, "n": 0}),
])
def test_mean_std_keeps_the_finite_values(values, expected):
    assert mean_std(values) == expected


def test_mse_is_computed_in_float64():
    a = np.full((4, 4), 1e4, np.float32)
    assert mse(a + np.float32(1), a) == 1.0


def test_read_pixels_keeps_a_float_dark_fields_values_and_refuses_a_bad_file(tmp_path):
    values = np.linspace(-0.5, 2.5, 40 * 30, dtype=np.float32).reshape(40, 30)
    tifffile.imwrite(tmp_path / "case_darkfield.tiff", values)
    np.testing.assert_array_equal(read_pixels(tmp_path / "case_darkfield.tiff"), values)
    (tmp_path / "broken.tiff").write_bytes(b"II*\x00garbage")
    with pytest.raises(RadiographError, match="broken.tiff"):
        read_pixels(tmp_path / "broken.tiff")


def test_the_viewers_metrics_load_no_torch():
    assert packages_loaded_by(["dfviewer.imaging.image_metrics", "dfviewer.display.analysis"], ["torch"]) == []
