"""The generalized-Gaussian maths against scipy, and fitting alpha and beta to known residuals."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from dfviewer.core import ggd

ALPHAS = [0.01, 0.1, 0.5, 1.0, 3.0]
BETAS = [0.2, 0.5, 0.8, 1.0, 1.5, 2.0, 4.0, 8.0]
RESIDUALS = [0.0, 1e-5, 1e-3, 0.05, -0.3, 1.0, -2.5]


def grid():
    a, b, r = np.meshgrid(ALPHAS, BETAS, RESIDUALS, indexing="ij")
    return a.ravel(), b.ravel(), r.ravel()


def test_nll_equals_scipy_gennorm():
    a, b, r = grid()
    ours = ggd.nll(torch.tensor(r), torch.tensor(a), torch.tensor(b)).double().numpy()
    theirs = -stats.gennorm.logpdf(r, b, scale=a)
    # float32 arithmetic: compare relative to the magnitude of the value
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)


def test_sigma_equals_scipy_gennorm_std():
    a, b, _ = grid()
    ours = ggd.sigma(torch.tensor(a, dtype=torch.float32), torch.tensor(b, dtype=torch.float32)).double().numpy()
    np.testing.assert_allclose(ours, stats.gennorm.std(b, scale=a), rtol=1e-5, atol=1e-7)


def test_nll_works_in_float32_from_half_inputs():
    out = ggd.nll(torch.tensor([0.5], dtype=torch.float16), torch.tensor([0.01], dtype=torch.float16),
                  torch.tensor([0.3], dtype=torch.float16))
    assert out.dtype == torch.float32 and torch.isfinite(out).all()


def test_gradients_are_finite_at_zero_residual_and_small_beta():
    a, b, r = grid()
    residual = torch.tensor(r, dtype=torch.float32, requires_grad=True)
    alpha = torch.tensor(a, dtype=torch.float32, requires_grad=True)
    beta = torch.tensor(b, dtype=torch.float32, requires_grad=True)
    ggd.nll(residual, alpha, beta).sum().backward()
    for t in (residual, alpha, beta):
        assert torch.isfinite(t.grad).all()
    a32, b32 = (torch.tensor(v, dtype=torch.float32, requires_grad=True) for v in (a, b))
    ggd.sigma(a32, b32).sum().backward()
    assert torch.isfinite(a32.grad).all() and torch.isfinite(b32.grad).all()
    # the gradient w.r.t. beta at r = 0 is the exact one of the constant terms (power term is 0)
    at_zero = torch.tensor(r) == 0
    expected = -1 / beta - torch.special.digamma(1 / beta) / beta**2
    torch.testing.assert_close(beta.grad[at_zero], expected.detach()[at_zero], rtol=1e-4, atol=1e-4)


BETA_MIN, BETA_MAX = 0.2, 8.0


def fit_global_ggd(samples: np.ndarray, steps: int = 300) -> tuple[float, float]:
    """Fit one alpha and beta by Adam on the mean NLL, parametrised as the model does."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: threads only add overhead on a busy machine
    try:
        return _fit(samples, steps)
    finally:
        torch.set_num_threads(threads)


def _fit(samples: np.ndarray, steps: int) -> tuple[float, float]:
    r = torch.tensor(samples, dtype=torch.float32)
    raw_alpha = torch.tensor(float(np.log(np.expm1(samples.std()))), requires_grad=True)
    z = torch.tensor(0.0, requires_grad=True)  # beta starts mid-range
    opt = torch.optim.Adam([raw_alpha, z], lr=0.2)
    for _ in range(steps):
        alpha = torch.nn.functional.softplus(raw_alpha) + 1e-4
        beta = BETA_MIN + (BETA_MAX - BETA_MIN) * torch.sigmoid(z)
        loss = ggd.nll(r, alpha, beta).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        alpha = torch.nn.functional.softplus(raw_alpha) + 1e-4
        beta = BETA_MIN + (BETA_MAX - BETA_MIN) * torch.sigmoid(z)
        return float(beta), float(ggd.sigma(alpha, beta))


@pytest.mark.parametrize(
    "kind, check_beta",
    [
        ("gaussian", lambda b: abs(b - 2.0) < 0.25),
        ("laplacian", lambda b: abs(b - 1.0) < 0.15),
        ("uniform", lambda b: b > 0.9 * BETA_MAX),
    ],
)
def test_fitting_recovers_shape_and_std(kind, check_beta):
    rng = np.random.default_rng(1)
    n = 5000
    samples = {
        "gaussian": rng.normal(0.0, 0.3, n),
        "laplacian": rng.laplace(0.0, 0.2, n),
        "uniform": rng.uniform(-0.5, 0.5, n),
    }[kind]
    beta, sigma = fit_global_ggd(samples)
    assert check_beta(beta), f"{kind}: fitted beta {beta:.3f}"
    assert abs(sigma / samples.std() - 1) < 0.05, f"{kind}: sigma {sigma:.4f} vs std {samples.std():.4f}"


def test_reference_loss_would_fail_the_fit():
    """The check above can fail: the reference's |r|/alpha*beta 'likelihood' drifts beta away."""
    rng = np.random.default_rng(1)
    r = torch.tensor(rng.normal(0.0, 0.3, 5000), dtype=torch.float32)
    raw_alpha = torch.tensor(0.0, requires_grad=True)
    z = torch.tensor(0.0, requires_grad=True)
    opt = torch.optim.Adam([raw_alpha, z], lr=0.05)
    for _ in range(300):
        alpha = torch.nn.functional.softplus(raw_alpha) + 1e-4
        beta = BETA_MIN + (BETA_MAX - BETA_MIN) * torch.sigmoid(z)
        loss = (r.abs() / alpha * beta + torch.log(alpha) - torch.log(beta) + torch.lgamma(1 / beta)).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    beta = BETA_MIN + (BETA_MAX - BETA_MIN) * torch.sigmoid(z.detach())
    assert abs(float(beta) - 2.0) > 0.5


def test_central_interval_halfwidth_matches_scipy():
    alpha = torch.tensor([0.1, 0.5, 1.0])
    beta = torch.tensor([0.5, 2.0, 6.0])
    for coverage in (0.5, 0.9):
        half = ggd.central_interval_halfwidth(alpha, beta, coverage).numpy()
        expected = stats.gennorm.ppf(0.5 + coverage / 2, beta.numpy(), scale=alpha.numpy())
        np.testing.assert_allclose(half, expected, rtol=1e-4)
    with pytest.raises(ValueError, match="^coverage must lie strictly between 0 and 1$"):
        ggd.central_interval_halfwidth(alpha, beta, 1.0)
