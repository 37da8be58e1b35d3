"""A bounded differential campaign in the suite, and each class it found kept as a regression.

The full campaign (over 3,000 cases) is ``python scripts/fuzz.py --kinds differential --cases N``;
its last summary is in docs/evaluation/differential_fuzz.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile

sys.path.insert(0, str(Path(__file__).parent))

import differential  # noqa: E402
import fuzzing  # noqa: E402

from dfviewer.io import read_radiograph  # noqa: E402

READER_KINDS = {"dicom-diff": 120, "tiff-diff": 100, "exif": 40, "npy-diff": 60, "bomb": 40}


@pytest.mark.timeout(120)
def test_bounded_reader_campaign_finds_nothing(tmp_path):
    report = differential.campaign(READER_KINDS, seed=23, workdir=tmp_path)
    assert sum(report.cases.values()) == sum(READER_KINDS.values())
    assert report.outcomes["ok"] > 250 and report.outcomes["user_error"] >= 40, report.summary()
    assert not report.findings, report.summary()


REPRODUCERS = fuzzing.REGRESSIONS / "differential"


@pytest.mark.timeout(240)
def test_bounded_checkpoint_and_store_campaign_finds_nothing(tmp_path):
    report = differential.campaign({"checkpoint-diff": 30, "store": 10}, seed=23, workdir=tmp_path, timeout=30)
    assert sum(report.cases.values()) == 40
    assert not report.findings, report.summary()


def test_a_wrong_image_is_a_finding(tmp_path):
    """The comparison is not vacuous: a file whose expectation is off by one pixel value is reported."""
    from expectation import Expect

    image = np.arange(20, dtype=np.uint16).reshape(4, 5)
    path = tmp_path / "case.npy"
    np.save(path, image)
    Expect(pixels=image.astype(float) + np.eye(4, 5)).save(path)
    worker = fuzzing.Worker()
    try:
        answer = worker.run("expect", path)
    finally:
        worker.stop()
    assert answer["outcome"] == "bad_result" and "differ" in answer["message"], answer


@pytest.mark.parametrize("cols", [3, 4])
def test_planar_rgb_tiff_three_or_four_pixels_wide_is_read_by_its_sample_axis(tmp_path, cols):
    """Found by the differential campaign: a planar (separate) RGB TIFF 3 or 4 columns wide was taken as
    channels last, giving a transposed luma of the wrong planes."""
    rgb = np.random.default_rng(3).integers(0, 65536, (20, cols, 3)).astype(np.uint16)
    path = tmp_path / "planar.tif"
    tifffile.imwrite(path, np.moveaxis(rgb, -1, 0), photometric="rgb", planarconfig="separate")
    expected = rgb.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    np.testing.assert_allclose(read_radiograph(path).pixels, expected, rtol=1e-5)


def test_damaged_domain_check_is_refused_in_one_sentence():
    path = REPRODUCERS / "checkpoint-bad_message-domain_check_sentence.safetensors"
    worker = fuzzing.Worker(torch=True)
    try:
        answer = worker.run("checkpoint", path)
    finally:
        worker.stop()
    assert answer["outcome"] == "user_error", answer
