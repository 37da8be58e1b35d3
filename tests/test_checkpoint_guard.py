"""Damaged and hostile checkpoints are refused with one sentence, before they cost much."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from dfviewer.core import checkpoint as ckpt_module
from dfviewer.core.checkpoint import CheckpointError, load_checkpoint
from dfviewer.core.config import ConfigError, ModelConfig, Normalization, TrainConfig, to_dict
from dfviewer.errors import UserError


def _one_sentence(exc: BaseException) -> str:
    text = str(exc)
    assert isinstance(exc, UserError)
    assert "\n" not in text and text.endswith("."), text
    assert ":\n" not in text and not text.endswith(":.")
    return text


def _parts(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The tensors and the header of a checkpoint file."""
    with safe_open(str(path), framework="pt") as handle:
        header = dict(handle.metadata())
        tensors = {k: handle.get_tensor(k) for k in handle.keys()}
    return tensors, header


def _damaged(tmp_path: Path, source: Path, *, tensors=None, name="damaged.safetensors", **header_changes) -> Path:
    """A copy of ``source`` with header entries (and optionally tensors) replaced."""
    original, header = _parts(source)
    header.update(header_changes)
    target = tmp_path / name
    save_file(original if tensors is None else tensors, str(target), metadata=header)
    return target


def _refused(path: Path, *words: str) -> str:
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    text = _one_sentence(info.value)
    for word in words:
        assert word in text, text
    return text


def test_a_normal_checkpoint_still_loads_and_predicts(tiny_checkpoint):
    from dfviewer.core.inference import Predictor

    ckpt = load_checkpoint(tiny_checkpoint)
    assert ckpt.metadata == {"note": "random weights for tests"}
    image = np.random.default_rng(0).random((40, 52)).astype(np.float32)
    results = Predictor.from_checkpoint(ckpt, device="cpu").predict(image, mc_samples=2, seed=0)
    assert len(results) == 3 and all(np.isfinite(r.total).all() for r in results)


@pytest.mark.timeout(30)
def test_a_named_pipe_is_refused_without_being_opened(tmp_path):
    fifo = tmp_path / "x.safetensors"
    os.mkfifo(fifo)
    _refused(fifo, "named pipe")
    folder = tmp_path / "model"
    folder.mkdir()
    os.mkfifo(folder / "model.safetensors")
    _refused(folder, "named pipe")


@pytest.mark.parametrize("version", ["abc", "1.5", "", "-1", "1e3"])
def test_a_format_version_that_is_not_a_whole_number_is_refused(tmp_path, tiny_checkpoint, version):
    _refused(_damaged(tmp_path, tiny_checkpoint, dfviewer_format=version), "format version")


@pytest.mark.parametrize("text", ["[1, 2, 3]", "42", '"fast"', "null"])
def test_a_config_that_is_not_a_json_object_is_refused(tmp_path, tiny_checkpoint, text):
    _refused(_damaged(tmp_path, tiny_checkpoint, config=text), "config", "JSON object")


def test_metadata_that_is_not_an_object_or_nests_too_deep_is_refused(tmp_path, tiny_checkpoint):
    _refused(_damaged(tmp_path, tiny_checkpoint, metadata="[1, 2]"), "metadata")
    deep = "[" * 5000 + "]" * 5000
    _refused(_damaged(tmp_path, tiny_checkpoint, metadata=json.dumps({"x": "y"})[:-1] + f', "d": {deep}}}'),
             "metadata", "deep")
    nested = '{"a": ' * 5000 + "1" + "}" * 5000
    _refused(_damaged(tmp_path, tiny_checkpoint, config=nested), "config", "deep")


def test_large_but_shallow_metadata_is_accepted(tmp_path, tiny_checkpoint):
    rng = np.random.default_rng(0)
    domain = {"domain_check": {"features": rng.random((300, 40)).tolist(), "scale": rng.random(40).tolist(),
                               "info": {"version": 1, "names": ["a", "b"], "brackets": "[[[{{{"}}}
    path = _damaged(tmp_path, tiny_checkpoint, metadata=json.dumps(domain))
    assert load_checkpoint(path).metadata == domain


@pytest.mark.parametrize(
    "change, field",
    [({"base_width": 8.0}, "base_width"), ({"depth": True}, "depth"), ({"n_stages": "3"}, "n_stages"),
     ({"beta_max": float("inf")}, "beta_max"), ({"dropout": float("nan")}, "dropout"),
     ({"refine_residual": 1}, "refine_residual"), ({"norm": ["batch"]}, "norm"),
     ({"normalization": {"target_scale": float("nan")}}, "target_scale"),
     ({"normalization": {"input_high": float("inf")}}, "input_high"), ({"normalization": [1, 2]}, "normalization")],
)
def test_config_values_of_the_wrong_kind_are_refused(tmp_path, tiny_checkpoint, change, field):
    config = json.loads(_parts(tiny_checkpoint)[1]["config"])
    for key, value in change.items():
        if isinstance(value, dict):
            config[key].update(value)
        else:
            config[key] = value
    text = json.dumps(config)  # JSON as Python writes it: Infinity and NaN included
    _refused(_damaged(tmp_path, tiny_checkpoint, config=text), field)


