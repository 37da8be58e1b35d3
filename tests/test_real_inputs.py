"""Inputs as clinical systems deliver them: the normalisation, rendered training, the domain check,
``evaluate --renderings`` and ``domain-fit``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from _dfv_pairs import make_pairs

from dfviewer.core.config import Normalization, TrainConfig
from dfviewer.core.normalize import normalize_input
from dfviewer.errors import UserError

EQUALIZE = Normalization(input_mode="equalize", input_region="thorax")


@pytest.fixture(scope="module")
def phantom_case():
    from dfviewer.phantom import PhantomConfig, simulate_case

    return simulate_case(2026, 0, PhantomConfig(size=128))


def dfviewer(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "dfviewer", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, timeout=600)


# --- normalisation --------------------------------------------------------------------------


@pytest.mark.parametrize("curve", ["window", "gamma", "log", "sigmoid_12bit"])
def test_equalize_is_invariant_to_a_monotone_grey_value_curve(phantom_case, curve):
    from dfviewer.imaging import clinical_rendering as R

    x = phantom_case.attenuation
    lo, hi = np.percentile(x, [0.5, 99.9])
    changed = {
        "window": lambda a: 4095 * R.voi_linear(a, (lo + hi) / 2, (hi - lo) * 1.1) + 17,
        "gamma": lambda a: R.tone_curve(R.voi_linear(a, (lo + hi) / 2, (hi - lo) * 1.1), "gamma", 0.6),
        "log": lambda a: R.tone_curve(R.voi_linear(a, (lo + hi) / 2, (hi - lo) * 1.1), "log", 20.0),
        "sigmoid_12bit": lambda a: R.quantize(R.voi_sigmoid(a, (lo + hi) / 2, (hi - lo) * 0.6), 12),
    }[curve](x)
    a, b = normalize_input(x, EQUALIZE), normalize_input(changed, EQUALIZE)
    assert a.min() >= 0 and a.max() <= 1 and a.dtype == np.float32
    # the same network input up to the grey levels a 12-bit store merges; a percentile window moves far more
    assert np.mean(np.abs(a - b)) < 0.003 and np.percentile(np.abs(a - b), 99) < 0.02
    p_a, p_b = normalize_input(x, Normalization()), normalize_input(changed, Normalization())
    if curve != "window":
        assert np.mean(np.abs(p_a - p_b)) > 5 * np.mean(np.abs(a - b))


def test_thorax_region_ignores_what_happens_at_the_edges(phantom_case):
    x = phantom_case.attenuation
    marked = x.copy()
    marked[:10, :40] = 50.0  # a saturated text block in a corner
    for norm in (EQUALIZE, Normalization(input_region="thorax")):
        a, b = normalize_input(x, norm), normalize_input(marked, norm)
        assert np.array_equal(a[20:, :], b[20:, :])
    whole = Normalization(input_mode="equalize")
    assert not np.array_equal(normalize_input(x, whole)[20:], normalize_input(marked, whole)[20:])


def test_flat_and_tiny_images_normalise_to_zeros_not_nan():
    for norm in (EQUALIZE, Normalization(input_region="thorax")):
        assert not normalize_input(np.full((30, 30), 3.0, np.float32), norm).any()
        assert np.isfinite(normalize_input(np.arange(12, dtype=np.float32).reshape(3, 4), norm)).all()


def test_new_settings_are_validated_in_one_sentence():
    with pytest.raises(UserError, match="input_region"):
        Normalization(input_region="lungs")
    for bad, sentence in (({"render_input": 1.5}, "render_input must be in [0, 1]"),
                          ({"augment_zoom": -0.1}, "augment_zoom must be in [0, 0.5]"),
                          ({"augment_shift": 0.5}, "augment_shift must be in [0, 0.25]")):
        with pytest.raises(UserError) as info:
            TrainConfig(**bad)
        assert str(info.value) == sentence


# --- training data ----------------------------------------------------------------------------


def test_rendered_training_inputs_change_the_input_only(tmp_path):
    from dfviewer.core.data import Augment, PairedDataset
    from dfviewer.core.dataset_check import check_dataset

    pairs = check_dataset(make_pairs(tmp_path / "d", n=6, size=48)).split("train")
    plain = PairedDataset(pairs, EQUALIZE, 48)
    rendered = PairedDataset(pairs, EQUALIZE, 48, Augment(render=1.0), seed=3)
    changed = 0
    for i in range(len(pairs)):
        x0, y0, v0 = plain[i]
        x1, y1, v1 = rendered[i]
        assert torch_equal(y0, y1) and torch_equal(v0, v1)
        assert x1.shape == x0.shape and float(x1.min()) >= 0 and float(x1.max()) <= 1
        changed += not torch_equal(x0, x1)
        assert torch_equal(x1, rendered[i][0])  # the same draw for the same (seed, epoch, index)
    assert changed >= len(pairs) - 1
    rendered.epoch = 1
    assert any(not torch_equal(rendered[i][0], PairedDataset(pairs, EQUALIZE, 48, Augment(render=1.0), 3)[i][0])
               for i in range(len(pairs)))
    # with a probability of 0 the raw inputs pass unchanged, normalised as the plain dataset does
    never = PairedDataset(pairs, EQUALIZE, 48, Augment(render=1e-12))
    assert all(torch_equal(never[i][0], plain[i][0]) for i in range(len(pairs)))


def torch_equal(a, b) -> bool:
    import torch

    return bool(torch.equal(a, b))


def test_zoom_and_shift_move_input_and_target_together(tmp_path):
    from dfviewer.core.data import Augment, PairedDataset
    from dfviewer.core.dataset_check import check_dataset

    pairs = check_dataset(make_pairs(tmp_path / "d", n=4, size=48)).split("train")
    ds = PairedDataset(pairs, Normalization(), 48, Augment(zoom=0.2, shift=0.1), seed=1)
    plain = PairedDataset(pairs, Normalization(), 48)
    x, y, _ = ds[0]
    x0, y0, _ = plain[0]
    assert not torch_equal(x, x0) and not torch_equal(y, y0)
    # the attenuation 'lung' disc and the dark-field disc stay on the same pixels
    dark = (x[0] < x[0].mean() - x[0].std()).numpy()
    bright = (y[0] > y[0].mean() + y[0].std()).numpy()
    assert (dark & bright).sum() > 0.5 * min(dark.sum(), bright.sum())


def test_field_of_view_crop_moves_input_and_target_together_and_keeps_the_shape(tmp_path):
    from dfviewer.core.data import Augment, PairedDataset
    from dfviewer.core.dataset_check import check_dataset

    pairs = check_dataset(make_pairs(tmp_path / "d", n=4, size=48)).split("train")
    ds = PairedDataset(pairs, Normalization(), 48, Augment(crop=0.3), seed=2)
    plain = PairedDataset(pairs, Normalization(), 48)
    x, y, valid = ds[1]
    x0, y0, valid0 = plain[1]
    assert x.shape == x0.shape and y.shape == y0.shape and torch_equal(valid, valid0)
    assert not torch_equal(x, x0) and not torch_equal(y, y0)
    assert torch_equal(x, PairedDataset(pairs, Normalization(), 48, Augment(crop=0.3), seed=2)[1][0])  # seeded
    # the 'lung' disc of the input and the bright disc of the target stay on the same pixels
    dark = (x[0] < x[0].mean() - x[0].std()).numpy()
    bright = (y[0] > y[0].mean() + y[0].std()).numpy()
    assert (dark & bright).sum() > 0.5 * min(dark.sum(), bright.sum())
    assert PairedDataset(pairs, Normalization(), 48, Augment(crop=0.0), seed=2).augment.active is False


# --- domain check ----------------------------------------------------------------------------


def _fitted_domain(seed: int = 0):
    from dfviewer.core.domain import fit_domain_model, stack_features

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:64, 0:64] / 64.0

    def chest():
        cx = 0.5 + rng.normal(0, 0.02)
        lungs = ((xx - cx + 0.2) ** 2 / 0.02 + (yy - 0.5) ** 2 / 0.08 < 1) | (
            (xx - cx - 0.2) ** 2 / 0.02 + (yy - 0.5) ** 2 / 0.08 < 1)
        img = np.where(lungs, 0.2, 0.8) + rng.normal(0, 0.05, (64, 64))
        return normalize_input(img.astype(np.float32), EQUALIZE)

    model = fit_domain_model(stack_features(chest() for _ in range(80)), stack_features(chest() for _ in range(40)))
    return model, chest


def test_domain_check_flags_what_is_unlike_its_training_inputs():
    from dfviewer.core.domain import DomainModel, domain_features

    model, chest = _fitted_domain()
    fresh = [model.flagged(domain_features(chest())) for _ in range(100)]
    assert sum(fresh) <= 5
    inverted = 1 - chest()
    assert model.flagged(domain_features(inverted))
    assert model.flagged(domain_features(normalize_input(np.random.default_rng(1).random((64, 64), np.float32),
                                                         EQUALIZE)))
    again = DomainModel.from_dict(json.loads(json.dumps(model.to_dict())))
    f = domain_features(chest())
    assert abs(again.score(f) - model.score(f)) < 1e-3 * max(1.0, model.score(f))


def test_a_domain_check_of_the_earlier_8x8_layout_still_loads_and_scores():
    import dataclasses

    from dfviewer.core.domain import DomainModel, domain_features, fit_domain_model

    _, chest = _fitted_domain()
    old = "blockmean8+blockstd8"
    fitted = fit_domain_model(np.stack([domain_features(chest(), old) for _ in range(80)]),
                              np.stack([domain_features(chest(), old) for _ in range(40)]))
    model = DomainModel.from_dict(dataclasses.replace(fitted, features=old).to_dict())
    assert len(model.mean) == 128
    assert model.score_image(chest()) < model.threshold * 3 < model.score_image(1 - chest())
    with pytest.raises(UserError, match="domain check is damaged"):
        DomainModel.from_dict({**model.to_dict(), "features": "blockmean4+blockstd8"})  # 128 numbers, not 80


def test_a_damaged_domain_check_is_one_sentence():
    from dfviewer.core.domain import DomainModel

    model, _ = _fitted_domain()
    data = model.to_dict()
    for damage in ({"threshold": float("nan")}, {"variances": [-1.0] * len(model.variances)},
                   {"mean": [0.0]}, {"unknown": 1}):
        with pytest.raises(UserError, match="domain check is damaged"):
            DomainModel.from_dict({**data, **damage})


def test_predictor_warns_only_with_a_domain_check(tiny_checkpoint, tmp_path):
    from dfviewer.core.checkpoint import load_checkpoint, save_checkpoint
    from dfviewer.core.inference import Predictor

    model, chest = _fitted_domain()
    ckpt = load_checkpoint(tiny_checkpoint)
    plain = Predictor.from_checkpoint(ckpt, device="cpu")
    assert plain.domain is None and plain.domain_score(chest()) is None and plain.input_warning(1 - chest()) is None
    path = save_checkpoint(tmp_path / "checked.safetensors", ckpt.build_model(),
                           {**ckpt.metadata, "domain_check": model.to_dict()})
    checked = Predictor.from_checkpoint(path, device="cpu")
    assert checked.input_warning(chest()) is None
    sentence = checked.input_warning(1 - chest())
    assert sentence and "frontal chest radiograph" in sentence and "\n" not in sentence


# --- command line ----------------------------------------------------------------------------


def test_domain_fit_then_evaluate_with_renderings_end_to_end(tmp_path, tiny_checkpoint):
    data = make_pairs(tmp_path / "d", n=18, size=40, val=6, test=2)
    model = tmp_path / "m.safetensors"
    fit = dfviewer("domain-fit", "--model", tiny_checkpoint, "--data", data, "--out", model, "--renderings", "2")
    assert fit.returncode == 0, fit.stderr
    assert "threshold" in fit.stdout
    from dfviewer.core.checkpoint import load_checkpoint

    meta = load_checkpoint(model).metadata
    assert meta["domain_check"]["quantile"] == 0.999 and "note" in meta  # the old metadata is kept

    out = tmp_path / "report.json"
    result = dfviewer("evaluate", "--model", model, "--data", data, "--mc", "2", "--renderings", "1", "--out", out)
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    families = report["renderings"]["families"]
    assert list(families) == ["raw", "png8", "cr12", "clahe_jpeg", "multiscale"]
    assert families["raw"]["consistency_r"]["mean"] == pytest.approx(1.0)
    assert families["raw"]["mse_ratio_to_raw"] == pytest.approx(1.0)
    for d in families.values():
        assert d["views"] == 2 and set(d["stages"]) == {"1", "2", "3"}
        assert 0 <= d["flagged_fraction"] <= 1 and d["max_total_sigma"] > 0
    assert "By rendering" in out.with_suffix(".md").read_text() and "clahe_jpeg" in result.stdout


@pytest.mark.parametrize("args, words", [
    (["--renderings", "-1"], "--renderings must be 0 or more"),
])
def test_evaluate_refuses_bad_rendering_counts(tmp_path, tiny_checkpoint, args, words):
    data = make_pairs(tmp_path / "d", n=6, size=40)
    result = dfviewer("evaluate", "--model", tiny_checkpoint, "--data", data, *args)
    assert result.returncode == 2 and words in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("args, words", [
    (["--quantile", "1.5"], "--quantile must be"),
    (["--render", "2"], "--render must be a probability"),
    (["--renderings", "0"], "at least 1"),
    (["--crop", "1"], "--crop must be"),
    (["--crop", "-0.1"], "--crop must be"),
])
def test_domain_fit_refuses_bad_settings_in_one_sentence(tmp_path, tiny_checkpoint, args, words):
    data = make_pairs(tmp_path / "d", n=14, size=40, val=4)
    result = dfviewer("domain-fit", "--model", tiny_checkpoint, "--data", data, "--out", tmp_path / "x.safetensors",
                      *args)
    assert result.returncode == 2 and words in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "x.safetensors").exists()


def test_domain_fit_on_a_wrong_folder_is_one_sentence(tmp_path, tiny_checkpoint):
    result = dfviewer("domain-fit", "--model", tiny_checkpoint, "--data", tmp_path / "nowhere")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


# --- the bundled model's domain check on real files ----------------------------------------------

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bundled():
    from dfviewer.core.inference import Predictor

    return Predictor.from_checkpoint(REPO / "resources" / "models" / "demo.safetensors", device="cpu")


def _dicom(name: str) -> np.ndarray:
    from pydicom.data import get_testdata_file

    from dfviewer.io import read_radiograph

    path = get_testdata_file(name)
    if path is None:
        pytest.skip(f"pydicom-data has no {name}")
    return read_radiograph(path).pixels


def test_bundled_model_takes_a_real_chest_cr_and_flags_what_is_not_one(bundled):
    assert bundled.domain is not None
    rg1 = _dicom("RG1_UNCR.dcm")
    assert bundled.input_warning(rg1) is None
    assert bundled.input_warning(rg1.max() - rg1)  # inverted
    assert bundled.input_warning(rg1[:, ::-1].copy()) is None  # mirrored: still a frontal chest film
    for turns in (1, 2, 3):  # a film stored on its side or upside down
        assert bundled.input_warning(np.rot90(rg1, turns).copy()), f"RG1 turned {90 * turns} degrees"
    assert bundled.input_warning(rg1[::-1].copy()), "RG1 upside down"
    h, w = rg1.shape
    for top, bottom, left, right in ((0.1, 0.95, 0.05, 0.9), (0.0, 0.85, 0.1, 1.0), (0.15, 1.0, 0.0, 0.8)):
        framed = rg1[int(top * h):int(bottom * h), int(left * w):int(right * w)]  # a tighter collimation
        assert bundled.input_warning(framed) is None, (top, bottom, left, right)
    for name in ("CT_small.dcm", "MR_small.dcm", "US1_UNCR.dcm", "693_UNCR.dcm", "MR2_UNCR.dcm"):
        sentence = bundled.input_warning(_dicom(name))
        assert sentence and "frontal chest radiograph" in sentence, name


def test_bundled_model_rarely_flags_rendered_phantom_cases(bundled):
    from dfviewer.imaging.clinical_rendering import render
    from dfviewer.phantom import PhantomConfig, simulate_case

    flagged = views = 0
    for i in range(16):
        x = simulate_case(2031, i, PhantomConfig(size=256)).attenuation
        for r in range(4):
            image = x if r == 0 else render(x, np.random.default_rng([2031, i, r]))
            flagged += bundled.input_warning(image) is not None
            views += 1
    assert flagged <= 0.02 * views + 1e-9, f"{flagged} of {views} flagged"
