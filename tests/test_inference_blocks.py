"""The torch-free building blocks of inference (resampling, preparation, masks, statistics, domain check)
against the torch computations they replace, which are kept here as the reference."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dfviewer.resources import resource_path


@pytest.fixture(scope="module")
def rg1(rg1_pixels) -> np.ndarray:
    return rg1_pixels


@pytest.fixture(scope="module")
def phantom() -> np.ndarray:
    from dfviewer.io import read_radiograph

    return read_radiograph(resource_path("samples", "healthy.dcm")).pixels


def torch_resample(array: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The torch resampling the product used before (bilinear, antialiased when either side shrinks)."""
    t = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))[None, None]
    shrinking = size[0] < t.shape[-2] or size[1] < t.shape[-1]
    with torch.inference_mode():
        out = F.interpolate(t, size=size, mode="bilinear", align_corners=False, antialias=shrinking)
    return out[0, 0].numpy()


def torch_prepare(image: np.ndarray, config, working_size: int) -> np.ndarray:
    """The former torch ``prepare_image``: normalise, resample, pad (reflect, or replicate when thin), expand."""
    from dfviewer.core.geometry import working_shape
    from dfviewer.core.normalize import normalize_input

    array = np.asarray(image, dtype=np.float32)
    t = torch.from_numpy(normalize_input(array, config.normalization))[None, None]
    size = working_shape(array.shape, working_size)
    if tuple(t.shape[-2:]) != size:
        shrinking = size[0] < t.shape[-2] or size[1] < t.shape[-1]
        t = F.interpolate(t, size=size, mode="bilinear", align_corners=False, antialias=shrinking)
    h, w = t.shape[-2:]
    pad_h, pad_w = (-h) % config.multiple, (-w) % config.multiple
    if pad_h or pad_w:
        t = F.pad(t, (0, pad_w, 0, pad_h), mode="reflect" if pad_h < h and pad_w < w else "replicate")
    return t.expand(-1, config.in_channels, -1, -1).contiguous().numpy()


@pytest.mark.parametrize("shape, size", [
    ((2048, 2048), (512, 512)), ((2048, 1700), (512, 425)), ((512, 512), (2048, 2048)),
    ((480, 512), (1841, 1955)), ((300, 200), (512, 341)), ((37, 53), (512, 733)), ((512, 400), (512, 300)),
    ((100, 100), (60, 140)), ((1, 5), (3, 1)), ((7, 1), (2, 9)), ((3001, 97), (64, 2)), ((64, 64), (64, 64)),
])
def test_resampling_matches_torch_interpolate(shape, size):
    from dfviewer.core.geometry import resample_map
    from dfviewer.core.resampling import resample_array

    image = np.random.default_rng(sum(shape) + sum(size)).random(shape, dtype=np.float32) * 4 - 1
    reference = torch_resample(image, size)
    for got in (resample_array(image, size), resample_map(image, size)):
        assert got.dtype == np.float32 and got.shape == size
        assert np.abs(got - reference).max() <= 1e-5


def test_a_side_shrunk_to_one_pixel_is_each_row_s_mean_not_the_first_row_s():
    """torch's antialiased kernel gives every row the first row's value when a width shrinks to 1 (torch
    2.x); on the transposed image (a height of 1) torch is right, and agrees with the numpy version."""
    from dfviewer.core.resampling import resample_array

    image = np.random.default_rng(1).random((300, 3), dtype=np.float32)
    got = resample_array(image, (64, 1))
    np.testing.assert_allclose(got, torch_resample(image.T, (1, 64)).T, atol=1e-5)
    assert np.ptp(got) > 0.1


_FORKED = """
import multiprocessing, sys
import numpy as np
from dfviewer.core.resampling import resample_array

def child(queue):
    queue.put(float(resample_array(np.ones((300, 300), np.float32), (2000, 2000)).sum()))

if __name__ == "__main__":
    resample_array(np.ones((300, 300), np.float32), (2000, 2000))  # the parent's helper threads exist now
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    worker = context.Process(target=child, args=(queue,))
    worker.start()
    print(queue.get(timeout=60))
    worker.join(60)
    sys.exit(worker.exitcode)
"""


