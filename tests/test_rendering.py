"""Tests for the clinical rendering chain (dfviewer.imaging.clinical_rendering)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy.stats import spearmanr

from dfviewer.imaging import clinical_rendering as R
from dfviewer.phantom import poses

N = 64


def _chest(n: int = N) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A smooth -ln T-like synthetic chest: a body ellipse, two dark lungs with rib stripes, air
    around. Returns the image, the lung mask and a mediastinum (centre column) mask."""
    y, x = np.mgrid[0:n, 0:n].astype(np.float64) / (n - 1) * 2 - 1
    body = ((x / 0.9) ** 2 + (y / 0.95) ** 2) < 1
    img = np.where(body, 3.5, 0.0)
    lungs = np.zeros((n, n), bool)
    for cx in (-0.45, 0.45):
        lungs |= ((x - cx) / 0.3) ** 2 + ((y + 0.05) / 0.6) ** 2 < 1
    img = np.where(lungs, 1.6 + 0.3 * (y + 0.05), img)
    ribs = 0.25 * (np.sin(y * 18) > 0.6) * lungs
    img = img + ribs + 0.5 * np.exp(-((x / 0.15) ** 2)) * body
    from scipy import ndimage

    img = ndimage.gaussian_filter(img, 1.0).astype(np.float32)
    centre = (np.abs(x) < 0.08) & (np.abs(y) < 0.5)
    return img, lungs, centre


IMG, LUNGS, CENTRE = _chest()
UNIT = np.clip(IMG / IMG.max(), 0, 1).astype(np.float32)


def _ok(out: np.ndarray, shape=(N, N)) -> None:
    assert out.shape == shape
    assert out.dtype == np.float32
    assert np.isfinite(out).all()


DETERMINISTIC_STEPS = {
    "identity": lambda a: R.identity(a),
    "voi_linear": lambda a: R.voi_linear(a, 0.5, 0.8),
    "voi_sigmoid": lambda a: R.voi_sigmoid(a, 0.5, 0.8),
    "tone_gamma": lambda a: R.tone_curve(a, "gamma", 0.7),
    "tone_log": lambda a: R.tone_curve(a, "log", 3.0),
    "multiscale": lambda a: R.multiscale_enhance(a, 1.8, 4, 0.6),
    "unsharp": lambda a: R.unsharp(a, ((1.0, 0.5), (4.0, 0.5), (8.0, 0.3))),
    "clahe": lambda a: R.equalize(a, 0.01),
    "histeq": lambda a: R.equalize(a, None),
    "quantize": lambda a: R.quantize(a, 12),
    "jpeg": lambda a: R.jpeg(a, 80),
    "resample_coarse": lambda a: R.resample_spacing(a, 2.0),
    "resample_fine": lambda a: R.resample_spacing(a, 0.6),
    "blur": lambda a: R.detector_blur(a, 1.0),
}

RANDOM_STEPS = {
    "noise": lambda a, rng: R.detector_noise(a, rng, 0.02),
    "collimation": lambda a, rng: R.collimation(a, rng),
    "text": lambda a, rng: R.burn_in_text(a, rng),
    "grid": lambda a, rng: R.grid_lines(a, rng),
}


@pytest.mark.parametrize("name", sorted(DETERMINISTIC_STEPS))
def test_deterministic_steps(name):
    fn = DETERMINISTIC_STEPS[name]
    a, b = fn(UNIT), fn(UNIT)
    _ok(a)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(UNIT, np.clip(IMG / IMG.max(), 0, 1))  # input untouched


@pytest.mark.parametrize("name", sorted(RANDOM_STEPS))
def test_random_steps_seeded(name):
    fn = RANDOM_STEPS[name]
    a = fn(UNIT, np.random.default_rng(3))
    b = fn(UNIT, np.random.default_rng(3))
    _ok(a)
    np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, fn(UNIT, np.random.default_rng(s))) for s in (4, 5, 6))


def test_identity_is_exact():
    out = R.identity(IMG)
    np.testing.assert_array_equal(out, IMG)
    assert out is not IMG


def test_raw_family_is_exact_copy():
    out = R.render(IMG, np.random.default_rng(0), family="raw")
    np.testing.assert_array_equal(out, IMG)
    assert out is not IMG and out.dtype == np.float32


@pytest.mark.parametrize("family", R.FAMILIES + ("mixture", None))
def test_families_run_deterministic(family):
    for seed in range(3):
        a, steps = R.render(IMG, np.random.default_rng(seed), family=family, return_steps=True)
        b = R.render(IMG, np.random.default_rng(seed), family=family)
        _ok(a)
        np.testing.assert_array_equal(a, b)
        assert steps and isinstance(R.render_description(steps), str)
        assert R.render_description(steps, short=False)


@pytest.mark.parametrize("family", R.FAMILIES + ("mixture", None))
def test_lungs_darker_than_mediastinum(family):
    for seed in range(10):
        out = R.render(IMG, np.random.default_rng(seed), family=family)
        assert out[LUNGS].mean() < out[CENTRE].mean(), (family, seed)


