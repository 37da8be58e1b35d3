import numpy as np
import pytest
import torch
from scipy import ndimage, stats

from dfviewer.core import losses
from dfviewer.core.config import TrainConfig


def test_l1_and_nll_match_references():
    torch.manual_seed(0)
    pred, target = torch.randn(2, 1, 8, 8), torch.randn(2, 1, 8, 8)
    alpha = torch.rand(2, 1, 8, 8) + 0.1
    beta = torch.rand(2, 1, 8, 8) * 3 + 0.3
    assert losses.l1_loss(pred, target).item() == pytest.approx(np.abs((pred - target).numpy()).mean(), rel=1e-6)
    ref = -stats.gennorm.logpdf((target - pred).numpy(), beta.numpy(), scale=alpha.numpy()).mean()
    assert losses.nll_loss(pred, alpha, beta, target).item() == pytest.approx(ref, rel=1e-5)


def test_lsgan_losses():
    ones, zeros = torch.ones(4, 1, 3, 3), torch.zeros(4, 1, 3, 3)
    assert losses.lsgan_generator_loss(ones).item() == 0.0
    assert losses.lsgan_generator_loss(zeros).item() == 1.0
    assert losses.lsgan_discriminator_loss(ones, zeros).item() == 0.0
    assert losses.lsgan_discriminator_loss(zeros, ones).item() == 1.0


def test_box_blur_equals_mirrored_uniform_filter():
    z = torch.randn(1, 1, 13, 17, dtype=torch.float64)
    for k in (3, 5):
        ref = ndimage.uniform_filter(z[0, 0].numpy(), size=k, mode="mirror")
        np.testing.assert_allclose(losses.box_blur(z, k)[0, 0].numpy(), ref, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="^the box blur size must be a positive odd number$"):
        losses.box_blur(z, 4)


def test_residual_consistency_sees_texture_not_offset():
    torch.manual_seed(1)
    y = torch.randn(1, 1, 32, 32)
    assert losses.residual_consistency_loss(y + 3.0, y, 5).item() < 1e-5  # a flat offset has no texture
    smooth = losses.box_blur(y, 5)
    assert losses.residual_consistency_loss(smooth, y, 5).item() > 0.3  # the noise is missing


def test_generator_loss_is_the_weighted_sum():
    torch.manual_seed(2)
    mean = torch.randn(2, 1, 16, 16, requires_grad=True)
    alpha = torch.rand(2, 1, 16, 16) + 0.2
    beta = torch.full((2, 1, 16, 16), 2.0)
    y = torch.randn(2, 1, 16, 16)
    scores = torch.randn(2, 1, 4, 4)
    cfg = TrainConfig(lambda_l1=0.8, lambda_nll=0.01, lambda_adv=0.1, lambda_residual=0.5, residual_kernel=3)
    out = losses.generator_loss(mean, alpha, beta, y, scores, cfg)
    parts = out.parts()
    expected = 0.8 * parts["l1"] + 0.01 * parts["nll"] + 0.1 * parts["adv"] + 0.5 * parts["residual"]
    assert parts["total"] == pytest.approx(expected, rel=1e-5)
    assert parts["adv"] == pytest.approx(((scores - 1) ** 2).mean().item(), rel=1e-6)
    out.total.backward()
    assert torch.isfinite(mean.grad).all() and mean.grad.abs().sum() > 0
    no_adv = losses.generator_loss(mean, alpha, beta, y, None, cfg)
    assert no_adv.parts()["adv"] == 0.0


def test_detached_nll_trains_alpha_and_beta_but_not_the_mean():
    torch.manual_seed(0)
    target = torch.rand(2, 1, 8, 8)
    start = torch.rand(2, 1, 8, 8)
    grads = {}
    for detach in (False, True):
        mean = start.clone().requires_grad_(True)
        alpha = torch.full((2, 1, 8, 8), 0.2, requires_grad=True)
        beta = torch.full((2, 1, 8, 8), 1.5, requires_grad=True)
        cfg = TrainConfig(lambda_l1=0.0, lambda_nll=1.0, lambda_adv=0.0, lambda_residual=0.0, nll_detach_mean=detach)
        out = losses.generator_loss(mean, alpha, beta, target, None, cfg)
        out.total.backward()
        grads[detach] = (mean.grad, alpha.grad.clone(), beta.grad.clone(), out.nll.item())
    assert grads[False][0].abs().sum() > 0
    assert grads[True][0] is None or not grads[True][0].any()  # nothing reaches the mean via the NLL
    torch.testing.assert_close(grads[True][1], grads[False][1])  # same alpha and beta gradients
    torch.testing.assert_close(grads[True][2], grads[False][2])
    assert grads[True][3] == pytest.approx(grads[False][3])  # the same NLL value is reported