def test_a_forked_worker_resamples_with_threads_of_its_own(tmp_path):
    """generate's readers may be forked from a process whose helper threads exist: the child makes its own."""
    import subprocess
    import sys

    script = tmp_path / "forked.py"
    script.write_text(_FORKED)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert float(done.stdout) == pytest.approx(2000 * 2000)


def test_one_core_and_shared_passes_give_the_same_values():
    import os
    import subprocess
    import sys

    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("one core: the passes are never shared here")
    code = ("import os, sys, numpy as np; from dfviewer.core.resampling import resample_array;"
            "os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:1]);"
            "a = np.random.default_rng(2).random((700, 650), dtype=np.float32);"
            "sys.stdout.buffer.write(resample_array(a, (1900, 2100)).tobytes())")
    one_core = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=120, check=True).stdout
    from dfviewer.core.resampling import resample_array

    shared = resample_array(np.random.default_rng(2).random((700, 650), dtype=np.float32), (1900, 2100))
    assert np.frombuffer(one_core, np.float32).reshape(1900, 2100).tobytes() == shared.tobytes()


def test_resampling_takes_views_and_other_dtypes():
    from dfviewer.core.resampling import resample_array

    base = np.random.default_rng(4).random((90, 120)) * 1000  # float64
    view = base[5:85:2, ::3]  # strided, not contiguous
    np.testing.assert_allclose(resample_array(view, (17, 23)), torch_resample(view, (17, 23)), atol=1e-4)


@pytest.mark.parametrize("in_channels", [1, 2])
@pytest.mark.parametrize("working_size", [64, 256, 512])
def test_prepare_image_matches_the_torch_preparation_on_real_radiographs(rg1, phantom, in_channels, working_size):
    from dfviewer.core.config import ModelConfig
    from dfviewer.core.prepare import prepare_image

    config = ModelConfig(preset="tiny", base_width=4, depth=3, working_size=64, in_channels=in_channels)
    for image in (rg1, phantom, rg1[:, :700]):
        prepared = prepare_image(image, config, working_size)
        reference = torch_prepare(image, config, working_size)
        assert isinstance(prepared.x, np.ndarray) and prepared.x.dtype == np.float32
        assert prepared.x.flags.c_contiguous and prepared.x.shape == reference.shape
        assert np.abs(prepared.x - reference).max() <= 1e-5
        assert prepared.shape == image.shape and max(prepared.work) == working_size


@pytest.mark.parametrize("shape", [(1, 300), (5, 400), (300, 9), (9, 9)])
def test_thin_images_are_padded_as_torch_pads_them(shape):
    """Reflect where the pad is shorter than the side, else replicate: thin images take the second path."""
    from dfviewer.core.config import ModelConfig
    from dfviewer.core.prepare import prepare_image

    config = ModelConfig(preset="tiny", base_width=4, depth=3, working_size=64)
    image = np.random.default_rng(1).random(shape, dtype=np.float32)
    prepared = prepare_image(image, config, 64)
    assert np.abs(prepared.x - torch_prepare(image, config, 64)).max() <= 1e-5


def test_sample_masks_are_a_seeded_numpy_stream():
    from dfviewer.core.mc_masks import sample_masks

    layers = [{"kind": "channel", "channels": 64, "factor": 8}, {"kind": "element", "channels": 16, "factor": 2}]
    a = sample_masks(3, 5, layers, 0.25, 64, 96)
    assert [m.shape for m in a] == [(64, 1, 1), (16, 32, 48)] and all(m.dtype == np.float32 for m in a)
    for got, again in zip(a, sample_masks(3, 5, layers, 0.25, 64, 96)):
        np.testing.assert_array_equal(got, again)
    assert set(np.unique(a[1]).tolist()) == {0.0, np.float32(1) / np.float32(0.75)}
    assert abs(float((a[1] > 0).mean()) - 0.75) < 0.02  # kept with probability 1 - p
    others = [sample_masks(3, 6, layers, 0.25, 64, 96)[1], sample_masks(4, 5, layers, 0.25, 64, 96)[1]]
    assert all(not np.array_equal(a[1], other) for other in others)
    # the masks of one sample are the draws of one numpy generator seeded with (seed, sample), in layer order
    rng = np.random.default_rng(np.random.SeedSequence([3, 5]))
    first = (rng.random((64, 1, 1), dtype=np.float32) < np.float32(0.75)).astype(np.float32) / np.float32(0.75)
    np.testing.assert_array_equal(a[0], first)
    assert all((m == 1).all() for m in sample_masks(3, 5, layers, 0.0, 64, 96))


