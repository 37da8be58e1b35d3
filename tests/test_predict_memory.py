"""Bounded memory for any input the readers accept (issue 23 item 8), with the maps unchanged.

The predictor keeps its maps at the working size and resamples one at a time when asked
(:mod:`dfviewer.core.results`); ``predict`` writes one full-resolution map at a time.
"""

from __future__ import annotations

import contextlib
import gc
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch
import torch.nn.functional as F

from dfviewer.core import results as results_module
from dfviewer.core.geometry import resample_map
from dfviewer.core.inference import NonFiniteOutputError, Predictor, StageResult
from dfviewer.core.normalize import denormalize_spread, denormalize_target
from dfviewer.core.results import check_finite
from dfviewer.io.limits import MAX_PIXELS
from dfviewer.io.npz_export import write_npz

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "resources" / "models" / "demo.safetensors"
#: maps of a 45 x 38 image by the code before the change (bundled model, T=3, seed 7, working size 32)
REFERENCE = ROOT / "tests" / "data" / "predict_maps_before_item8.npz"


@pytest.fixture(scope="module")
def demo(one_thread):
    return Predictor.from_checkpoint(DEMO, device="cpu")


@contextlib.contextmanager
def former_mask_stream(model: torch.nn.Module, rows):
    """The dropout masks as drawn before issue 25: one torch generator per (seed, sample), seeded
    ``seed * 1_000_003 + sample``, bernoulli masks layer by layer (the reference's samples came from it)."""
    from dfviewer.core.network import dropout_modules

    generators = []
    for seed, sample in rows:
        generators.append(torch.Generator(device="cpu"))
        generators[-1].manual_seed((int(seed) * 1_000_003 + int(sample)) % (2**63))

    def hook(module, inputs, output):
        x, keep = inputs[0], 1.0 - float(module.p)
        shape = (x.shape[1], 1, 1) if isinstance(module, torch.nn.Dropout2d) else tuple(x.shape[1:])
        masks = [torch.empty(shape).bernoulli_(keep, generator=g) for g in generators]
        return x * torch.stack(masks).div_(keep)

    handles = [m.register_forward_hook(hook) for m in dropout_modules(model)]
    try:
        yield model.eval()
    finally:
        for handle in handles:
            handle.remove()


def test_maps_equal_those_of_the_code_before_the_change(demo, monkeypatch):
    """Everything but the mask stream (numpy since issue 25) is checked against the saved maps: with the
    former stream the maps must come out as they did."""
    from dfviewer.core import inference

    saved = np.load(REFERENCE)
    monkeypatch.setattr(inference, "seeded_dropout", former_mask_stream)
    results = demo.predict(saved["image"], mc_samples=3, working_size=32, seed=7)
    assert [r.stage for r in results] == [1, 2, 3]
    for r in results:
        for name, array in r.maps().items():
            expected = saved[f"stage{r.stage}_{name}"]
            assert array.dtype == np.float32 and array.shape == expected.shape == (45, 38)
            np.testing.assert_allclose(array, expected, rtol=1e-5, atol=1e-6, err_msg=f"stage {r.stage} {name}")
            np.testing.assert_array_equal(r.full_map(name), array)


def test_maps_are_an_upsampling_of_the_working_size_maps(predictor_tiny, rng_image):
    """Independently: bilinear upsampling of the network-unit maps, then the target's units."""
    predictor, norm = predictor_tiny
    shape = rng_image.shape
    network = predictor.predict(rng_image, mc_samples=2, working_size=32, seed=3, network_units=True)
    target = predictor.predict(rng_image, mc_samples=2, working_size=32, seed=3)
    for net, res in zip(network, target):
        work = net.working_maps()
        assert max(work["mean"].shape) == 32
        up = {name: F.interpolate(torch.from_numpy(work[name])[None, None], size=shape, mode="bilinear",
                                  align_corners=False)[0, 0].numpy() for name in ("mean", "alpha", "beta",
                                                                                  "aleatoric", "epistemic")}
        expected = {"mean": denormalize_target(up["mean"], norm), "beta": up["beta"],
                    **{k: denormalize_spread(up[k], norm) for k in ("alpha", "aleatoric", "epistemic")}}
        expected["total"] = np.sqrt(expected["aleatoric"] ** 2 + expected["epistemic"] ** 2)
        for name, value in expected.items():
            np.testing.assert_allclose(getattr(res, name), value, rtol=1e-5, atol=1e-6, err_msg=name)


@pytest.fixture
def predictor_tiny(tiny_checkpoint, one_thread):
    p = Predictor.from_checkpoint(tiny_checkpoint, device="cpu")
    return p, p.config.normalization


