"""The U-Net cascade: shapes, bounded heads, where dropout lives, mc_dropout modes, freezing."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from torch import nn

from dfviewer.core.config import ModelConfig
from dfviewer.core.network import Cascade, PatchDiscriminator, dropout_modules, mc_dropout


@pytest.fixture()
def model(tiny_model_config):
    torch.manual_seed(0)
    return Cascade(tiny_model_config)


def test_every_stage_gives_three_maps_of_the_input_shape(model, tiny_model_config):
    x = torch.rand(2, 1, 32, 48)
    outs = model.eval()(x)
    assert len(outs) == tiny_model_config.n_stages
    for out in outs:
        for t in (out.mean, out.alpha, out.beta, out.sigma):
            assert t.shape == (2, 1, 32, 48) and t.dtype == torch.float32
        assert (out.alpha >= tiny_model_config.alpha_floor).all()
        assert (out.beta > tiny_model_config.beta_min).all() and (out.beta < tiny_model_config.beta_max).all()
    assert len(model(x, n_stages=1)) == 1


@pytest.mark.parametrize("stage_input", ["attention", "attention_absolute", "mean_only", "reference"])
@pytest.mark.parametrize("kind", ["channel", "element"])
@pytest.mark.parametrize("upsampling", ["transpose", "resize"])
def test_variants_run(stage_input, kind, upsampling):
    cfg = ModelConfig(preset="t", base_width=4, depth=2, working_size=64, stage_input=stage_input, dropout_kind=kind,
                      upsampling=upsampling)
    outs = Cascade(cfg).eval()(torch.rand(1, 1, 16, 16))
    assert all(torch.isfinite(o.mean).all() for o in outs)


def test_encoder_is_deterministic_under_mc_dropout_and_decoder_is_not(model):
    stage = model.stages[0]
    assert not list(dropout_modules(stage.stem)) and not list(dropout_modules(stage.down))
    x = torch.rand(1, 1, 32, 32)
    with torch.no_grad(), mc_dropout(model):
        a, b = stage.encode(x), stage.encode(x)
        assert all(torch.equal(u, v) for u, v in zip(a, b))
        assert not torch.equal(stage.decode(a).mean, stage.decode(a).mean)


def test_mc_dropout_switches_only_dropout_and_restores_modes(model):
    model.train()
    model.stages[0].eval()
    before = {name: m.training for name, m in model.named_modules()}
    with mc_dropout(model):
        for m in model.modules():
            assert m.training == isinstance(m, (nn.Dropout, nn.Dropout2d))
    assert {name: m.training for name, m in model.named_modules()} == before
    with mc_dropout(model, enabled=False):
        assert not any(m.training for m in model.modules())


def test_freeze_stages_stops_gradients_and_batchnorm_drift(model):
    model.train()
    model.freeze_stages([0])
    stats = model.stages[0].stem[1].running_mean.clone()
    outs = model(torch.rand(2, 1, 32, 32))
    outs[-1].mean.sum().backward()
    assert all(p.grad is None for p in model.stages[0].parameters())
    assert any(p.grad is not None for p in model.stages[1].parameters())
    assert torch.equal(model.stages[0].stem[1].running_mean, stats)


def test_frozen_stage_can_keep_sampling_dropout_without_drift(model):
    model.train()
    model.freeze_stages([0], sample_dropout=True)
    stage = model.stages[0]
    assert all(m.training for m in dropout_modules(stage))
    assert not any(m.training for m in stage.modules() if isinstance(m, nn.BatchNorm2d))
    stats = stage.stem[1].running_mean.clone()
    x = torch.rand(2, 1, 32, 32)
    torch.manual_seed(0)
    a = model(x)
    torch.manual_seed(1)
    b = model(x)
    assert not torch.equal(a[0].mean, b[0].mean)  # the frozen stage samples its dropout masks
    b[-1].mean.sum().backward()
    assert all(p.grad is None for p in stage.parameters())
    assert torch.equal(stage.stem[1].running_mean, stats)


def test_patch_discriminator_scores_patches():
    d = PatchDiscriminator(in_channels=2, width=8, layers=3)
    x, y = torch.rand(2, 1, 64, 64), torch.rand(2, 1, 64, 64)
    scores = d(x, y)
    assert scores.shape == (2, 1, 7, 7)  # one score per overlapping patch
    assert d(torch.rand(2, 1, 128, 96), torch.rand(2, 1, 128, 96)).shape == (2, 1, 15, 11)
    assert not torch.allclose(d(x, 1 - y), scores)  # conditional: the score depends on the dark-field judged


def _nyquist_share(a):
    """Share of an image's power in the 2-pixel patterns (the three Nyquist frequencies)."""
    import numpy as np

    power = np.abs(np.fft.fft2(a - a.mean())) ** 2
    n, m = a.shape[0] // 2, a.shape[1] // 2
    return (power[n, 0] + power[0, m] + power[n, m]) / power.sum()