def test_the_torch_path_multiplies_in_exactly_the_sampled_masks(tiny_model_config):
    """seeded_dropout's masks, read back from the layers' inputs and outputs, are sample_masks' arrays."""
    from dfviewer.core.export import dropout_layers
    from dfviewer.core.mc_masks import sample_masks
    from dfviewer.core.network import Cascade, dropout_modules, seeded_dropout

    torch.manual_seed(2)
    model = Cascade(tiny_model_config).eval()
    height, width = 32, 48
    layers = dropout_layers(model, height, width)
    rows = [(7, 0), (7, 1), (123, 4)]
    seen: list[tuple[np.ndarray, np.ndarray]] = []
    x = torch.rand(len(rows), tiny_model_config.in_channels, height, width)
    with seeded_dropout(model, rows), torch.inference_mode():
        # hooks registered after seeded_dropout's see its output
        handles = [m.register_forward_hook(lambda _m, i, o: seen.append((i[0].numpy().copy(), o.numpy().copy())))
                   for m in dropout_modules(model)]
        model(x)
        for handle in handles:
            handle.remove()
    assert len(seen) == len(layers)
    dropped = 0
    for r, (seed, sample) in enumerate(rows):
        expected = sample_masks(seed, sample, layers, tiny_model_config.dropout, height, width)
        for (before, after), mask in zip(seen, expected):
            np.testing.assert_array_equal(after[r], before[r] * mask)
            dropped += int((mask == 0).sum())
    assert dropped > 0


def test_a_sample_is_the_same_in_a_pass_of_one_row_or_of_sixteen(tiny_checkpoint, rg1):
    from dfviewer.core.inference import Predictor

    predictor = Predictor.from_checkpoint(tiny_checkpoint, "cpu")
    results = []
    for chunk in (1, 16):
        predictor.chunk_size = chunk
        results.append(predictor.predict(rg1, 16, seed=9, network_units=True))
    for a, b in zip(*results):
        for name in ("mean", "aleatoric", "epistemic"):
            np.testing.assert_allclose(a.map(name), b.map(name), rtol=0, atol=1e-6)
    # and in a batch beside another image, as generate runs it
    predictor.chunk_size = None
    alone = predictor.predict_batch([rg1], 4, seeds=[5], network_units=True)[0]
    beside = predictor.predict_batch([rg1[::-1].copy(), rg1], 4, seeds=[6, 5], network_units=True)[1]
    assert not isinstance(alone, Exception) and not isinstance(beside, Exception)
    for a, b in zip(alone, beside):
        np.testing.assert_allclose(a.epistemic, b.epistemic, rtol=0, atol=1e-6)


def test_running_statistics_are_the_mean_and_population_std_of_the_samples():
    from dfviewer.core.mc_stats import RunningMapStats, deterministic_maps

    rng = np.random.default_rng(0)
    samples = {name: rng.random((7, 1, 5, 6), dtype=np.float32) for name in ("mean", "alpha", "beta", "sigma")}
    stats = RunningMapStats()
    stats.add(*(samples[name][:3] for name in ("mean", "alpha", "beta", "sigma")))
    stats.add(*(samples[name][3:] for name in ("mean", "alpha", "beta", "sigma")))
    got = stats.snapshot()
    assert stats.n == 7 and all(v.dtype == np.float32 and v.shape == (1, 1, 5, 6) for v in got.values())
    np.testing.assert_allclose(got["mean"][0], samples["mean"].mean(0), atol=1e-6)
    np.testing.assert_allclose(got["epistemic"][0], samples["mean"].std(0), atol=1e-6)
    for name, key in (("alpha", "alpha"), ("beta", "beta"), ("aleatoric", "sigma")):
        np.testing.assert_allclose(got[name][0], samples[key].mean(0), atol=1e-6)
    got["mean"][...] = 99  # a snapshot is a copy
    assert stats.snapshot()["mean"].max() < 1
    single = deterministic_maps(*(samples[name][:1] for name in ("mean", "alpha", "beta", "sigma")))
    assert (single["epistemic"] == 0).all() and np.array_equal(single["aleatoric"], samples["sigma"][:1])


