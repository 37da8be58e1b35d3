"""The typed config: validation, presets, JSON round trip, model sizes."""

from __future__ import annotations

import json

import pytest

from dfviewer.core.config import (
    PRESETS,
    ConfigError,
    ExperimentConfig,
    ModelConfig,
    Normalization,
    TrainConfig,
    experiment_from_dict,
    load_experiment,
    model_config_from_dict,
    preset,
    save_json,
    to_dict,
)
from dfviewer.errors import UserError


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"base_width": 1}, "base_width"),
        ({"depth": 0}, "depth"),
        ({"dropout": 1.0}, "dropout"),
        ({"dropout_kind": "spatial"}, "dropout_kind"),
        ({"n_stages": 0}, "n_stages"),
        ({"refine_width": 1}, "refine_width"),
        ({"refine_width": 513}, "refine_width"),
        ({"stage_input": "concat"}, "stage_input"),
        ({"beta_min": 2.0, "beta_max": 1.0}, "beta_min"),
        ({"norm": "layer"}, "norm"),
        ({"working_size": 100, "depth": 4}, "working_size"),
        ({"alpha_floor": 0.0}, "alpha_floor"),
    ],
)
def test_model_config_rejects_bad_values(kwargs, words):
    with pytest.raises(ConfigError, match=words) as info:
        ModelConfig(**kwargs)
    assert isinstance(info.value, UserError)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "sentence"),
    [({"input_mode": "zscore"}, "input_mode must be one of percentile, fixed, equalize, not 'zscore'"),
     ({"input_low": 5, "input_high": 5}, "input_high must be larger than input_low"),
     ({"input_low": -1.0}, "percentile bounds must lie in [0, 100]"),
     ({"input_high": 101.0}, "percentile bounds must lie in [0, 100]"),
     ({"target_scale": 0.0}, "target_scale must be positive")],
)
def test_normalization_rejects_bad_values(kwargs, sentence):
    with pytest.raises(ConfigError) as info:
        Normalization(**kwargs)
    assert str(info.value) == sentence


def test_fixed_normalization_allows_any_values():
    assert Normalization(input_mode="fixed", input_low=-1000.0, input_high=3000.0).input_high == 3000.0


@pytest.mark.parametrize(
    ("kwargs", "sentence"),
    [({"epochs_per_stage": 0}, "epochs_per_stage must be at least 1"),
     ({"lr": 0.0}, "lr must be in (0, 1)"),
     ({"batch_size": 0}, "batch_size must be at least 1"),
     ({"adam_betas": (0.9, 1.0)}, "adam_betas must be two numbers in [0, 1)"),
     ({"residual_kernel": 4}, "residual_kernel must be an odd number of at least 3"),
     ({"augment_rotation_deg": 90.0}, "augment_rotation_deg must be in [0, 45]"),
     ({"lambda_l1": -1.0}, "lambda_l1 must not be negative")],
)
def test_train_config_rejects_bad_values(kwargs, sentence):
    with pytest.raises(ConfigError) as info:
        TrainConfig(**kwargs)
    assert str(info.value) == sentence


def test_presets_exist_and_fast_is_the_default():
    assert set(PRESETS) >= {"fast", "paper"}
    assert ModelConfig().preset == "fast" and preset("fast").model.base_width == ModelConfig().base_width
    paper = preset("paper")
    assert paper.model.base_width == 64 and paper.model.depth == 4 and paper.model.dropout == 0.1
    assert paper.train.lr == 8e-6 and paper.train.epochs_per_stage == 50 and paper.model.n_stages == 3
    with pytest.raises(ConfigError, match="unknown preset"):
        preset("huge")


@pytest.mark.parametrize("name", ["fast", "paper"])
def test_json_round_trip(tmp_path, name):
    config = preset(name)
    path = tmp_path / "experiment.json"
    save_json(config, path)
    assert load_experiment(path) == config
    assert model_config_from_dict(json.loads(json.dumps(to_dict(config.model)))) == config.model
    assert ExperimentConfig(**json.loads(path.read_text())) == config


def test_partial_json_fills_from_preset_and_rejects_unknown_keys(tmp_path):
    config = experiment_from_dict({"preset": "paper", "model": {"dropout": 0.2, "normalization": {"target_scale": 2.0}}})
    assert config.model.base_width == 64 and config.model.dropout == 0.2
    assert config.model.normalization.target_scale == 2.0 and config.model.normalization.input_mode == "percentile"
    with pytest.raises(ConfigError, match="widht"):
        experiment_from_dict({"model": {"widht": 3}})
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_experiment(bad)
    with pytest.raises(ConfigError, match="does not exist"):
        load_experiment(tmp_path / "missing.json")
    with pytest.raises(ConfigError, match=r"^depth must be a whole number, not \[1, 2\]$"):
        model_config_from_dict({"depth": [1, 2]})


def test_parameter_counts_of_the_presets():
    import torch

    from dfviewer.core.network import Cascade, count_parameters

    with torch.device("meta"):  # shapes only: no memory, no slow initialisation
        paper = Cascade(preset("paper").model)
        fast = Cascade(preset("fast").model)
    per_stage = [count_parameters(s) for s in paper.stages]
    assert len(per_stage) == 3
    assert all(30e6 <= n <= 33.5e6 for n in per_stage), per_stage
    assert count_parameters(fast) * 40 < count_parameters(paper)
