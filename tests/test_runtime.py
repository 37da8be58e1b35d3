"""The ONNX inference graph (dfviewer export) run with ONNX Runtime against the torch predictor."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime")

from dfviewer.errors import UserError  # noqa: E402
from dfviewer.resources import resource_path  # noqa: E402

MAPS = ("mean", "alpha", "beta", "aleatoric", "epistemic", "total")


@pytest.fixture(scope="module")
def rg1(rg1_pixels) -> np.ndarray:
    return rg1_pixels


@pytest.fixture(scope="module")
def graphs(tmp_path_factory, tiny_checkpoint) -> dict[str, tuple[Path, Path]]:
    """Per model: (checkpoint, its exported graph) in a private folder."""
    from dfviewer.core.export import export_graph

    folder = tmp_path_factory.mktemp("graphs")
    made = {}
    for name, source in (("tiny", tiny_checkpoint), ("demo", resource_path("models", "demo.safetensors"))):
        model = folder / f"{name}.safetensors"
        shutil.copyfile(source, model)
        made[name] = (model, export_graph(model))
    return made


def _pair(graphs, name):
    from dfviewer.core.inference import Predictor
    from dfviewer.core.runtime_predictor import RuntimePredictor

    model, graph = graphs[name]
    return Predictor.from_checkpoint(model, "cpu"), RuntimePredictor(model, graph, threads=1)


def _largest_difference(torch_results, runtime_results) -> dict[str, float]:
    assert [r.stage for r in torch_results] == [r.stage for r in runtime_results]
    worst = dict.fromkeys(MAPS, 0.0)
    for a, b in zip(torch_results, runtime_results):
        assert a.samples == b.samples
        for name in MAPS:
            worst[name] = max(worst[name], float(np.abs(a.map(name) - b.map(name)).max()))
    return worst


def test_log_gamma_series_matches_scipy_over_the_whole_beta_range():
    import torch
    from scipy.special import gammaln

    from dfviewer.core.config import ModelConfig
    from dfviewer.core.graph_maths import graph_sigma, log_gamma

    cfg = ModelConfig()
    beta = np.linspace(min(cfg.beta_min, 0.2), cfg.beta_max, 200_001)
    for z in (1.0 / beta, 3.0 / beta):
        got = log_gamma(torch.from_numpy(z)).numpy()
        assert np.abs(got - gammaln(z)).max() <= 1e-6 * max(1.0, np.abs(gammaln(z)).max())
    exact = np.exp(0.5 * (gammaln(3.0 / beta) - gammaln(1.0 / beta)))
    sigma = graph_sigma(torch.ones(beta.size), torch.from_numpy(beta)).double().numpy()
    assert np.abs(sigma / exact - 1.0).max() <= 1e-6


def test_the_graph_sigma_output_is_the_exact_ggd_sigma(graphs, rg1):
    import onnxruntime as ort
    from scipy.special import gammaln

    from dfviewer.core.mc_masks import ones_masks
    from dfviewer.core.prepare import prepare_image
    from dfviewer.core.runtime_predictor import RuntimePredictor

    model, graph = graphs["demo"]
    runtime = RuntimePredictor(model, graph, threads=1)
    x = np.asarray(prepare_image(rg1, runtime.config).x)
    masks = ones_masks(runtime.layers, *x.shape[-2:])
    session = ort.InferenceSession(str(graph), providers=["CPUExecutionProvider"])
    feeds = {"x": x, **{f"mask_{i}": m for i, m in enumerate(masks)}}
    out = dict(zip([o.name for o in session.get_outputs()], session.run(None, feeds)))
    for m in (1, 2, 3):
        alpha, beta = out[f"alpha_{m}"].astype(np.float64), out[f"beta_{m}"].astype(np.float64)
        exact = alpha * np.exp(0.5 * (gammaln(3.0 / beta) - gammaln(1.0 / beta)))
        assert np.abs(out[f"sigma_{m}"] / exact - 1.0).max() <= 1e-6


@pytest.mark.parametrize("name", ["tiny", "demo"])
def test_the_deterministic_pass_matches_torch(graphs, rg1, name):
    predictor, runtime = _pair(graphs, name)
    worst = _largest_difference(predictor.predict(rg1, 0), runtime.predict(rg1, 0))
    assert max(worst.values()) <= 1e-4, worst


@pytest.mark.parametrize("variant", [{"stage_input": "attention_absolute"}, {"stage_input": "mean_only"},
                                     {"stage_input": "reference"}, {"refine_width": 6}])
def test_every_stage_input_and_a_wider_refining_stage_export_to_the_torch_maps(tmp_path, rg1, variant):
    import torch

    from dfviewer.core.checkpoint import save_checkpoint
    from dfviewer.core.config import ModelConfig
    from dfviewer.core.export import export_graph
    from dfviewer.core.inference import Predictor
    from dfviewer.core.network import Cascade
    from dfviewer.core.runtime_predictor import RuntimePredictor

    torch.manual_seed(1)
    model = Cascade(ModelConfig(preset="tiny", base_width=4, depth=2, working_size=64, **variant))
    if "refine_width" in variant:
        assert model.stages[1].head.in_channels == 6 and model.stages[0].head.in_channels == 4
    path = save_checkpoint(tmp_path / "variant.safetensors", model, {"note": "random weights for tests"})
    predictor, runtime = Predictor.from_checkpoint(path, "cpu"), RuntimePredictor(path, export_graph(path), threads=1)
    for samples in (0, 3):
        worst = _largest_difference(predictor.predict(rg1, samples, seed=5), runtime.predict(rg1, samples, seed=5))
        assert max(worst.values()) <= 1e-4, (samples, worst)


@pytest.mark.parametrize("name, samples", [("tiny", 7), ("demo", 3)])
def test_mc_maps_match_torch_for_the_same_seed(graphs, rg1, name, samples):
    predictor, runtime = _pair(graphs, name)
    for seed in (0, 11):
        torch_results = predictor.predict(rg1, samples, seed=seed, network_units=True)
        runtime_results = runtime.predict(rg1, samples, seed=seed, network_units=True)
        worst = _largest_difference(torch_results, runtime_results)
        assert max(worst.values()) <= 1e-4, (seed, worst)
        # the random tiny model's epistemic maps are small: they must agree relative to their size too
        for a, b in zip(torch_results, runtime_results):
            assert np.abs(a.epistemic - b.epistemic).max() <= 1e-3 * a.epistemic.max()
    # the masks matter: another seed gives another epistemic map
    one = runtime.predict(rg1, samples, seed=0)[-1].epistemic
    other = runtime.predict(rg1, samples, seed=1)[-1].epistemic
    assert one.max() > 0 and np.abs(one - other).max() > 0.1 * one.max()


def test_two_threads_run_two_samples_a_graph_run_and_give_the_torch_maps(graphs, rg1):
    """Rows per run follow the threads (a speed choice, docs/speed.md); the maps must not notice."""
    from dfviewer.core.runtime_predictor import RuntimePredictor

    predictor, _ = _pair(graphs, "tiny")
    model, graph = graphs["tiny"]
    two = RuntimePredictor(model, graph, threads=2)
    assert two.rows_per_run == 2
    torch_results = predictor.predict(rg1, 5, seed=3, network_units=True)  # 5 samples: runs of 2, 2, 1
    worst = _largest_difference(torch_results, two.predict(rg1, 5, seed=3, network_units=True))
    assert max(worst.values()) <= 1e-4, worst


def test_a_graph_of_other_weights_is_refused_with_one_sentence(tmp_path, tiny_checkpoint, tiny_model_config):
    import torch

    from dfviewer.core.checkpoint import save_checkpoint
    from dfviewer.core.export import export_graph
    from dfviewer.core.network import Cascade
    from dfviewer.core.runtime_predictor import GraphError, RuntimePredictor

    model = tmp_path / "model.safetensors"
    shutil.copyfile(tiny_checkpoint, model)
    with pytest.raises(GraphError, match="no inference graph"):
        RuntimePredictor(model)
    export_graph(model)
    RuntimePredictor(model)  # the matching pair loads
    torch.manual_seed(1)
    save_checkpoint(model, Cascade(tiny_model_config))  # retrained in place: the graph is stale
    with pytest.raises(GraphError) as caught:
        RuntimePredictor(model)
    text = str(caught.value)
    assert "other weights" in text and "dfviewer export" in text
    assert text.endswith(".") and text.count(". ") == 0 and "\n" not in text


def test_dfviewer_export_end_to_end(tmp_path, tiny_checkpoint):
    import onnx

    from dfviewer.core.export import OPSET, weights_digest

    model = tmp_path / "tiny.safetensors"
    shutil.copyfile(tiny_checkpoint, model)
    done = subprocess.run([sys.executable, "-m", "dfviewer", "export", str(model)], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    graph_path = tmp_path / "tiny.onnx"
    assert f"wrote {graph_path}" in done.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.onnx", "tiny.safetensors"]  # no temp file left
    graph = onnx.load(str(graph_path))
    props = {p.key: p.value for p in graph.metadata_props}
    assert props["dfviewer_weights_sha256"] == weights_digest(model)
    assert json.loads(props["dfviewer_config"])["base_width"] == 4
    assert graph.opset_import[0].version == OPSET
    assert [i.name for i in graph.graph.input][0] == "x"

    missing = subprocess.run([sys.executable, "-m", "dfviewer", "export", str(tmp_path / "none.safetensors")],
                             capture_output=True, text=True, timeout=300)
    assert missing.returncode == 2
    assert missing.stderr.startswith("dfviewer export: ") and missing.stderr.count("\n") == 1


def test_a_missing_runtime_package_is_one_sentence_with_the_install_command():
    from dfviewer.core.export import runtime_package

    with pytest.raises(UserError) as info:
        runtime_package("onnxruntime_not_installed_here")
    assert str(info.value) == ("onnxruntime_not_installed_here is not installed; the inference graph needs it: "
                               'pip install "dfviewer[runtime]".')


# --- the runtime predictor's public interface, against the torch Predictor (issue 25) ---


@pytest.fixture(scope="module")
def healthy() -> np.ndarray:
    from dfviewer.io import read_radiograph

    return read_radiograph(resource_path("samples", "healthy.dcm")).pixels


def test_provider_choice_follows_the_device_name_and_the_offered_providers():
    from dfviewer.core.runtime_session import RuntimeDeviceError, choose_providers

    cpu_only, with_cuda = ["AzureExecutionProvider", "CPUExecutionProvider"], ["CUDAExecutionProvider",
                                                                                "CPUExecutionProvider"]
    assert choose_providers("auto", cpu_only).providers == ["CPUExecutionProvider"]
    assert choose_providers("auto", cpu_only).device == "cpu"
    auto = choose_providers("AUTO", with_cuda)
    assert (auto.device, auto.providers) == ("cuda", [("CUDAExecutionProvider", {"device_id": 0}),
                                                      "CPUExecutionProvider"])
    assert choose_providers("cuda:1", with_cuda).providers[0] == ("CUDAExecutionProvider", {"device_id": 1})
    assert choose_providers("cpu", with_cuda) == choose_providers("cpu", cpu_only)
    assert choose_providers("cpu", with_cuda).providers == ["CPUExecutionProvider"]
    assert choose_providers("cpu", cpu_only).note is None and auto.note is None
    mps = choose_providers("mps", cpu_only)
    assert mps.device == "cpu" and mps.note is not None and "CPU" in mps.note and mps.note.count(". ") == 0
    for name in ("cuda", "cuda:0"):
        with pytest.raises(RuntimeDeviceError) as caught:
            choose_providers(name, cpu_only)
        assert "pip install onnxruntime-gpu" in str(caught.value) and "\n" not in str(caught.value)
    with pytest.raises(RuntimeDeviceError, match="unknown device 'tpu'"):
        choose_providers("tpu", with_cuda)


def test_gpu_runs_take_as_many_samples_as_the_memory_budget_allows_and_give_the_same_maps(graphs, rg1):
    from dfviewer.core.runtime_session import GPU_MAX_ROWS, GPU_RUN_BYTES, gpu_rows_per_run

    assert gpu_rows_per_run(64, 64, 4) == GPU_MAX_ROWS
    assert gpu_rows_per_run(512, 512, 64) == GPU_RUN_BYTES // (512 * 512 * 64 * 4) == 4
    assert gpu_rows_per_run(8192, 8192, 64) == 1
    predictor, runtime = _pair(graphs, "tiny")
    runtime.rows_per_run = None  # as on a GPU: 16 rows a run for this small input, here on the CPU
    torch_results = predictor.predict(rg1, 18, seed=6, network_units=True)  # runs of 16 and 2
    worst = _largest_difference(torch_results, runtime.predict(rg1, 18, seed=6, network_units=True))
    assert max(worst.values()) <= 1e-4, worst


def test_cuda_on_a_runtime_without_it_is_one_sentence_and_cpu_runs_there(graphs):
    import onnxruntime as ort

    from dfviewer.core.runtime_predictor import RuntimePredictor
    from dfviewer.core.runtime_session import RuntimeDeviceError

    model, graph = graphs["tiny"]
    assert RuntimePredictor(model, graph, threads=1, device="cpu").device == "cpu"
    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this ONNX Runtime has CUDA")
    assert RuntimePredictor(model, graph, threads=1, device="auto").device == "cpu"
    with pytest.raises(RuntimeDeviceError, match="pip install onnxruntime-gpu"):
        RuntimePredictor(model, graph, threads=1, device="cuda")


def test_config_and_metadata_are_the_checkpoints(graphs):
    from dfviewer.core.checkpoint import load_checkpoint
    from dfviewer.core.domain import DomainModel

    for name in ("tiny", "demo"):
        predictor, runtime = _pair(graphs, name)
        checkpoint = load_checkpoint(graphs[name][0])
        assert runtime.metadata == checkpoint.metadata and runtime.config == checkpoint.config
    assert runtime.domain == DomainModel.from_dict(checkpoint.metadata["domain_check"])
    assert _pair(graphs, "tiny")[1].domain is None


def test_the_stream_yields_the_preview_then_an_update_per_graph_run_ending_at_torchs_maps(graphs, rg1):
    from dfviewer.core.runtime_predictor import RuntimePredictor

    predictor, _ = _pair(graphs, "demo")
    model, graph = graphs["demo"]
    runtime = RuntimePredictor(model, graph, threads=2)  # two samples a run: updates after 2, 4, 5
    torch_updates = list(predictor.predict_stream(rg1, 5, seed=4))
    updates = list(runtime.predict_stream(rg1, 5, seed=4))
    assert [(u.samples_done, u.samples_total, u.preview) for u in updates] == [(0, 5, True), (2, 5, False),
                                                                               (4, 5, False), (5, 5, False)]
    assert updates[-1].complete and not updates[-2].complete
    assert [r.samples for r in updates[0].stages] == [0, 0, 0] and updates[0].stages[-1].epistemic.max() == 0
    preview = _largest_difference(torch_updates[0].stages, updates[0].stages)
    final = _largest_difference(torch_updates[-1].stages, updates[-1].stages)
    assert max(preview.values()) <= 1e-4 and max(final.values()) <= 1e-4, (preview, final)
    assert updates[-1].stages[-1].epistemic.max() > 0


def test_predict_in_target_units_and_a_subset_of_stages_match_torch(graphs, rg1):
    predictor, runtime = _pair(graphs, "demo")
    worst = _largest_difference(predictor.predict(rg1, 3, seed=2), runtime.predict(rg1, 3, seed=2))
    assert max(worst.values()) <= 1e-4, worst
    for stages in ([2], [3, 1]):
        torch_results = predictor.predict(rg1, 2, stages=stages, seed=5)
        results = runtime.predict(rg1, 2, stages=stages, seed=5)
        assert [r.stage for r in results] == sorted(stages)
        assert max(_largest_difference(torch_results, results).values()) <= 1e-4
    with pytest.raises(UserError, match="stages must be numbers from 1 to 3"):
        runtime.predict(rg1, 0, stages=[4])
    with pytest.raises(UserError, match="whole number >= 0"):
        runtime.predict(rg1, -1)
    # in network units the mean differs from the target-unit mean by the target normalisation
    norm = runtime.config.normalization
    units = runtime.predict(rg1, 0, network_units=True)[-1].mean
    target = runtime.predict(rg1, 0)[-1].mean
    assert np.allclose(target, units * norm.target_scale + norm.target_offset, atol=1e-5)


def test_predict_batch_matches_torch_per_image_and_keeps_a_bad_image_in_its_place(graphs, rg1, healthy):
    from dfviewer.core.prepare import prepare_image

    predictor, runtime = _pair(graphs, "demo")
    images = [rg1, np.zeros((4, 4, 4)), prepare_image(healthy, runtime.config), rg1]
    seeds, shapes = [7, 8, 9, 10], [None, None, (100, 80), None]
    torch_results = predictor.predict_batch(images, 3, seeds=seeds, out_shapes=shapes)
    results = runtime.predict_batch(images, 3, seeds=seeds, out_shapes=shapes)
    assert isinstance(results[1], UserError) and str(results[1]) == str(torch_results[1])
    assert results[2][0].shape == (100, 80) and results[0][0].shape == rg1.shape
    for i in (0, 2, 3):
        assert max(_largest_difference(torch_results[i], results[i]).values()) <= 1e-4, i
    # the batch gives each image what predict gives it with its seed
    alone = runtime.predict(rg1, 3, seed=10)
    assert max(_largest_difference(alone, results[3]).values()) == 0.0
    deterministic = runtime.predict_batch([rg1], 0, stages=[1])
    assert max(_largest_difference(predictor.predict(rg1, 0, stages=[1]), deterministic[0]).values()) <= 1e-4


def test_progress_follows_every_run_and_cancel_stops_within_one_run(graphs, rg1):
    import threading

    from dfviewer.core.results import PredictionCancelled
    from dfviewer.core.runtime_predictor import RuntimePredictor

    model, graph = graphs["tiny"]
    runtime = RuntimePredictor(model, graph, threads=1)
    calls: list[tuple[int, int]] = []
    runtime.predict(rg1, 4, progress=lambda done, total: calls.append((done, total)), seed=0)
    assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)]

    cancel = threading.Event()
    calls.clear()

    def cancel_after_two(done: int, total: int) -> None:
        calls.append((done, total))
        if done == 2:
            cancel.set()

    with pytest.raises(PredictionCancelled):
        runtime.predict(rg1, 20, progress=cancel_after_two, cancel=cancel, seed=0)
    assert calls == [(1, 20), (2, 20)]
    stream = runtime.predict_stream(rg1, 20, cancel=cancel)
    with pytest.raises(PredictionCancelled):  # already set: not even the preview runs
        next(stream)
    # the torch path's class: the viewer's worker tells a cancel from a failure by it
    from dfviewer.core.inference import PredictionCancelled as TorchCancelled

    assert TorchCancelled is PredictionCancelled


def test_input_checks_match_torch_on_a_chest_and_an_inverted_chest(graphs, rg1):
    predictor, runtime = _pair(graphs, "demo")
    inverted = rg1.max() - rg1 + rg1.min()
    assert runtime.input_warning(rg1) == predictor.input_warning(rg1)
    flagged = runtime.input_warning(inverted)
    assert flagged is not None and flagged == predictor.input_warning(inverted)
    assert runtime.domain_score(inverted) == pytest.approx(predictor.domain_score(inverted), rel=1e-9)
    assert runtime.domain_score(inverted) > runtime.domain.threshold >= runtime.domain_score(rg1)
    assert _pair(graphs, "tiny")[1].domain_score(rg1) is None


def test_unseeded_samples_differ_between_calls(graphs, rg1):
    _, runtime = _pair(graphs, "tiny")
    one, two = runtime.predict(rg1, 3)[-1].epistemic, runtime.predict(rg1, 3)[-1].epistemic
    assert np.abs(one - two).max() > 0


def test_predicting_on_the_runtime_imports_no_torch(graphs, tmp_path):
    """A real process: load, check, stream, batch and resample with the runtime alone (issue 25)."""
    model, graph = graphs["demo"]
    script = f"""
import sys
import numpy as np
from dfviewer.core.runtime_predictor import RuntimePredictor
from dfviewer.io import read_radiograph
from dfviewer.resources import resource_path
image = read_radiograph(resource_path("samples", "healthy.dcm")).pixels
runtime = RuntimePredictor({str(model)!r}, {str(graph)!r}, threads=1)
runtime.input_warning(image.max() - image)
updates = list(runtime.predict_stream(image, 2, seed=1))
batch = runtime.predict_batch([image, np.zeros(3)], 2, seeds=[1, 2])
assert np.array_equal(batch[0][-1].epistemic, updates[-1].stages[-1].epistemic)
loaded = sorted(name for name in sys.modules if name == "torch" or name.startswith("torch."))
print("torch modules:", loaded[:5])
sys.exit(1 if loaded else 0)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
