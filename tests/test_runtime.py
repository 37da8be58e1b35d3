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

from dfviewer.resources import resource_path  # noqa: E402

MAPS = ("mean", "alpha", "beta", "aleatoric", "epistemic", "total")


@pytest.fixture(scope="module")
def rg1() -> np.ndarray:
    from pydicom.data import get_testdata_file

    from dfviewer.io import read_radiograph

    path = get_testdata_file("RG1_UNCR.dcm")
    if path is None:
        pytest.skip("pydicom-data has no RG1_UNCR.dcm")
    return read_radiograph(path).pixels


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
    x = prepare_image(rg1, runtime.config).x.numpy()
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
    from dfviewer.errors import UserError

    with pytest.raises(UserError) as info:
        runtime_package("onnxruntime_not_installed_here")
    assert str(info.value) == ("onnxruntime_not_installed_here is not installed; the inference graph needs it: "
                               'pip install "dfviewer[runtime]".')
