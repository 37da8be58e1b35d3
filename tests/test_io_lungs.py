"""Lung masks and boxes: a synthetic chest made here, and the phantom's own lung mask."""

from __future__ import annotations

import numpy as np
import pytest

from dfviewer.io import lung_bbox, lung_mask


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2.0 * float((a & b).sum()) / float(a.sum() + b.sum())


def synthetic_chest(size: int = 200, seed: int = 0):
    """Body ellipse with two darker lung ellipses, bright spine/mediastinum, air outside; plus a dark-field."""
    yy, xx = np.mgrid[0:size, 0:size] / size
    body = ((xx - 0.5) / 0.42) ** 2 + ((yy - 0.55) / 0.5) ** 2 < 1
    left = ((xx - 0.31) / 0.13) ** 2 + ((yy - 0.45) / 0.27) ** 2 < 1
    right = ((xx - 0.69) / 0.13) ** 2 + ((yy - 0.45) / 0.27) ** 2 < 1
    lungs = left | right
    att = np.where(body, 2.0, 0.05) + np.where(lungs, -1.2, 0.0)
    att += np.where(body & (np.abs(xx - 0.5) < 0.05), 0.8, 0.0)  # spine and mediastinum
    rng = np.random.default_rng(seed)
    att = att + 0.05 * rng.standard_normal(att.shape)
    df = np.where(lungs, 1.0, 0.05) + 0.05 * rng.standard_normal(att.shape)
    return att.astype(np.float32), df.astype(np.float32), lungs


def test_synthetic_chest_from_attenuation_and_from_darkfield():
    att, df, truth = synthetic_chest()
    from_att = lung_mask(att)
    assert from_att.found and from_att.method == "attenuation"
    assert dice(from_att.mask, truth) > 0.85
    from_df = lung_mask(att, df)
    assert from_df.found and from_df.method == "darkfield"
    assert dice(from_df.mask, truth) > 0.9
    box = lung_bbox(att, df, pad=0.05)
    rows, cols = np.nonzero(truth.any(axis=1))[0], np.nonzero(truth.any(axis=0))[0]
    assert box.found and box.row0 <= rows[0] and box.row1 > rows[-1] and box.col0 <= cols[0] and box.col1 > cols[-1]
    assert box.row1 - box.row0 < 0.8 * att.shape[0]
    r0, r1, c0, c1 = box.box
    assert att[box.slices].shape == (r1 - r0, c1 - c0)


def test_no_lungs_gives_whole_image_and_not_found():
    rng = np.random.default_rng(1)
    flat = (1.0 + 0.01 * rng.standard_normal((100, 120))).astype(np.float32)
    result = lung_mask(flat)
    assert not result.found and result.mask.all()
    box = lung_bbox(flat)
    assert box.box == (0, 100, 0, 120) and not box.found
    one_blob = np.ones((100, 120), np.float32)
    one_blob[30:70, 20:60] = 0.2  # a single dark region: not two lungs
    assert not lung_mask(one_blob).found


@pytest.mark.parametrize("seed, index", [(0, 0), (8, 2)])
def test_phantom_lung_mask_dice(seed, index):
    from dfviewer import phantom

    case = phantom.simulate_case(seed, index, phantom.PhantomConfig().replace(size=128))
    truth = case.masks["lung"].astype(bool)
    with_df = lung_mask(case.attenuation, case.darkfield)
    assert with_df.found and with_df.method == "darkfield" and dice(with_df.mask, truth) > 0.85
    att_only = lung_mask(case.attenuation)
    assert att_only.found and dice(att_only.mask, truth) > 0.75


def test_lungs_reaching_the_edges_of_a_tight_collimation_are_not_taken_for_air():
    """Once a known limit (an expected failure): the lungs touching three edges were taken for air."""
    att, _, truth = synthetic_chest(size=240, seed=3)
    rows, cols = slice(50, 200), slice(48, 192)  # the lungs touch the top and both sides
    cut, lungs = att[rows, cols], truth[rows, cols]
    assert lungs[0].any() and lungs[:, 0].any() and lungs[:, -1].any()
    found = lung_mask(cut)
    assert found.found and dice(found.mask, lungs) > 0.75


def test_a_real_chest_cr_framed_tighter_keeps_its_whole_lung_fields():
    from pydicom.data import get_testdata_file

    from dfviewer.io import read_radiograph

    path = get_testdata_file("RG1_UNCR.dcm")
    if path is None:
        pytest.skip("pydicom-data has no RG1_UNCR.dcm")
    rg1 = read_radiograph(path).pixels
    h, w = rg1.shape
    whole = lung_mask(rg1)
    cut = (slice(int(0.12 * h), int(0.86 * h)), slice(int(0.1 * w), int(0.9 * w)))
    framed = lung_mask(rg1[cut])
    assert whole.found and framed.found
    # the same lungs: the framed mask agrees with the whole film's mask cut the same way (it once held the bases only)
    assert dice(framed.mask, whole.mask[cut]) > 0.8


