"""The predictor on a tiny random cascade: shapes, MC dropout, seeds, cancel, checkpoints."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import torch

from dfviewer.core.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from dfviewer.core.config import ModelConfig, Normalization
from dfviewer.core.inference import (
    MAP_NAMES,
    Prediction,
    PredictionCancelled,
    Predictor,
    StageResult,
    select_device,
)
from dfviewer.core.network import Cascade
from dfviewer.errors import UserError

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


@pytest.fixture(scope="module")
def predictor(tiny_checkpoint):
    return Predictor.from_checkpoint(tiny_checkpoint, device="cpu")


@pytest.fixture(scope="module")
def image():
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:301, 0:517]
    return (np.sin(xx / 30.0) + np.cos(yy / 17.0) + 0.1 * rng.standard_normal((301, 517))).astype(np.float32)


def test_odd_sizes_give_input_shaped_float32_maps_for_every_stage(predictor, image):
    results = predictor.predict(image, mc_samples=3)
    assert [r.stage for r in results] == [1, 2, 3]
    for r in results:
        assert isinstance(r, StageResult) and r.samples == 3
        for name in MAP_NAMES:
            arr = getattr(r, name)
            assert arr.shape == image.shape and arr.dtype == np.float32, name
            assert np.isfinite(arr).all(), name
        assert (r.alpha > 0).all() and (r.beta >= 0.2 - 1e-5).all() and (r.beta <= 8 + 1e-5).all()
        np.testing.assert_allclose(r.total, np.sqrt(r.aleatoric**2 + r.epistemic**2), rtol=1e-5)
        assert r.epistemic.max() > 0


@pytest.mark.parametrize("shape", [(1, 1), (3, 200), (64, 64), (97, 31)])
def test_tiny_and_thin_images(predictor, shape):
    img = np.random.default_rng(1).random(shape).astype(np.float32)
    for r in predictor.predict(img, mc_samples=1):
        assert r.mean.shape == r.total.shape == shape
        assert np.isfinite(r.mean).all() and np.isfinite(r.total).all() and (r.total >= 0).all()


def test_deterministic_pass_has_zero_epistemic_and_is_repeatable(predictor, image):
    a = predictor.predict(image, mc_samples=0)
    b = predictor.predict(image, mc_samples=0)
    for ra, rb in zip(a, b):
        assert ra.samples == 0 and not ra.epistemic.any()
        np.testing.assert_array_equal(ra.mean, rb.mean)
        np.testing.assert_array_equal(ra.total, ra.aleatoric)


def test_stream_preview_first_then_running_estimates(predictor, image):
    updates = list(predictor.predict_stream(image, mc_samples=4, stages=[2, 3]))
    assert isinstance(updates[0], Prediction) and updates[0].preview and updates[0].samples_done == 0
    assert not updates[0].stages[0].epistemic.any()
    assert [u.samples_done for u in updates[1:]] == [1, 2, 3, 4]
    assert all(not u.preview and u.samples_total == 4 for u in updates[1:])
    assert updates[-1].complete and [s.stage for s in updates[-1].stages] == [2, 3]
    # the preview is the dropout-free network, not one of the samples
    assert not np.array_equal(updates[0].stages[0].mean, updates[1].stages[0].mean)


def _model_with_nontrivial_batchnorm(checkpoint):
    """The checkpoint's model with random BatchNorm statistics and affine parameters."""
    ckpt = load_checkpoint(checkpoint)
    model = ckpt.build_model("cpu")
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.2, 0.2)
            module.running_var.uniform_(0.3, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.1, 0.1)
    return ckpt, model


