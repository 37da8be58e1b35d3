import argparse
import io
import json
import threading
from contextlib import redirect_stdout

import numpy as np
import pytest
from _dfv_pairs import make_pairs
from safetensors.torch import load_file

from dfviewer.core.checkpoint import load_checkpoint
from dfviewer.core.config import ExperimentConfig, ModelConfig, TrainConfig
from dfviewer.core.dataset_check import DatasetError
from dfviewer.core.training import (
    CheckpointSaved,
    EpochDone,
    Finished,
    StepDone,
    TrainingError,
    event_from_json,
    train,
)


def tiny_experiment(**train_kw) -> ExperimentConfig:
    kw = dict(epochs_per_stage=2, batch_size=2, val_mc_samples=2, finetune_epochs=0, lr=3e-3)
    kw.update(train_kw)
    return ExperimentConfig(
        model=ModelConfig(preset="tiny", base_width=4, depth=2, working_size=32, n_stages=2),
        train=TrainConfig(**kw),
    )


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_pairs(tmp_path_factory.mktemp("pairs"), n=8, size=40)


@pytest.fixture(scope="module")
def full_run(data, tmp_path_factory):
    events = []
    out = tmp_path_factory.mktemp("run")
    result = train(data, tiny_experiment(finetune_epochs=1), out, callback=events.append)
    return result, events


def test_training_lowers_the_loss_and_writes_usable_checkpoints(full_run, data, tmp_path):
    result, events = full_run
    assert not result.cancelled and result.global_epoch == 5
    steps = [e for e in events if isinstance(e, StepDone) and e.stage == 1]
    first, last = steps[0].losses["l1"], np.mean([e.losses["l1"] for e in steps[-3:]])
    assert last < 0.8 * first
    for name in ("model", "last", "best_stage1", "best_stage2", "resume"):
        assert (result.out_dir / f"{name}.safetensors").is_file()
    ckpt = load_checkpoint(result.model_path)
    assert ckpt.config.working_size == 32 and ckpt.config.n_stages == 2
    assert ckpt.config.normalization.target_scale > 1.0  # the 99.5th percentile of the data
    assert ckpt.metadata["working_size"] == 32 and ckpt.metadata["data"]["pairs"]["train"] == 6
    assert load_checkpoint(result.best_paths[1]).config.n_stages == 1

    from dfviewer.core.evaluation import evaluate
    from dfviewer.core.inference import Predictor

    img = np.load(data / "attenuation" / "case07.npy")
    stages = Predictor.from_checkpoint(result.model_path, device="cpu").predict(img, mc_samples=2)
    assert len(stages) == 2 and stages[-1].mean.shape == img.shape
    report = evaluate(result.model_path, data, split="test", mc_samples=2, device="cpu")
    assert set(report.stages) == {1, 2}


def test_events_round_trip_through_json(full_run):
    _, events = full_run
    kinds = [e.kind for e in events]
    assert kinds[0] == "run_started" and kinds[-1] == "finished"
    assert {"stage_started", "step_done", "epoch_done", "checkpoint_saved"} <= set(kinds)
    epoch = next(e for e in events if isinstance(e, EpochDone))
    assert set(epoch.preview) == {"input", "target", "mean", "aleatoric", "epistemic"}
    assert set(epoch.val["1"]) >= {"mse", "psnr", "ssim"}
    for event in events:
        again = event_from_json(event.to_json())
        assert type(again) is type(event)
        if isinstance(event, EpochDone):
            np.testing.assert_allclose(again.preview["mean"], event.preview["mean"], rtol=1e-3, atol=1e-3)
            assert again.val == event.val and again.train_losses == event.train_losses
        else:
            assert again == event


def _cancel_after(epoch):
    cancel = threading.Event()

    def callback(event):
        if isinstance(event, CheckpointSaved) and event.which == "last" and event.global_epoch == epoch:
            cancel.set()

    return cancel, callback


@pytest.mark.parametrize("stop_after", [1, 3])
def test_resume_matches_an_uninterrupted_run(full_run, data, tmp_path, stop_after):
    reference = load_file(str(full_run[0].model_path))
    cancel, callback = _cancel_after(stop_after)
    first = train(data, tiny_experiment(finetune_epochs=1), tmp_path, callback=callback, cancel=cancel)
    assert first.cancelled and first.global_epoch == stop_after
    assert not (tmp_path / "model.safetensors").exists()
    assert load_checkpoint(tmp_path / "last.safetensors").metadata["global_epoch"] == stop_after
    events = []
    second = train(data, None, tmp_path, resume=True, callback=events.append)
    assert events[0].resumed_at_epoch == stop_after
    assert sum(isinstance(e, EpochDone) for e in events) == 5 - stop_after
    resumed = load_file(str(second.model_path))
    assert resumed.keys() == reference.keys()
    for name in reference:
        np.testing.assert_array_equal(resumed[name].numpy(), reference[name].numpy(), err_msg=name)