# RG1_UNCR.dcm's lung fields, apices to costophrenic angles and outer edges, as fractions of the film
# (rows, cols): read by eye on a 5 % grid drawn over the full-resolution film (scripts/lung_crop_check.py
# --png draws them beside the crop box); about +-0.01 of reading error.
RG1_LUNGS = (0.09, 0.79, 0.09, 0.90)


def test_the_crop_box_of_a_real_chest_cr_holds_both_lungs_with_a_margin_and_leaves_the_abdomen_out():
    from pydicom.data import get_testdata_file

    from dfviewer.io import read_radiograph

    path = get_testdata_file("RG1_UNCR.dcm")
    if path is None:
        pytest.skip("pydicom-data has no RG1_UNCR.dcm")
    rg1 = read_radiograph(path).pixels
    h, w = rg1.shape
    box = lung_bbox(rg1)
    r0, r1, c0, c1 = box.row0 / h, box.row1 / h, box.col0 / w, box.col1 / w
    top, bottom, left, right = RG1_LUNGS
    assert box.found
    # the apices and the costophrenic angles inside, with a margin (it was the whole film's width from row 0)
    assert top - 0.08 <= r0 <= top - 0.01 and bottom + 0.005 <= r1 <= bottom + 0.08
    assert left - 0.08 <= c0 <= left - 0.01 and right + 0.01 <= c1 <= right + 0.08
    area = (r1 - r0) * (c1 - c0) / ((bottom - top) * (right - left))
    assert 1.05 < area < 1.4  # the lungs' box and a margin, not the film (1.76)


@pytest.mark.parametrize("index", [2, 5, 9])
def test_the_crop_box_holds_the_phantom_lungs_when_the_arms_lie_beside_the_chest(index):
    """These cases once gave a box in the abdomen (the lungs reached the air through the dim chest
    wall, so they were taken for air): now the box holds the true lungs."""
    from dfviewer import phantom

    case = phantom.simulate_case(0, index, phantom.PhantomConfig().replace(size=256))
    truth = case.masks["lung"].astype(bool)
    box = lung_bbox(case.attenuation)
    assert box.found
    assert truth[box.slices].sum() >= 0.99 * truth.sum()


def test_noise_with_dark_corners_is_not_taken_for_lungs():
    rng = np.random.default_rng(2)
    noise = (1.0 + 0.05 * rng.standard_normal((160, 160))).astype(np.float32)
    noise[:20, :20] = noise[:20, -20:] = 0.0  # air in two corners
    assert not lung_mask(noise).found


def _phantom_box_fit(index: int, family: str = "raw"):
    """(box, fraction of the true lung pixels inside it, box area / the true lungs' box area) for a
    phantom case at 256 px, optionally through a rendering family drawn as scripts/lung_crop_check.py does."""
    from dfviewer import phantom
    from dfviewer.imaging import clinical_rendering as rendering

    case = phantom.simulate_case(0, index, phantom.PhantomConfig().replace(size=256))
    image = case.attenuation
    if family != "raw":
        rng = np.random.default_rng([0, index])
        for name in rendering.FAMILIES[1:rendering.FAMILIES.index(family) + 1]:  # the same draws as the check
            image = rendering.render(case.attenuation, rng, name)
    truth = case.masks["lung"].astype(bool)
    box = lung_bbox(image)
    rows, cols = np.nonzero(truth.any(axis=1))[0], np.nonzero(truth.any(axis=0))[0]
    true_area = (rows[-1] + 1 - rows[0]) * (cols[-1] + 1 - cols[0])
    area = (box.row1 - box.row0) * (box.col1 - box.col0) / true_area
    return box, float(truth[box.slices].sum()) / float(truth.sum()), area, (rows, cols)


@pytest.mark.parametrize("index", [1, 21, 28])
def test_the_crop_box_leaves_out_the_arms_touching_the_lungs(index):
    """The arms beside the chest joined the lungs' dark class: the box took the shoulders, arms and
    flanks (2.6-3.0 x the true lungs' box); now the arms are cut off and the box fits the lungs."""
    box, kept, area, _ = _phantom_box_fit(index)
    assert box.found
    assert kept >= 0.99
    assert area <= 1.5


def test_the_crop_box_holds_the_lung_apices_above_the_shoulders():
    """The thorax rows (0.6 of the widest) began below the apices: 0.974 of the lungs was kept."""
    box, kept, area, _ = _phantom_box_fit(3)
    assert box.found and kept >= 0.99 and area <= 1.5


def test_the_crop_box_of_a_cr_rendering_is_not_put_in_the_abdomen():
    """Through the cr12 rendering this case's box once lay in the abdomen (0.055 of the lungs kept)."""
    box, kept, _, (rows, cols) = _phantom_box_fit(16, "cr12")
    assert kept >= 0.99
    centre_row, centre_col = (box.row0 + box.row1) / 2, (box.col0 + box.col1) / 2
    assert rows[0] <= centre_row <= rows[-1] and cols[0] <= centre_col <= cols[-1]
