"""Mixed-precision training (``TrainConfig.amp``): bfloat16 autocast on the CPU, float32 by default."""

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from test_training import _cancel_after, tiny_experiment

from dfviewer.core.checkpoint import load_checkpoint
from dfviewer.core.config import ConfigError, TrainConfig, experiment_from_dict, to_dict
from dfviewer.core.training import EpochDone, StepDone, train
from dfviewer.core.training_step import amp_dtype


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    from _dfv_pairs import make_pairs

    return make_pairs(tmp_path_factory.mktemp("pairs"), n=8, size=40)


@pytest.fixture(scope="module")
def bf16_run(data, tmp_path_factory):
    events = []
    out = tmp_path_factory.mktemp("bf16")
    result = train(data, tiny_experiment(amp="bfloat16", finetune_epochs=1), out, callback=events.append)
    return result, events


def test_old_true_false_amp_settings_keep_their_meaning():
    assert TrainConfig(amp=True).amp == "auto" and TrainConfig(amp=False).amp == "off"
    assert TrainConfig().amp == "auto"
    old = experiment_from_dict({"train": {"amp": False}})
    assert old.train.amp == "off" and to_dict(old.train)["amp"] == "off"
    with pytest.raises(ConfigError, match="amp must be one of auto, bfloat16, off"):
        TrainConfig(amp="float16")  # type: ignore[arg-type]


def test_auto_stays_float32_on_the_cpu_and_bfloat16_autocasts_there():
    cpu = torch.device("cpu")
    assert amp_dtype("auto", cpu) is None and amp_dtype("off", cpu) is None
    assert amp_dtype("bfloat16", cpu) is torch.bfloat16


def test_bfloat16_training_trains_and_its_checkpoints_say_so(bf16_run, data):
    result, events = bf16_run
    assert not result.cancelled and result.global_epoch == 5
    steps = [e for e in events if isinstance(e, StepDone) and e.stage == 1]
    assert all(np.isfinite(list(e.losses.values())).all() for e in events if isinstance(e, StepDone))
    first, last = steps[0].losses["l1"], np.mean([e.losses["l1"] for e in steps[-3:]])
    assert last < 0.8 * first
    for epoch in (e for e in events if isinstance(e, EpochDone)):
        assert all(np.isfinite(v["mse"]) for v in epoch.val.values())
    for name in ("model", "last", "best_stage1"):
        ckpt = load_checkpoint(result.out_dir / f"{name}.safetensors")
        assert ckpt.metadata["train_config"]["amp"] == "bfloat16"
    weights = load_file(str(result.model_path))
    assert {t.dtype for t in weights.values() if t.is_floating_point()} == {torch.float32}  # float32 weights


def test_bfloat16_run_differs_from_the_float32_one(bf16_run, data, tmp_path):
    f32 = train(data, tiny_experiment(amp="off", finetune_epochs=1), tmp_path)
    a, b = load_file(str(f32.model_path)), load_file(str(bf16_run[0].model_path))
    assert any(not torch.equal(a[k], b[k]) for k in a)  # the setting really changes the arithmetic


def test_resumed_bfloat16_run_matches_an_uninterrupted_one(bf16_run, data, tmp_path):
    reference = load_file(str(bf16_run[0].model_path))
    cancel, callback = _cancel_after(2)
    first = train(data, tiny_experiment(amp="bfloat16", finetune_epochs=1), tmp_path, callback=callback,
                  cancel=cancel)
    assert first.cancelled and first.global_epoch == 2
    second = train(data, None, tmp_path, resume=True)
    resumed = load_file(str(second.model_path))
    for name in reference:
        np.testing.assert_array_equal(resumed[name].numpy(), reference[name].numpy(), err_msg=name)


def test_auto_and_off_train_the_same_float32_weights_on_the_cpu(data, tmp_path):
    runs = [train(data, tiny_experiment(amp=mode, epochs_per_stage=1), tmp_path / mode) for mode in ("auto", "off")]
    a, b = (load_file(str(r.model_path)) for r in runs)
    for name in a:
        assert torch.equal(a[name], b[name]), name


def test_dfviewer_train_amp_flag_trains_in_bfloat16_over_the_config(data, tmp_path):
    import subprocess
    import sys

    config = tmp_path / "tiny.json"
    config.write_text(json.dumps({"model": {"base_width": 4, "depth": 2, "n_stages": 1},
                                  "train": {"val_mc_samples": 0, "amp": False}}))
    out = tmp_path / "o"
    done = subprocess.run(
        [sys.executable, "-m", "dfviewer", "train", "--data", str(data), "--out", str(out), "--config", str(config),
         "--epochs", "1", "--working-size", "32", "--batch-size", "3", "--amp", "bfloat16", "--device", "cpu",
         "--threads", "1"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert load_checkpoint(out / "model.safetensors").metadata["train_config"]["amp"] == "bfloat16"
    bad = subprocess.run([sys.executable, "-m", "dfviewer", "train", "--data", str(data), "--out", str(out),
                          "--amp", "fp8"], capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "invalid choice: 'fp8'" in bad.stderr