def test_render_not_saturated():
    for seed in range(10):
        out, steps = R.render(IMG, np.random.default_rng(seed), family="png8", return_steps=True)
        body = IMG > 0.5
        frac_sat = np.mean((out[body] == 0) | (out[body] == 255))
        assert frac_sat < 0.2, (seed, steps)


def test_render_random_family_leaves_about_one_in_seven_images_raw():
    raw = 0
    for seed in range(200):
        out, steps = R.render(IMG, np.random.default_rng(seed), return_steps=True)
        if steps == [("identity", {})]:
            raw += 1
            np.testing.assert_array_equal(out, IMG)  # untouched pixels (a copy)
            assert out is not IMG
        else:
            assert not np.array_equal(out, IMG), steps
    assert 0.08 < raw / 200 < 0.22  # drawn with probability 0.15


@pytest.mark.parametrize("fn", [lambda a: R.voi_linear(a, 0.5, 0.8), lambda a: R.voi_sigmoid(a, 0.5, 0.8),
                                lambda a: R.tone_curve(a, "gamma", 0.6), lambda a: R.tone_curve(a, "log", 4.0)])
def test_monotone_steps_keep_order(fn):
    out = fn(UNIT)
    inside = (UNIT > 0.12) & (UNIT < 0.88)  # unclipped range of the windows above
    rho = spearmanr(UNIT[inside], out[inside]).correlation
    assert rho > 0.999
    # strictly non-decreasing mapping
    order = np.argsort(UNIT.ravel(), kind="stable")
    assert np.all(np.diff(out.ravel()[order]) >= 0)


@pytest.mark.parametrize("bits", [8, 10, 12, 16])
def test_quantize_integers(bits):
    out = R.quantize(UNIT, bits)
    _ok(out)
    assert np.array_equal(out, np.round(out))
    assert out.min() >= 0 and out.max() <= 2 ** bits - 1
    assert out.max() == 2 ** bits - 1


def test_jpeg_range():
    out = R.jpeg(UNIT, 75)
    _ok(out)
    assert out.min() >= 0 and out.max() <= 255
    assert np.abs(out / 255 - UNIT).mean() < 0.02


def test_multiscale_identity_parameters_reconstruct():
    out = R.multiscale_enhance(IMG, gain=1.0, levels=3, power=1.0, residual_scale=1.0)
    np.testing.assert_allclose(out, IMG, atol=1e-4)
    odd = IMG[:61, :59]
    _ok(R.multiscale_enhance(odd, 2.0, 4, 0.5), shape=odd.shape)


def test_resample_keeps_alignment():
    # a coarser pitch must not shift the image: the centroid of a blob stays put
    blob = np.zeros((N, N), np.float32)
    blob[20:26, 37:43] = 1
    out = R.resample_spacing(blob, 2.0)
    yy, xx = np.mgrid[0:N, 0:N]
    cy, cx = (yy * out).sum() / out.sum(), (xx * out).sum() / out.sum()
    assert abs(cy - 22.5) < 0.3 and abs(cx - 39.5) < 0.3


def test_text_and_collimation_stay_out_of_lung_centre():
    for seed in range(10):
        out = R.burn_in_text(UNIT, np.random.default_rng(seed), value=5.0)
        rows = np.where((out == 5.0).any(axis=1))[0]
        assert rows.size and np.all((rows < 0.2 * N) | (rows > 0.8 * N))
        col = R.collimation(UNIT, np.random.default_rng(seed))
        np.testing.assert_array_equal(col[10:54, 10:54], UNIT[10:54, 10:54])


def test_pose():
    ident = poses.apply_pose(IMG, poses.Pose())
    np.testing.assert_array_equal(ident, IMG)
    pose = poses.random_pose(np.random.default_rng(0))
    assert abs(pose.angle_deg) <= 5 and abs(pose.zoom - 1) <= 0.12
    assert abs(pose.shift_x) <= 0.05 and abs(pose.shift_y) <= 0.05
    out = poses.apply_pose(IMG, pose)
    _ok(out)
    assert not np.array_equal(out, IMG)
    stack = poses.apply_pose(np.stack([IMG, IMG]), pose)
    np.testing.assert_array_equal(stack[1], out)
    with pytest.raises(dataclasses.FrozenInstanceError):
        pose.zoom = 2.0
    # a pure shift moves content by the expected number of pixels
    blob = np.zeros((N, N), np.float32)
    blob[30:34, 30:34] = 1
    moved = poses.apply_pose(blob, poses.Pose(shift_x=4 / N), order=0)
    np.testing.assert_array_equal(moved[30:34, 34:38], 1)


@pytest.mark.parametrize("call", [
    lambda: R.quantize(UNIT, 7),
    lambda: R.render(IMG, np.random.default_rng(0), family="nope"),
    lambda: R.tone_curve(UNIT, "cubic", 1.0),
    lambda: R.voi_linear(UNIT, 0.5, 0.0),
    lambda: R.unsharp(UNIT, ()),
    lambda: R.render(np.zeros((2, 3, 4), np.float32), np.random.default_rng(0)),
])
def test_bad_arguments(call):
    with pytest.raises(ValueError) as info:
        call()
    msg = str(info.value)
    assert msg.endswith(".") and msg.count(". ") == 0