def torch_domain_features(normalized: np.ndarray, layout_blocks: int, texture_blocks: int) -> np.ndarray:
    """The former torch description: 64 x 64 adaptive means, their block means and block standard deviations."""
    t = torch.from_numpy(np.ascontiguousarray(normalized, dtype=np.float32))[None, None]
    with torch.inference_mode():
        fine = F.adaptive_avg_pool2d(t, 64)
        layout = F.adaptive_avg_pool2d(fine, layout_blocks)
        k = 64 // texture_blocks
        mean = F.avg_pool2d(fine, k)
        texture = (F.avg_pool2d(fine * fine, k) - mean * mean).clamp_min(0).sqrt()
    return torch.cat([layout.ravel(), texture.ravel()]).numpy().astype(np.float64)


def test_domain_features_and_scores_match_the_torch_computation(rg1, phantom):
    from dfviewer.core.checkpoint import load_checkpoint
    from dfviewer.core.domain import LAYOUTS, DomainModel, domain_features
    from dfviewer.core.normalize import normalize_input

    metadata = load_checkpoint(resource_path("models", "demo.safetensors")).metadata
    model = DomainModel.from_dict(metadata["domain_check"])
    norm = load_checkpoint(resource_path("models", "demo.safetensors")).config.normalization
    rng = np.random.default_rng(3)
    images = [rg1, phantom, rg1[:, :613], 1 - rg1, rng.random((130, 67), dtype=np.float32),
              rng.random((2, 9), dtype=np.float32)]
    for image in images:
        normalized = normalize_input(image, norm)
        for features, (layout_blocks, texture_blocks) in LAYOUTS.items():
            got = domain_features(normalized, features)
            reference = torch_domain_features(normalized, layout_blocks, texture_blocks)
            n_layout = layout_blocks**2
            assert got.dtype == np.float64 and got.shape == reference.shape
            assert np.abs(got[:n_layout] - reference[:n_layout]).max() <= 1e-5
            # block standard deviations of near-flat blocks cancel in float32: torch's rounding shows there
            assert np.abs(got[n_layout:] - reference[n_layout:]).max() <= 2e-4
        score = model.score_image(normalized)
        reference_score = model.score(torch_domain_features(normalized, *LAYOUTS[model.features]))
        assert score == pytest.approx(reference_score, rel=1e-4)
        assert (score > model.threshold) == (reference_score > model.threshold)


def test_a_non_finite_or_flat_image_gets_finite_features():
    from dfviewer.core.domain import domain_features

    image = np.zeros((50, 70), np.float32)
    image[3, 4] = np.nan
    image[10, 10] = np.inf
    assert np.isfinite(domain_features(image)).all()
    assert (domain_features(np.full((40, 40), 0.3, np.float32))[16:] == 0).all()


def test_the_domain_check_rejects_what_it_rejected(rg1):
    from dfviewer.core.domain import domain_features
    from dfviewer.errors import UserError

    with pytest.raises(UserError, match="two-dimensional"):
        domain_features(np.ones((1, 50), np.float32))
    with pytest.raises(UserError, match="unknown domain-check features"):
        domain_features(rg1, "nope")


def test_normalisation_and_preparation_keep_float32_and_the_input(rg1):
    from dfviewer.core.config import ModelConfig, Normalization
    from dfviewer.core.prepare import prepare_image

    before = rg1.copy()
    for norm in (Normalization(), Normalization(input_mode="equalize"), Normalization(input_mode="fixed",
                                                                                     input_high=4000.0)):
        config = dataclasses.replace(ModelConfig(preset="tiny", base_width=4, depth=2, working_size=64),
                                     normalization=norm)
        prepared = prepare_image(rg1, config)
        assert prepared.x.dtype == np.float32 and np.isfinite(prepared.x).all()
        assert np.abs(prepared.x - torch_prepare(rg1, config, 64)).max() <= 1e-5
    np.testing.assert_array_equal(rg1, before)


def test_resampling_takes_no_more_threads_than_its_budget():
    from dfviewer.core import resampling

    try:
        resampling.set_threads(1)
        assert resampling._helper_pool() is None
        resampling.set_threads(3)
        pool = resampling._helper_pool()
        assert pool is not None and pool[0] == 2
        resampling.set_threads(64)
        pool = resampling._helper_pool()
        assert pool is not None and pool[0] == 3  # at most three helpers
    finally:
        resampling.set_threads(None)
