"""The samplers' draws against the distributions they claim, and their gradients against the analytic ones.

Statistical checks compare sample means and variances with the target's, allowing SIGMAS standard
errors derived from the number of draws: the standard error of a mean of M draws is σ/√M, that of a
variance of M normal draws σ²·√(2/(M-1)). At 6 standard errors a correct sampler fails one comparison
in about 5·10⁸, so the few hundred comparisons here pass (and every generator is seeded), while a
variance taken for a standard deviation moves the variance by a factor exp(log_var), many standard
errors away for log_var in [-3, 2].
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
from torch.distributions import Normal

from genkit.contract.components import ModelSpec
from genkit.contract.priors import DiagonalGaussianPrior
from genkit.runtime.prior import draw_prior
from genkit_plugins.ae.sampler import DeterministicSampler
from genkit_plugins.vae.sampler import GaussianSampler

Z_DIM = 5
INPUT_SHAPE = (1, 28, 28)
BATCHES = (1, 3, 17)
DRAWS = 4000
SIGMAS = 6.0


def _gaussian(z_dim: int = Z_DIM) -> GaussianSampler:
    return GaussianSampler(spec=ModelSpec(INPUT_SHAPE, (z_dim,), ("mu", "log_var")))


def _deterministic(z_dim: int = Z_DIM) -> DeterministicSampler:
    return DeterministicSampler(spec=ModelSpec(INPUT_SHAPE, (z_dim,), ("code",)))


def _posterior(batch: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    mu = 2.0 * torch.randn((batch, Z_DIM), generator=g)
    log_var = -3.0 + 5.0 * torch.rand((batch, Z_DIM), generator=g)
    return mu, log_var


def assert_normal_moments(draws: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> None:
    """``draws`` (M, ...) have per-element sample mean and variance within SIGMAS standard errors."""
    draws, mean, std = draws.double(), mean.double(), std.double()
    m = draws.shape[0]
    var = std.square()
    sample_mean, sample_var = draws.mean(dim=0), draws.var(dim=0, correction=1)
    mean_error = (sample_mean - mean).abs() / (std / math.sqrt(m))
    var_error = (sample_var - var).abs() / (var * math.sqrt(2.0 / (m - 1)))
    assert mean_error.max().item() < SIGMAS, f"sample mean {mean_error.max().item():.1f} standard errors off"
    assert var_error.max().item() < SIGMAS, f"sample variance {var_error.max().item():.1f} standard errors off"


def assert_standard_normal_shape(eps: torch.Tensor) -> None:
    """The pooled standardised draws follow Φ: Kolmogorov-Smirnov distance below its 1e-6 quantile.

    The asymptotic quantile of √n·D is √(ln(2/α)/2); α = 1e-6 keeps a correct sampler passing while a
    uniform or otherwise non-normal noise source is thousands of standard errors away.
    """
    values, _ = eps.double().flatten().sort()
    n = values.numel()
    cdf = Normal(0.0, 1.0).cdf(values)
    upper = torch.arange(1, n + 1, dtype=torch.float64) / n
    distance = torch.maximum(upper - cdf, cdf - (upper - 1.0 / n)).max().item()
    assert distance < math.sqrt(math.log(2 / 1e-6) / 2) / math.sqrt(n), distance


@pytest.mark.parametrize("batch", BATCHES)
def test_gaussian_draws_follow_the_posterior(batch):
    mu, log_var = _posterior(batch, seed=batch)
    sampler = _gaussian()
    generator = torch.Generator().manual_seed(1000 + batch)
    # DRAWS copies of the batch in one call: each copy gets its own noise.
    z = sampler(mu.repeat(DRAWS, 1), log_var.repeat(DRAWS, 1), generator=generator).reshape(DRAWS, batch, Z_DIM)
    std = torch.exp(log_var.double() / 2)
    assert_normal_moments(z, mu, std)
    assert_standard_normal_shape((z.double() - mu.double()) / std)


@pytest.mark.parametrize("batch", BATCHES)
def test_gaussian_draws_have_the_posterior_log_density(batch):
    # The mean log-density of draws from N(mu, σ²) is minus its entropy, -½ log(2πe σ²), per element;
    # a draw with the wrong scale moves it by ½(s²/σ² - 1) - log(s/σ). log p - E[log p] = -½(ε² - 1),
    # whose standard deviation is √½, sets the standard error √(½/M).
    mu, log_var = _posterior(batch, seed=50 + batch)
    generator = torch.Generator().manual_seed(2000 + batch)
    z = _gaussian()(mu.repeat(DRAWS, 1), log_var.repeat(DRAWS, 1), generator=generator).reshape(DRAWS, batch, Z_DIM)
    posterior = Normal(mu.double(), torch.exp(log_var.double() / 2))
    mean_log_density = posterior.log_prob(z.double()).mean(dim=0)
    error = (mean_log_density + posterior.entropy()).abs() / math.sqrt(0.5 / DRAWS)
    assert error.max().item() < SIGMAS


@pytest.mark.parametrize("batch", BATCHES)
def test_gaussian_draw_gradients_are_the_reparameterisation_derivatives(batch):
    # z = mu + exp(log_var / 2) ε: dz/dmu = 1 and dz/dlog_var = ½ σ ε, elementwise. ε is recovered from
    # the draw through an independently computed σ, and the statistics above pin down that it is N(0, 1).
    mu, log_var = _posterior(batch, seed=300 + batch)
    mu, log_var = mu.clone().requires_grad_(True), log_var.clone().requires_grad_(True)
    z = _gaussian()(mu, log_var, generator=torch.Generator().manual_seed(3))
    weights = torch.randn(z.shape, generator=torch.Generator().manual_seed(4))  # a random upstream gradient
    (weights * z).sum().backward()
    with torch.no_grad():
        std = torch.exp(log_var / 2)
        eps = (z - mu) / std
        # float32 arithmetic on values of order 1-10: 1e-5 relative with a 1e-6 floor covers its rounding.
        torch.testing.assert_close(mu.grad, weights, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(log_var.grad, weights * 0.5 * std * eps, rtol=1e-5, atol=1e-6)


def test_gaussian_draws_are_reproducible_and_the_mean_is_mu():
    mu, log_var = _posterior(3, seed=5)
    sampler = _gaussian()
    first = sampler(mu, log_var, generator=torch.Generator().manual_seed(8))
    again = sampler(mu, log_var, generator=torch.Generator().manual_seed(8))
    other = sampler(mu, log_var, generator=torch.Generator().manual_seed(9))
    assert torch.equal(first, again)
    assert not torch.equal(first, other)
    assert torch.equal(sampler.mean(mu, log_var), mu)


def test_gaussian_prior_is_the_standard_normal():
    prior = _gaussian(z_dim=7).prior()
    assert isinstance(prior, DiagonalGaussianPrior) and prior.latent_shape == (7,)
    assert torch.equal(prior.mean, torch.zeros(7))
    assert torch.equal(prior.std, torch.ones(7))


def test_the_samplers_prior_of_a_spatial_latent_has_its_shape():
    spec = ModelSpec(INPUT_SHAPE, (2, 3, 3), ("mu", "log_var"))
    code_spec = dataclasses.replace(spec, parameter_names=("code",))
    for sampler in (GaussianSampler(spec=spec), DeterministicSampler(spec=code_spec)):
        prior = sampler.prior()
        assert prior.latent_shape == (2, 3, 3) and prior.describe()["family"] == "diagonal-gaussian"
        assert sampler.sample_prior(4, generator=torch.Generator().manual_seed(0)).shape == (4, 2, 3, 3)


def _nontrivial_prior(z_dim: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    # Far from N(0, I), so that std and variance, or mean and zero, cannot be confused unnoticed.
    g = torch.Generator().manual_seed(seed)
    return 3.0 * torch.randn(z_dim, generator=g), 0.2 + 3.8 * torch.rand(z_dim, generator=g)


@pytest.mark.parametrize("z_dim", [2, 6])
def test_sample_prior_draws_mean_plus_std_times_standard_noise(z_dim):
    # Sampler.sample_prior, the default every diagonal-Gaussian prior uses, on a prior set away from N(0, I).
    sampler = _gaussian(z_dim)
    mean, std = _nontrivial_prior(z_dim, seed=z_dim)
    sampler.prior_mean.copy_(mean)
    sampler.prior_std.copy_(std)
    z = sampler.sample_prior(20000, generator=torch.Generator().manual_seed(z_dim))
    assert z.shape == (20000, z_dim)
    assert_normal_moments(z, mean, std)
    assert_standard_normal_shape((z.double() - mean.double()) / std.double())


def test_host_prior_draws_mean_plus_std_times_standard_noise():
    # genkit.runtime.prior.draw_prior, what exports and run folders generate from.
    mean, std = _nontrivial_prior(6, seed=21)
    z = torch.from_numpy(draw_prior(mean.numpy(), std.numpy(), 20000, seed=3))
    assert z.shape == (20000, 6) and z.dtype == torch.float32
    assert_normal_moments(z, mean, std)
    assert_standard_normal_shape((z.double() - mean.double()) / std.double())


@pytest.mark.parametrize("batch", BATCHES)
def test_deterministic_sampler_passes_the_code_through(batch):
    code = (5.0 * torch.randn((batch, Z_DIM), generator=torch.Generator().manual_seed(batch))).requires_grad_(True)
    sampler = _deterministic()
    z = sampler(code, generator=torch.Generator().manual_seed(0))
    assert torch.equal(z, code) and torch.equal(sampler.mean(code), code)
    weights = torch.randn(z.shape, generator=torch.Generator().manual_seed(1))
    (weights * z).sum().backward()
    assert torch.equal(code.grad, weights)  # dz/dcode = identity


@pytest.mark.parametrize("count", [1, 2, 3, 17])
def test_fit_prior_is_the_mean_and_population_std_of_the_codes(count):
    rng = np.random.default_rng(count)
    codes = rng.normal(loc=rng.normal(0, 4, Z_DIM), scale=rng.uniform(0.1, 5, Z_DIM), size=(count, Z_DIM))
    sampler = _deterministic()
    sampler.fit_prior(torch.from_numpy(codes).float())
    codes32 = codes.astype(np.float32).astype(np.float64)  # what the sampler saw
    # float32 statistics of values of order 1-10: 1e-5 relative with a 1e-6 floor for zero std (count 1).
    np.testing.assert_allclose(sampler.prior_mean.numpy(), codes32.mean(axis=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(sampler.prior_std.numpy(), codes32.std(axis=0, ddof=0), rtol=1e-5, atol=1e-6)


def test_fitted_prior_is_what_sample_prior_draws_from():
    rng = np.random.default_rng(4)
    codes = rng.normal(loc=[-4.0, 0.5, 7.0], scale=[0.3, 2.5, 6.0], size=(500, 3))
    sampler = _deterministic(3)
    sampler.fit_prior(torch.from_numpy(codes).float())
    z = sampler.sample_prior(20000, generator=torch.Generator().manual_seed(6))
    mean, std = torch.from_numpy(codes.mean(axis=0)), torch.from_numpy(codes.std(axis=0))
    assert_normal_moments(z, mean, std)


# -- the noise convention: z = mean + std * eps, eps the generator's standard-normal stream ----------
# A seed must give the same points wherever they are drawn (a run and its export, a resumed run), so
# the stream and the sign are part of the contract, not only the distribution (mean - std * eps has
# the same distribution and is not the same sampler).

def test_gaussian_draw_is_mu_plus_std_times_the_generators_noise():
    mu, log_var = _posterior(7, seed=11)
    z = _gaussian()(mu, log_var, generator=torch.Generator().manual_seed(3))
    eps = torch.randn(mu.shape, generator=torch.Generator().manual_seed(3))
    assert torch.equal(z, mu + torch.exp(log_var / 2) * eps)


def test_sample_prior_is_mean_plus_std_times_the_generators_noise():
    sampler = _deterministic(3)
    codes = torch.randn(64, 3, generator=torch.Generator().manual_seed(5)) * 2.0 - 1.0
    sampler.fit_prior(codes)
    draws = sampler.sample_prior(9, generator=torch.Generator().manual_seed(8))
    eps = torch.randn((9, 3), generator=torch.Generator().manual_seed(8))
    assert torch.equal(draws, sampler.prior_mean + sampler.prior_std * eps)


def test_host_prior_is_mean_plus_std_times_numpys_noise_with_seed_0_by_default():
    mean, std = np.array([1.5, -2.0, 0.25], np.float32), np.array([0.5, 3.0, 1.0], np.float32)
    eps = np.random.default_rng(0).standard_normal((4, 3), dtype=np.float32)
    assert np.array_equal(draw_prior(mean, std, 4), mean + std * eps)
    assert np.array_equal(draw_prior(mean, std, 4), draw_prior(mean, std, 4, seed=0))


def test_unseeded_draws_work():
    """Without a generator the global one is used (interactive use); the draws still have the right shape."""
    mu, log_var = _posterior(4, seed=12)
    torch.manual_seed(0)
    assert _gaussian()(mu, log_var).shape == mu.shape
    assert _gaussian().sample_prior(6).shape == (6, Z_DIM)
    assert _deterministic().sample_prior(6).shape == (6, Z_DIM)


# -- what is saved, and what is declared --------------------------------------------------------------

def test_the_fixed_prior_is_not_saved_and_the_fitted_one_is():
    """N(0, I) is not learnt, so it stays out of model.safetensors (run folders do not change); the
    autoencoder's fitted prior is data and must be saved with the weights."""
    assert _gaussian().state_dict() == {}
    assert set(_deterministic().state_dict()) == {"prior_mean", "prior_std"}
    assert not GaussianSampler.fits_prior and DeterministicSampler.fits_prior


@pytest.mark.parametrize("shape", [(8, Z_DIM + 1), (8, Z_DIM - 1), (8,), (8, Z_DIM, 1), (0, Z_DIM)])
def test_fit_prior_refuses_codes_of_another_shape(shape):
    sampler = _deterministic()
    before = {k: v.clone() for k, v in sampler.state_dict().items()}
    with pytest.raises(ValueError, match=r"fit_prior expects codes of shape \(N >= 1, 5\)"):
        sampler.fit_prior(torch.ones(shape))
    assert all(torch.equal(before[k], v) for k, v in sampler.state_dict().items())


def test_model_spec_and_settings_are_frozen():
    spec = ModelSpec(INPUT_SHAPE, (Z_DIM,), ("mu", "log_var"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.latent_shape = (3,)
    assert spec.latent_numel == Z_DIM and ModelSpec(INPUT_SHAPE, (4, 2, 3), ("code",)).latent_numel == 24
    with pytest.raises(dataclasses.FrozenInstanceError):
        _gaussian().settings.anything = 1