def test_resize_upsampling_leaves_far_less_2_pixel_grid_than_transposed_convs():
    import numpy as np

    from dfviewer.core.inference import Predictor

    yy, xx = np.mgrid[0:64, 0:64]
    image = (np.sin(xx / 9) + np.cos(yy / 7)).astype(np.float32)
    grid = {}
    for upsampling in ("transpose", "resize"):
        shares = []
        for seed in range(5):  # random weights: average over a few initialisations
            torch.manual_seed(seed)
            cfg = ModelConfig(preset="t", base_width=4, depth=2, working_size=64, upsampling=upsampling)
            results = Predictor(Cascade(cfg), cfg, device="cpu").predict(image, mc_samples=8, seed=0)
            shares += [_nyquist_share(r.epistemic) for r in (results[0], results[2])]
        grid[upsampling] = float(np.mean(shares))
    assert grid["resize"] < grid["transpose"] / 3, grid


def test_later_stages_see_sigma_relative_absolute_or_not_at_all():
    from dfviewer.core.network import StageOutput, stage_input

    x = torch.rand(1, 1, 8, 8)
    prev = StageOutput(torch.rand(1, 1, 8, 8), torch.rand(1, 1, 8, 8) + 0.1, torch.full((1, 1, 8, 8), 2.0))
    sigma = prev.sigma
    cfg = ModelConfig(preset="t", base_width=4, depth=2, working_size=64)
    relative = stage_input(cfg, x, prev)
    assert torch.allclose(relative[:, 3], (sigma / sigma.mean())[:, 0])
    absolute = stage_input(replace(cfg, stage_input="attention_absolute"), x, prev)
    assert torch.allclose(absolute[:, 3], sigma[:, 0]) and torch.allclose(absolute[:, 2], (prev.mean * sigma)[:, 0])
    plain = stage_input(replace(cfg, stage_input="mean_only"), x, prev)
    assert plain.shape[1] == 2 and torch.equal(plain[:, 1], prev.mean[:, 0])


def test_refine_width_widens_only_the_later_stages_and_the_estimate_follows():
    from dfviewer.core.config import estimated_parameters
    from dfviewer.core.network import count_parameters

    cfg = ModelConfig(preset="t", base_width=4, depth=2, working_size=64)
    wide = replace(cfg, refine_width=8)
    a, b = Cascade(cfg), Cascade(wide)
    assert count_parameters(a.stages[0]) == count_parameters(b.stages[0])
    assert count_parameters(b.stages[1]) > 3 * count_parameters(a.stages[1])
    same = estimated_parameters(4, 2, 2, 3, refine_width=4)
    assert estimated_parameters(4, 2, 2, 3) == same < estimated_parameters(4, 2, 2, 3, refine_width=8)
    assert b.stages[2](torch.rand(1, 4, 16, 16)).mean.shape == (1, 1, 16, 16)
