"""open_predictor: the product's predictor is ONNX Runtime on the checkpoint's current graph.

Also the installs without torch (and without Qt): in a child process whose imports of torch
(and of PyQt6, pyqtgraph, superqt, qtawesome) fail as they do where those are not installed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from _dfv_pairs import make_pairs

pytest.importorskip("onnxruntime")

from dfviewer.core.graph_files import KEY_DIGEST, default_graph_path, weights_digest  # noqa: E402
from dfviewer.resources import resource_path  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
QT = "PyQt6,pyqtgraph,superqt,qtawesome"
#: run as ``python -c BLOCKED NAMES ARGS...``: the dfviewer command with the top-level packages NAMES unimportable
BLOCKED = """
import importlib.abc, sys
class Missing(importlib.abc.MetaPathFinder):
    def __init__(self, names):
        self.names = names
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in self.names:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, Missing(set(sys.argv[1].split(","))))
from dfviewer.cli.main import main
code = main(sys.argv[2:])
loaded = sorted({m.split(".")[0] for m in sys.modules} & set(sys.argv[1].split(",")))
assert not loaded, loaded
sys.exit(code)
"""


def _without(names: str, *args: str, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "QT_QPA_PLATFORM"}  # headless needs no Qt platform
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    return subprocess.run([sys.executable, "-c", BLOCKED, names, *args], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=300)


def _graph_digest(graph: Path) -> str:
    from dfviewer.core.runtime_session import graph_metadata

    return graph_metadata(graph)[KEY_DIGEST]


@pytest.fixture
def model(tmp_path, tiny_checkpoint) -> Path:
    """A private copy of the tiny checkpoint, without a graph."""
    path = tmp_path / "models" / "tiny.safetensors"
    path.parent.mkdir()
    shutil.copyfile(tiny_checkpoint, path)
    return path


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "dfviewer" / "graphs"


def test_a_missing_graph_is_exported_beside_the_checkpoint(model, cache):
    from dfviewer.core.predictors import open_predictor
    from dfviewer.core.runtime_predictor import RuntimePredictor

    predictor = open_predictor(model, device="cpu", threads=1)
    graph = default_graph_path(model)
    assert isinstance(predictor, RuntimePredictor) and predictor.device == "cpu"
    assert graph.is_file() and _graph_digest(graph) == weights_digest(model)
    assert not cache.exists()
    results = predictor.predict(np.random.default_rng(0).random((48, 40), dtype=np.float32), mc_samples=2)
    assert [r.stage for r in results] == [1, 2, 3]


def test_a_graph_of_other_weights_is_exported_again(model, cache, fixed_units_checkpoint):
    from dfviewer.core.predictors import open_predictor

    assert open_predictor(model, threads=1).config.normalization.input_mode != "fixed"
    stale = _graph_digest(default_graph_path(model))
    shutil.copyfile(fixed_units_checkpoint, model)  # retrained in place: the graph beside is stale now

    predictor = open_predictor(model, threads=1)
    assert predictor.config.normalization.input_mode == "fixed"
    assert _graph_digest(default_graph_path(model)) == weights_digest(model) != stale


def test_a_current_graph_in_the_cache_is_used_when_none_is_beside(model, cache):
    from dfviewer.core.export import export_graph
    from dfviewer.core.predictors import cached_graph_path, open_predictor

    cached = cached_graph_path(weights_digest(model))
    assert cached.parent == cache
    export_graph(model, cached)
    before = cached.stat().st_mtime_ns

    predictor = open_predictor(model, threads=1)
    assert predictor.config.n_stages == 3
    assert not default_graph_path(model).exists() and cached.stat().st_mtime_ns == before


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="root may write into any folder, so it has no read-only folder to test with")
def test_a_read_only_folder_gets_its_graph_in_the_cache(model, cache):
    from dfviewer.core.predictors import cached_graph_path, open_predictor

    model.parent.chmod(0o555)
    try:
        open_predictor(model, threads=1)
    finally:
        model.parent.chmod(0o755)
    assert not default_graph_path(model).exists()
    assert cached_graph_path(weights_digest(model)).is_file()


def test_a_missing_model_is_one_sentence(tmp_path):
    from dfviewer.core.predictors import open_predictor
    from dfviewer.errors import UserError

    with pytest.raises(UserError, match=r"^model .*nothing\.safetensors does not exist$"):
        open_predictor(tmp_path / "nothing.safetensors")


def test_a_failed_export_after_training_is_a_warning_and_keeps_the_model(model):
    from dfviewer.core.predictors import export_after_training

    default_graph_path(model).mkdir()  # a folder where the graph would go: it cannot be written
    before = model.read_bytes()
    line = export_after_training(model)
    assert line.startswith("warning: the inference graph was not written: ") and "\n" not in line
    assert line.endswith(f"write the graph with `dfviewer export {model}`.")
    assert model.read_bytes() == before


def test_train_exports_the_graph_of_the_model_it_wrote(tmp_path, capsys):
    import json

    from dfviewer.cli import train as cli

    data = make_pairs(tmp_path / "data", n=6, size=32)
    config = tmp_path / "tiny.json"
    config.write_text(json.dumps({"model": {"base_width": 4, "depth": 2, "n_stages": 1},
                                  "train": {"val_mc_samples": 0}}))
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    args = parser.parse_args(["--data", str(data), "--out", str(tmp_path / "o"), "--config", str(config),
                              "--epochs", "1", "--working-size", "32", "--batch-size", "2", "--device", "cpu",
                              "--events-json"])
    assert cli.run(args) == 0
    model = tmp_path / "o" / "model.safetensors"
    graph = tmp_path / "o" / "model.onnx"
    assert graph.is_file() and _graph_digest(graph) == weights_digest(model)
    assert f"dfviewer train: wrote the inference graph {graph}\n" in capsys.readouterr().err


def test_headless_predict_runs_without_torch_and_without_qt(tmp_path):
    out = tmp_path / "out"
    done = _without(f"torch,{QT}", "predict", str(resource_path("samples", "healthy.dcm")), "--out", str(out),
                    "--mc", "2", "--threads", "1", tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    import tifffile

    from dfviewer.core.config import MC_SEED
    from dfviewer.core.predictors import open_predictor
    from dfviewer.io import read_radiograph

    sample = read_radiograph(resource_path("samples", "healthy.dcm")).pixels
    predictor = open_predictor(resource_path("models", "demo.safetensors"), threads=1)
    here = predictor.predict(sample, mc_samples=2, seed=MC_SEED)[-1]  # predict's default seed
    for name, key in (("darkfield", "mean"), ("aleatoric", "aleatoric"), ("epistemic", "epistemic")):
        written = tifffile.imread(out / f"healthy_stage3_{name}.tiff")
        np.testing.assert_allclose(written, here.full_map(key), atol=1e-5, err_msg=name)


def test_headless_evaluate_scores_without_torch_and_without_qt(tmp_path):
    data = make_pairs(tmp_path / "data", n=4, size=40)
    report = tmp_path / "report.json"
    done = _without(f"torch,{QT}", "evaluate", "--model", str(resource_path("models", "demo.safetensors")),
                    "--data", str(data), "--mc", "2", "--threads", "1", "--out", str(report), tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    import json

    stages = json.loads(report.read_text())["stages"]
    assert len(stages) == 3 and all(np.isfinite(s["mse"]["mean"]) for s in stages.values())


def test_without_torch_a_model_without_graph_names_export_and_the_train_extra(tmp_path, model):
    out = tmp_path / "out"
    done = _without("torch", "predict", str(resource_path("samples", "healthy.dcm")), "--out", str(out),
                    "--model", str(model), tmp_path=tmp_path)
    assert done.returncode == 2
    assert done.stderr == (f"dfviewer predict: Model tiny.safetensors has no current inference graph (tiny.onnx); "
                           f"write it with `dfviewer export {model}`, which needs PyTorch: "
                           f'pip install "dfviewer[train]".\n')
    assert not out.exists()


@pytest.mark.parametrize(("command", "what"), [
    ("train", "training"), ("export", "exporting a graph"), ("domain-fit", "fitting a domain check")])
def test_without_torch_the_commands_that_need_it_say_so_in_one_sentence(tmp_path, command, what):
    args = {"train": ["--data", str(tmp_path), "--out", str(tmp_path / "o")],
            "export": [str(resource_path("models", "demo.safetensors")), "--out", str(tmp_path / "g.onnx")],
            "domain-fit": ["--model", str(tmp_path / "m.safetensors"), "--data", str(tmp_path)]}[command]
    done = _without(f"torch,{QT}", command, *args, tmp_path=tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stderr == (f"dfviewer {command}: PyTorch is not installed, and {what} needs it; "
                           f'add it with pip install "dfviewer[train]".\n')
    helped = _without(f"torch,{QT}", command, "--help", tmp_path=tmp_path)
    assert helped.returncode == 0 and helped.stdout.startswith("usage: dfviewer " + command)