def test_cancel_mid_epoch_keeps_the_last_complete_checkpoint(data, tmp_path):
    cancel = threading.Event()

    def callback(event):
        if isinstance(event, StepDone) and event.global_step == 5:  # inside epoch 2 (3 steps an epoch)
            cancel.set()

    result = train(data, tiny_experiment(), tmp_path, callback=callback, cancel=cancel)
    assert result.cancelled and result.global_epoch == 1
    assert result.model_path == tmp_path / "last.safetensors"
    assert load_checkpoint(result.model_path).metadata["global_epoch"] == 1
    with pytest.raises(TrainingError, match="different settings"):
        train(data, tiny_experiment(lr=1e-4), tmp_path, resume=True)
    with pytest.raises(TrainingError, match="--resume"):
        train(data, tiny_experiment(), tmp_path)


def test_bad_data_trains_nothing(tmp_path):
    root = make_pairs(tmp_path / "d", n=4, size=24)
    (root / "darkfield" / "case01.tif").write_bytes(b"garbage")
    with pytest.raises(DatasetError, match="case01"):
        train(root, tiny_experiment(), tmp_path / "out")
    assert not (tmp_path / "out").exists()
    with pytest.raises(TrainingError, match="cannot resume"):
        train(make_pairs(tmp_path / "ok", n=3, size=24), None, tmp_path / "none", resume=True)


def test_cli_events_json_stream(data, tmp_path):
    from dfviewer.cli import train as cli

    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    config = tmp_path / "tiny.json"
    config.write_text(json.dumps({"model": {"base_width": 4, "depth": 2, "n_stages": 1},
                                  "train": {"val_mc_samples": 0}}))
    args = parser.parse_args(["--data", str(data), "--out", str(tmp_path / "o"), "--config", str(config),
                              "--epochs", "1", "--working-size", "32", "--batch-size", "3", "--events-json",
                              "--device", "cpu"])
    buffer = io.StringIO()
    with redirect_stdout(buffer):
        assert cli.run(args) == 0
    events = [event_from_json(line) for line in buffer.getvalue().splitlines()]
    assert isinstance(events[-1], Finished) and events[-1].status == "completed"
    steps = [e for e in events if isinstance(e, StepDone)]
    assert len(steps) == 2 and steps[0].steps == 2  # 6 train pairs, batch 3
    ckpt = load_checkpoint(tmp_path / "o" / "model.safetensors")
    assert ckpt.config.working_size == 32 and ckpt.config.n_stages == 1
    assert ckpt.metadata["train_config"]["batch_size"] == 3


def test_cli_flags_override_config_and_preset(tmp_path):
    from dfviewer.cli import train as cli

    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"train": {"batch_size": 1, "lr": 1e-5}}))
    exp = cli.build_experiment(parser.parse_args(
        ["--data", "d", "--out", "o", "--preset", "paper", "--config", str(config), "--lr", "3e-4", "--stages", "2"]))
    assert exp.model.base_width == 64 and exp.model.n_stages == 2  # paper preset, flag
    assert exp.train.batch_size == 1 and exp.train.lr == 3e-4  # JSON, then the flag wins
    assert cli.build_experiment(parser.parse_args(["--data", "d", "--out", "o", "--resume"])) is None
    from dfviewer.core.config import ConfigError

    with pytest.raises(ConfigError) as info:  # the fast preset's depth 4 needs multiples of 16
        cli.build_experiment(parser.parse_args(["--data", "d", "--out", "o", "--working-size", "100"]))
    assert str(info.value) == "working_size must be a positive multiple of 16 (2 ** depth)"


def test_resume_between_stages_may_change_the_epochs_of_the_stages_not_begun(data, tmp_path):
    cancel, callback = _cancel_after(2)  # stage 1 (2 epochs) done, stage 2 not begun
    first = train(data, tiny_experiment(), tmp_path, callback=callback, cancel=cancel)
    assert first.cancelled and first.global_epoch == 2
    events = []
    second = train(data, tiny_experiment(epochs_per_stage=1), tmp_path, resume=True, callback=events.append)
    assert not second.cancelled and second.global_epoch == 3
    assert [p["epochs"] for p in events[0].phases] == [2, 1]
    meta = load_checkpoint(second.model_path).metadata
    assert meta["phase_epochs"] == [2, 1] and meta["train_config"]["epochs_per_stage"] == 1


def test_epochs_cannot_change_in_the_middle_of_a_stage(data, tmp_path):
    cancel, callback = _cancel_after(1)
    train(data, tiny_experiment(), tmp_path, callback=callback, cancel=cancel)
    with pytest.raises(TrainingError, match="in the middle of a stage"):
        train(data, tiny_experiment(epochs_per_stage=1), tmp_path, resume=True)