@pytest.fixture
def rng_image():
    return np.random.default_rng(5).random((61, 47), dtype=np.float32) * 800 + 100


def test_the_map_cache_is_bounded_and_freed_with_its_results(monkeypatch):
    rng = np.random.default_rng(0)
    work = {name: rng.random((16, 16), dtype=np.float32) for name in results_module.NETWORK_MAPS}
    shape = (200, 150)  # 120 kB a map
    cache = results_module._MapCache(3 * 200 * 150 * 4)
    monkeypatch.setattr(results_module, "_CACHE", cache)
    result = StageResult.from_working(1, 4, work, shape, None, resample_map)
    arrays = {name: getattr(result, name).copy() for name in results_module.MAP_NAMES}
    assert cache.nbytes <= cache.limit and cache.nbytes > 0
    assert result.mean is result.mean  # cached: the viewer asks again and again
    with pytest.raises(ValueError):
        result.mean[0, 0] = 1.0  # shared by every caller, so read-only
    for name, array in arrays.items():
        np.testing.assert_array_equal(result.full_map(name), array)
    assert result.full_map("mean").flags.writeable
    del result
    gc.collect()
    assert cache.nbytes == 0


def test_a_total_that_would_overflow_at_full_size_is_refused():
    work = {name: np.ones((8, 8), np.float32) for name in results_module.NETWORK_MAPS}
    work["aleatoric"][:] = 2e19  # finite, but its square is not in float32
    result = StageResult.from_working(3, 0, work, (20, 20), None, resample_map)
    with pytest.raises(NonFiniteOutputError, match="stage 3 total"):
        check_finite([result])


def test_the_streamed_npz_is_the_one_numpy_writes(tmp_path):
    rng = np.random.default_rng(1)
    arrays = {"a": rng.random((30, 20), dtype=np.float32), "n": np.array(5), "w": np.array("a sentence")}
    made = []

    def lazy():
        made.append(1)
        return arrays["a"]

    write_npz(tmp_path / "x.npz", [("a", lazy), ("n", arrays["n"]), ("w", arrays["w"])])
    np.savez_compressed(tmp_path / "y.npz", **arrays)
    ours, theirs = np.load(tmp_path / "x.npz"), np.load(tmp_path / "y.npz")
    assert made == [1] and sorted(ours.files) == sorted(theirs.files)
    for key in theirs.files:
        np.testing.assert_array_equal(ours[key], theirs[key])
        assert ours[key].dtype == theirs[key].dtype
    assert [p.name for p in tmp_path.iterdir()] != [] and not list(tmp_path.glob("*.tmp*"))


CHILD = (
    "import json, sys\n"
    "from dfviewer.cli.main import main\n"
    "code = main(sys.argv[1:])\n"
    "hwm = [line for line in open('/proc/self/status') if line.startswith('VmHWM:')][0]\n"
    "print('RESULT ' + json.dumps({'code': code, 'peak_mib': int(hwm.split()[1]) / 1024}))\n"
)


def _largest_png(path: Path) -> tuple[int, int]:
    from PIL import Image

    side = int(MAX_PIXELS**0.5)
    y = np.linspace(-1, 1, side, dtype=np.float32)[:, None]
    x = np.linspace(-1, 1, side, dtype=np.float32)[None, :]
    image = 60 + 150 * np.exp(-(x / 0.75) ** 2 * 2 - (y / 0.9) ** 4) - 70 * np.exp(-((abs(x) - 0.35) / 0.22) ** 2)
    Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(path)
    return side, side


def test_predict_of_the_largest_accepted_image_stays_under_1_gb(tmp_path):
    """VmHWM of a fresh interpreter (ru_maxrss would carry over pytest's own peak).

    TIFF only: an NPZ's deflate of 144 MB maps takes a minute; the NPZ writer's one-at-a-time
    contract is tested above and its peak in ``tests/benchmarks/predict_memory.py``.
    """
    options = ["--mc", "2", "--stages", "3"]
    source = tmp_path / "large.png"
    shape = _largest_png(source)
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-c", CHILD, "predict", str(source), "--out", str(out), "--threads", "1",
                           *options], capture_output=True, text=True, timeout=600)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, done.stderr
    result = json.loads(lines[-1][len("RESULT "):])
    assert result["code"] == 0, done.stderr
    assert result["peak_mib"] < 1024, result
    written = sorted(out.glob("large_stage3_*.tiff"))
    assert len(written) == 6
    with tifffile.TiffFile(written[0]) as tiff:
        assert tiff.pages[0].shape == shape
