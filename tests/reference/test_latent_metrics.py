"""KL per dimension and active units (Burda et al., 2016) against independent computations."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.distributions import Normal, kl_divergence

from genkit.components import ModelSpec
from genkit.evaluation.latent import ACTIVE_THRESHOLD, active_dimensions, kl_per_dimension
from genkit_plugins.vae.loss import VAELoss


def _posterior(batch: int, z_dim: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(0.0, 2.0, (batch, z_dim)), rng.uniform(-3.0, 2.0, (batch, z_dim))


@pytest.mark.parametrize("batch", [1, 3, 17])
def test_kl_per_dimension_matches_torch_distributions_against_a_non_standard_prior(batch):
    z_dim = 6
    mu, log_var = _posterior(batch, z_dim, seed=batch)
    rng = np.random.default_rng(100 + batch)
    prior_mean, prior_std = rng.normal(0.0, 2.0, z_dim), rng.uniform(0.3, 3.0, z_dim)
    posterior = Normal(torch.from_numpy(mu), torch.from_numpy(np.exp(log_var / 2)))
    prior = Normal(torch.from_numpy(prior_mean), torch.from_numpy(prior_std))
    expected = kl_divergence(posterior, prior).mean(dim=0).numpy()
    got = kl_per_dimension(mu, log_var, prior_mean, prior_std)
    assert got.shape == (z_dim,)
    # Both are float64 evaluations of the same closed form in different orders: 1e-12 relative.
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_kl_per_dimension_summed_is_the_training_loss_kl():
    # The evaluation's per-dimension KL against N(0, I) adds up to the KL term the VAE was trained on.
    mu, log_var = _posterior(17, 4, seed=9)
    loss = VAELoss(spec=ModelSpec((1, 2, 2), 4, ("mu", "log_var")))
    x = torch.zeros(17, 1, 2, 2)
    kl = loss(x, x, {"mu": torch.from_numpy(mu).float(), "log_var": torch.from_numpy(log_var).float()})["kl"]
    per_dim = kl_per_dimension(mu, log_var, np.zeros(4), np.ones(4))
    # The loss works in float32 on float32-rounded inputs: agreement to 1e-5 relative.
    assert float(per_dim.sum()) == pytest.approx(kl.item(), rel=1e-5)


def test_active_units_threshold_is_burdas():
    assert ACTIVE_THRESHOLD == 0.01


def _codes_with_variances(count: int, variances: list[float], seed: int) -> np.ndarray:
    """(count, D) codes whose population variance in dimension d is ``variances[d]`` up to rounding."""
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(count, len(variances)))
    base = (base - base.mean(axis=0)) / base.std(axis=0)  # zero mean, unit population variance
    offsets = rng.normal(0.0, 5.0, len(variances))  # the mean does not count, only the spread
    return base * np.sqrt(variances) + offsets


def test_active_dimensions_counts_population_variances_above_the_threshold():
    # Variances straddling 0.01 by 1%: a standard deviation compared with 0.01 would count 0.0099
    # (σ ≈ 0.0995) and 5e-4 (σ ≈ 0.022) as active, and the unbiased variance of 6 codes (×6/5) would
    # lift 0.0099 to 0.0119.
    variances = [0.0099, 0.0101, 5e-4, 2.5, 0.0, 0.3]
    codes = _codes_with_variances(6, variances, seed=1)
    reference = ((codes - codes.mean(axis=0)) ** 2).mean(axis=0)
    count, got = active_dimensions(codes)
    np.testing.assert_allclose(got, reference, rtol=1e-12, atol=1e-15)
    assert count == sum(v > 0.01 for v in variances) == 3


def test_a_dimension_exactly_at_the_threshold_is_not_active():
    # Cov > threshold, strictly: codes ±0.5 have population variance exactly 0.25 in binary floating point.
    codes = np.array([[0.5, 0.5, 1.0], [-0.5, 0.25, -1.0], [0.5, -0.5, 1.0], [-0.5, -0.25, -1.0]])
    count, variance = active_dimensions(codes, threshold=0.25)
    np.testing.assert_array_equal(variance, [0.25, 0.15625, 1.0])
    assert count == 1