def test_mc_samples_differ_while_batchnorm_statistics_do_not_change(tiny_checkpoint, image):
    ckpt, model = _model_with_nontrivial_batchnorm(tiny_checkpoint)  # then watch the statistics
    before = {k: v.clone() for k, v in model.state_dict().items()}
    p = Predictor(model, ckpt.config, ckpt.metadata, "cpu", fold_batchnorm=False)
    updates = list(p.predict_stream(image, mc_samples=3, seed=3))
    one = updates[1].stages[2].mean  # the first sample alone
    two = updates[2].stages[2].mean  # mean of samples 1 and 2
    assert np.abs(one - two).max() > 1e-6
    after = model.state_dict()
    for key, value in before.items():
        torch.testing.assert_close(after[key], value, rtol=0, atol=0, msg=key)
    assert not model.training and not any(m.training for m in model.modules())


def test_fixed_seed_reproduces_and_other_seed_differs(predictor, image):
    torch.manual_seed(123)
    state = torch.get_rng_state()
    a = predictor.predict(image, mc_samples=3, seed=7)
    assert torch.equal(torch.get_rng_state(), state), "a seeded prediction must not touch the global RNG"
    b = predictor.predict(image, mc_samples=3, seed=7)
    c = predictor.predict(image, mc_samples=3, seed=8)
    for ra, rb, rc in zip(a, b, c):
        for name in MAP_NAMES:
            np.testing.assert_array_equal(getattr(ra, name), getattr(rb, name))
        assert not np.array_equal(ra.epistemic, rc.epistemic)


def test_progress_is_reported_per_sample(predictor, image):
    seen = []
    predictor.predict(image, mc_samples=3, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(1, 3), (2, 3), (3, 3)]


def test_cancel_stops_a_long_prediction_quickly():
    cfg = ModelConfig(preset="test", base_width=8, depth=3, working_size=256)
    p = Predictor(Cascade(cfg), device="cpu")
    img = np.random.default_rng(2).random((256, 256)).astype(np.float32)
    start = time.perf_counter()
    p.predict(img, mc_samples=1)
    one_sample = (time.perf_counter() - start) / 2  # preview + one sample

    cancel = threading.Event()
    outcome: dict[str, object] = {}

    def work():
        try:
            p.predict(img, mc_samples=10_000, cancel=cancel)
            outcome["result"] = "finished"
        except PredictionCancelled:
            outcome["result"] = "cancelled"
        outcome["at"] = time.perf_counter()

    thread = threading.Thread(target=work)
    thread.start()
    time.sleep(max(0.3, 3 * one_sample))
    cancel.set()
    set_at = time.perf_counter()
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert outcome["result"] == "cancelled"
    latency = outcome["at"] - set_at
    # within one sample's time (generous slack for a shared, busy CPU)
    assert latency < 3 * one_sample + 0.5, f"cancel took {latency:.2f} s; one sample {one_sample:.2f} s"


def test_cancel_before_start_raises_and_is_not_a_user_error(predictor, image):
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(PredictionCancelled) as info:
        predictor.predict(image, mc_samples=2, cancel=cancel)
    assert not isinstance(info.value, UserError)


def test_checkpoint_round_trip_gives_identical_outputs(tmp_path, tiny_model_config, image):
    torch.manual_seed(5)
    model = Cascade(tiny_model_config)
    direct = Predictor(model, device="cpu").predict(image, mc_samples=2, seed=1)
    for folder in (False, True):
        path = save_checkpoint(tmp_path / ("m" if folder else "m.safetensors"), model, {"k": 1}, folder=folder)
        loaded = Predictor.from_checkpoint(path, device="cpu")
        assert loaded.metadata == {"k": 1} and loaded.config == tiny_model_config
        for ra, rb in zip(direct, loaded.predict(image, mc_samples=2, seed=1)):
            for name in MAP_NAMES:
                np.testing.assert_array_equal(getattr(ra, name), getattr(rb, name))
    # also constructible from a loaded Checkpoint
    assert Predictor.from_checkpoint(load_checkpoint(tmp_path / "m.safetensors"), "cpu").device.type == "cpu"