@pytest.mark.parametrize(
    "cls, kwargs, field",
    [
        (ModelConfig, {"working_size": 512.0}, "working_size"),
        (ModelConfig, {"beta_max": float("inf")}, "beta_max"),
        (ModelConfig, {"working_size": 16384}, "working_size"),
        (Normalization, {"target_scale": float("nan")}, "target_scale"),
        (Normalization, {"target_offset": float("-inf")}, "target_offset"),
        (TrainConfig, {"batch_size": 4.0}, "batch_size"),
        (TrainConfig, {"lr": float("nan")}, "lr"),
        (TrainConfig, {"amp": "yes"}, "amp"),
        (TrainConfig, {"seed": False}, "seed"),
        (TrainConfig, {"adam_betas": (0.9, float("nan"))}, "adam_betas"),
    ],
)
def test_configs_check_their_types_wherever_they_are_made(cls, kwargs, field):
    with pytest.raises(ConfigError, match=field) as info:
        cls(**kwargs)
    assert "\n" not in str(info.value)


def test_numpy_numbers_are_still_accepted():
    norm = Normalization(target_scale=np.float32(2.5), input_low=np.float64(1.0))
    assert ModelConfig(base_width=np.int64(8), normalization=norm).base_width == 8


def test_a_config_for_a_huge_model_is_refused_before_it_is_built(tmp_path, tiny_checkpoint, monkeypatch):
    import dfviewer.core.network as network

    built = []
    monkeypatch.setattr(network.Cascade, "__init__", lambda self, cfg: built.append(cfg))
    config = json.loads(_parts(tiny_checkpoint)[1]["config"])
    config.update(base_width=512, depth=7, convs_per_block=4, n_stages=8, working_size=1024)
    path = _damaged(tmp_path, tiny_checkpoint, config=json.dumps(config))
    start = time.perf_counter()
    _refused(path, "parameters")
    assert time.perf_counter() - start < 5 and not built
    with pytest.raises(ConfigError, match="parameters"):
        ModelConfig(**{k: v for k, v in config.items() if k != "normalization"})
    assert to_dict(ModelConfig(base_width=64, depth=4, n_stages=3, working_size=960))  # the paper's size is fine


def test_weights_declared_larger_than_the_limit_are_refused_before_they_are_read(tiny_checkpoint, monkeypatch):
    monkeypatch.setattr(ckpt_module, "MAX_WEIGHT_BYTES", 1000)
    monkeypatch.setattr(ckpt_module, "load_file", lambda *a, **k: pytest.fail("the weights were read"))
    _refused(tiny_checkpoint, "MB of weights")


def test_non_finite_weights_are_refused_with_their_count(tmp_path, tiny_checkpoint):
    tensors, _ = _parts(tiny_checkpoint)
    names = [k for k, t in tensors.items() if t.is_floating_point()][:3]
    tensors[names[0]] = torch.full_like(tensors[names[0]], float("nan"))
    tensors[names[1]] = tensors[names[1]].clone()
    tensors[names[1]].view(-1)[0] = float("inf")
    tensors[names[2]] = tensors[names[2]].clone()
    tensors[names[2]].view(-1)[-1] = float("-inf")
    text = _refused(_damaged(tmp_path, tiny_checkpoint, tensors=tensors), "3 weight tensors", "NaN")
    assert text.startswith("damaged.safetensors holds 3 weight tensors")


def test_weights_that_do_not_fit_the_config_give_one_sentence(tmp_path, tiny_checkpoint):
    tensors, _ = _parts(tiny_checkpoint)
    tensors.pop(sorted(tensors)[0])
    ckpt = load_checkpoint(_damaged(tmp_path, tiny_checkpoint, tensors=tensors))
    with pytest.raises(CheckpointError) as info:
        ckpt.build_model("cpu")
    text = _one_sentence(info.value)
    assert "Cascade:" not in text and "Missing key" in text


def test_damaged_files_give_one_sentence(tmp_path, tiny_checkpoint):
    data = tiny_checkpoint.read_bytes()
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(data[: len(data) // 2])
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00not json at all!" + b"\x00" * 64)
    for path in (cut, junk, tmp_path / "missing.safetensors", tmp_path):
        _refused(path)
    # the parser's own words ("Error while deserializing header: ...") are not the user's business
    noise = tmp_path / "noise.safetensors"
    noise.write_bytes(bytes(range(7, 207)))
    for path in (noise, cut):
        text = _refused(path, path.name, "not a readable safetensors checkpoint", "incomplete download")
        assert "deserializ" not in text.lower() and "header too large" not in text
    _refused(_damaged(tmp_path, tiny_checkpoint, config="{not json"), "config")


def test_a_full_disk_while_saving_a_checkpoint_keeps_the_old_one_and_says_so(tmp_path, monkeypatch):
    import errno

    import torch

    import dfviewer.core.checkpoint as checkpoint_module
    from dfviewer.atomic import WriteError
    from dfviewer.core.checkpoint import load_checkpoint, save_checkpoint
    from dfviewer.core.config import ModelConfig
    from dfviewer.core.network import Cascade

    model = Cascade(ModelConfig(preset="tiny", base_width=4, depth=2, working_size=32))
    target = save_checkpoint(tmp_path / "model.safetensors", model, {"epoch": 1})
    before = target.read_bytes()

    def full_disk(tensors, filename, metadata=None):
        with open(filename, "wb") as handle:
            handle.write(b"\0" * 4096)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoint_module, "save_file", full_disk)
    with torch.no_grad():
        next(model.parameters()).add_(1.0)
    with pytest.raises(WriteError) as info:
        save_checkpoint(target, model, {"epoch": 2})
    message = str(info.value)
    assert message == ("Could not write model.safetensors: the disk is full, so it was not written "
                       "(an earlier file of that name is unchanged).")
    assert isinstance(info.value, OSError)  # callers catching OSError still do
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.safetensors"]
    assert target.read_bytes() == before and load_checkpoint(target).metadata == {"epoch": 1}