class _Bomb:
    """Unpickling this would create a file; a refused checkpoint must never do it."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("name", ["evil.pt", "evil.safetensors"])
def test_pickle_checkpoint_is_refused_and_nothing_is_unpickled(tmp_path, name):
    marker = tmp_path / "unpickled"
    path = tmp_path / name
    torch.save({"payload": _Bomb(str(marker))}, path)
    with pytest.raises(CheckpointError, match="pickle"):
        Predictor.from_checkpoint(path, device="cpu")
    assert not marker.exists()


def test_a_plain_pickle_under_a_safetensors_name_is_refused(tmp_path):
    import pickle

    marker = tmp_path / "unpickled"
    path = tmp_path / "plain.safetensors"
    path.write_bytes(pickle.dumps({"payload": _Bomb(str(marker))}, protocol=4))
    with pytest.raises(CheckpointError, match="pickle"):
        Predictor.from_checkpoint(path, device="cpu")
    assert not marker.exists()


def test_a_safetensors_header_length_starting_with_0x80_is_not_taken_for_a_pickle(tmp_path, tiny_model_config):
    model = Cascade(tiny_model_config)
    path = tmp_path / "m.safetensors"
    for pad in range(256):  # grow the header one byte at a time until its length's low byte is 0x80
        save_checkpoint(path, model, {"pad": "x" * pad})
        if path.read_bytes()[:1] == b"\x80":
            break
    else:
        pytest.fail("no padding gave a header length with low byte 0x80")
    assert load_checkpoint(path).metadata["pad"] == "x" * pad


def test_corrupt_and_missing_checkpoints_are_refused(tmp_path, tiny_checkpoint):
    data = tiny_checkpoint.read_bytes()
    truncated = tmp_path / "cut.safetensors"
    truncated.write_bytes(data[: len(data) // 2])
    garbage = tmp_path / "junk.safetensors"
    garbage.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00not json at all!" + b"\x00" * 64)
    damaged = "is not a readable safetensors checkpoint: it is another kind of file, or a damaged or incomplete download."
    for path, sentence in ((truncated, f"cut.safetensors {damaged}"), (garbage, f"junk.safetensors {damaged}"),
                           (tmp_path / "missing.safetensors", f"Model {tmp_path / 'missing.safetensors'} does not exist."),
                           (tmp_path, f"Folder {tmp_path} holds no model.safetensors, so it is not a dfviewer model.")):
        with pytest.raises(CheckpointError) as info:
            Predictor.from_checkpoint(path, device="cpu")
        assert str(info.value) == sentence


@pytest.mark.parametrize(
    ("bad", "sentence"),
    [(np.zeros((4, 4, 3), np.float32), "the image must be a 2-D grey-scale array, but it has shape (4, 4, 3)"),
     (np.zeros((0, 5), np.float32), "the image is empty (it has no pixels)"),
     (np.array([[1.0, np.nan]], np.float32), "the image contains NaN or infinite pixel values"),
     (np.array([[np.inf, 1.0]]), "the image contains NaN or infinite pixel values"),
     (np.zeros(7), "the image must be a 2-D grey-scale array, but it has shape (7,)"),
     (np.array([["a", "b"]]), "the image must hold real numbers, not <U1")],
)
def test_bad_images_are_user_errors(predictor, bad, sentence):
    with pytest.raises(UserError) as info:
        predictor.predict(bad, mc_samples=0)
    assert str(info.value) == sentence


@pytest.mark.parametrize(("arguments", "sentence"), [
    ({"mc_samples": -1}, "the number of MC samples must be a whole number >= 0, not -1"),
    ({"stages": [0]}, "stages must be numbers from 1 to 3, not [0]"),
    ({"stages": [4]}, "stages must be numbers from 1 to 3, not [4]"),
])
def test_bad_arguments_are_user_errors(predictor, image, arguments, sentence):
    with pytest.raises(UserError) as info:
        predictor.predict(image, **arguments)
    assert str(info.value) == sentence


def test_unknown_and_absent_devices_are_user_errors():
    with pytest.raises(UserError) as info:
        select_device("nonsense")
    assert str(info.value) == "unknown device 'nonsense'; use auto, cpu, cuda, cuda:N or mps"
    if not torch.cuda.is_available():
        with pytest.raises(UserError, match="CUDA"):
            select_device("cuda")


def test_working_size_resamples_and_maps_back(predictor, image):
    small = predictor.predict(image, mc_samples=0, working_size=32)
    large = predictor.predict(image, mc_samples=0, working_size=128)
    assert small[0].mean.shape == large[0].mean.shape == image.shape
    # a coarser working grid gives a smoother map
    assert np.abs(np.diff(small[0].mean, axis=1)).mean() < np.abs(np.diff(large[0].mean, axis=1)).mean()


def test_outputs_are_in_target_units(tmp_path, tiny_model_config, image):
    torch.manual_seed(9)
    model = Cascade(tiny_model_config)
    base = Predictor(model, tiny_model_config, device="cpu").predict(image, mc_samples=2, seed=0)
    cfg = ModelConfig(**{**tiny_model_config.__dict__,
                         "normalization": Normalization(target_offset=2.0, target_scale=3.0)})
    scaled = Predictor(model, cfg, device="cpu").predict(image, mc_samples=2, seed=0)
    for rb, rs in zip(base, scaled):
        np.testing.assert_allclose(rs.mean, rb.mean * 3 + 2, rtol=1e-5, atol=1e-5)
        for name in ("alpha", "aleatoric", "epistemic", "total"):
            np.testing.assert_allclose(getattr(rs, name), getattr(rb, name) * 3, rtol=1e-5, atol=1e-7)
        np.testing.assert_array_equal(rs.beta, rb.beta)
    # network units (what evaluation scores): the target normalisation is not applied at all
    network = Predictor(model, cfg, device="cpu").predict(image, mc_samples=2, seed=0, network_units=True)
    for rb, rn in zip(base, network):
        for name in ("mean", "alpha", "beta", "aleatoric", "epistemic", "total"):
            np.testing.assert_allclose(getattr(rn, name), getattr(rb, name), rtol=1e-5, atol=1e-7)


def test_input_normalisation_makes_results_independent_of_units(predictor, image):
    a = predictor.predict(image, mc_samples=0)
    b = predictor.predict(image * 1000.0 + 50.0, mc_samples=0)
    np.testing.assert_allclose(a[2].mean, b[2].mean, rtol=1e-4, atol=1e-4)


def test_mixed_precision_path_stays_float32_and_close(tiny_checkpoint, image):
    """The autocast path CUDA uses, exercised on the CPU with bfloat16."""
    p = Predictor.from_checkpoint(tiny_checkpoint, device="cpu")
    reference = p.predict(image, mc_samples=2, seed=0)
    p.amp_dtype = torch.bfloat16
    mixed = p.predict(image, mc_samples=2, seed=0)
    for ra, rb in zip(reference, mixed):
        for name in MAP_NAMES:
            assert getattr(rb, name).dtype == np.float32 and np.isfinite(getattr(rb, name)).all()
        assert np.abs(ra.mean - rb.mean).max() < 0.05
        np.testing.assert_allclose(rb.beta, ra.beta, atol=0.1)


def test_folding_batchnorm_keeps_the_outputs_and_the_callers_model(tiny_checkpoint, image):
    ckpt, model = _model_with_nontrivial_batchnorm(tiny_checkpoint)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    folded = Predictor(model, ckpt.config, ckpt.metadata, "cpu")
    plain = Predictor(model, ckpt.config, ckpt.metadata, "cpu", fold_batchnorm=False)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.model.modules())
    loaded = Predictor.from_checkpoint(tiny_checkpoint, "cpu")
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in loaded.model.modules())
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    for key, value in before.items():
        torch.testing.assert_close(model.state_dict()[key], value, rtol=0, atol=0, msg=key)
    a = folded.predict(image, mc_samples=3, seed=5)
    b = plain.predict(image, mc_samples=3, seed=5)
    for ra, rb in zip(a, b):
        for name in MAP_NAMES:
            np.testing.assert_allclose(getattr(ra, name), getattr(rb, name), rtol=1e-4, atol=1e-5, err_msg=name)
