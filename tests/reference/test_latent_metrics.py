"""KL per dimension, active units (Burda et al., 2016), mutual information and total correlation of the aggregate
posterior against independent computations and closed forms."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.distributions import Normal, kl_divergence

from genkit.contract.components import ModelOutput, ModelSpec
from genkit.evaluation.aggregate import aggregate_log_density, information
from genkit.evaluation.latent import ACTIVE_THRESHOLD, active_dimensions, kl_per_dimension
from genkit.evaluation.metrics import flat
from genkit_plugins.vae.loss import VAELoss


def _posterior(batch: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(0.0, 2.0, (batch, size)), rng.uniform(-3.0, 2.0, (batch, size))


@pytest.mark.parametrize("batch", [1, 3, 17])
def test_kl_per_dimension_matches_torch_distributions_against_a_non_standard_prior(batch):
    size = 6
    mu, log_var = _posterior(batch, size, seed=batch)
    rng = np.random.default_rng(100 + batch)
    prior_mean, prior_std = rng.normal(0.0, 2.0, size), rng.uniform(0.3, 3.0, size)
    posterior = Normal(torch.from_numpy(mu), torch.from_numpy(np.exp(log_var / 2)))
    prior = Normal(torch.from_numpy(prior_mean), torch.from_numpy(prior_std))
    expected = kl_divergence(posterior, prior).mean(dim=0).numpy()
    got = kl_per_dimension(mu, log_var, prior_mean, prior_std)
    assert got.shape == (size,)
    # Both are float64 evaluations of the same closed form in different orders: 1e-12 relative.
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("latent_shape", [(4,), (2, 2, 3)])
def test_kl_per_dimension_summed_is_the_training_loss_kl(latent_shape):
    # The evaluation's per-dimension KL of the flattened codes against N(0, I) adds up to the KL term the
    # VAE was trained on, for a flat and for a spatial latent.
    size = int(np.prod(latent_shape))
    mu, log_var = _posterior(17, size, seed=9)
    loss = VAELoss(spec=ModelSpec((1, 2, 2), latent_shape, ("mu", "log_var")))
    x = torch.zeros(17, 1, 2, 2)
    params = {"mu": torch.from_numpy(mu).float().reshape(17, *latent_shape),
              "log_var": torch.from_numpy(log_var).float().reshape(17, *latent_shape)}
    kl = loss(x, ModelOutput(x_hat=x, params=params, z=params["mu"]))["kl"]
    per_dim = kl_per_dimension(flat(params["mu"].double().numpy()), flat(params["log_var"].double().numpy()),
                               np.zeros(size), np.ones(size))
    assert per_dim.shape == (size,)
    # The loss works in float32 on float32-rounded inputs: agreement to 1e-5 relative.
    assert float(per_dim.sum()) == pytest.approx(kl.item(), rel=1e-5)


def test_spatial_codes_are_flattened_in_c_order_and_each_position_counts():
    # Only the code at channel 0, row 1, column 2 of a (2, 3, 3) latent moves with the input.
    rng = np.random.default_rng(3)
    codes = np.full((50, 2, 3, 3), 0.7)
    codes[:, 0, 1, 2] = rng.normal(0.0, 1.0, 50)
    flattened = flat(codes)
    assert flattened.shape == (50, 18)
    count, variance = active_dimensions(flattened)
    assert count == 1 and int(np.argmax(variance)) == np.ravel_multi_index((0, 1, 2), (2, 3, 3)) == 5


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


# -- the aggregate posterior: mutual information and total correlation (genkit.evaluation.aggregate) ----------


def _gaussian_codes(count: int, covariance: np.ndarray, posterior_var: float, seed: int):
    """Posterior means ~ N(0, covariance), a shared posterior variance, and one draw per posterior."""
    rng = np.random.default_rng(seed)
    mu = rng.multivariate_normal(np.zeros(len(covariance)), covariance, count)
    log_var = np.full_like(mu, np.log(posterior_var))
    z = mu + np.sqrt(posterior_var) * rng.normal(size=mu.shape)
    return z, mu, log_var


def _standard_normal_log_prob(z: np.ndarray) -> np.ndarray:
    return -0.5 * (np.log(2 * np.pi) + z ** 2).sum(axis=1)


def test_the_aggregate_density_is_the_mean_of_the_posterior_densities_written_out():
    rng = np.random.default_rng(4)
    z, mu, log_var = rng.normal(size=(7, 3)), rng.normal(size=(9, 3)), rng.uniform(-1.0, 1.0, (9, 3))
    joint, marginals = aggregate_log_density(z, mu, log_var)
    normal = Normal(torch.from_numpy(mu), torch.from_numpy(np.exp(log_var / 2)))
    per_dim = np.stack([normal.log_prob(torch.from_numpy(row)).numpy() for row in z])  # (7, 9, 3)
    expected_joint = np.log(np.exp(per_dim.sum(2)).mean(axis=1))
    expected_marginals = np.log(np.exp(per_dim).mean(axis=1)).sum(axis=1)
    np.testing.assert_allclose(joint.numpy(), expected_joint, rtol=1e-12)
    np.testing.assert_allclose(marginals.numpy(), expected_marginals, rtol=1e-12)


def test_total_correlation_of_independent_gaussian_codes_is_zero():
    # The estimator's q(z) is a mixture of N posteriors: its positive bias grows as they narrow against
    # the spread of their means (0.03 nats at variance 0.1 here); at 0.3 it measured 0.003-0.009.
    z, mu, log_var = _gaussian_codes(3000, np.diag([1.0, 2.0, 0.5]), 0.3, seed=1)
    stats = information(z, mu, log_var, _standard_normal_log_prob(z))
    assert abs(stats["total_correlation"]) < 0.02


@pytest.mark.parametrize("rho", [0.5, 0.9])
def test_total_correlation_of_correlated_gaussian_codes_matches_the_closed_form(rho):
    # q(z) -> N(0, C + s² I): TC of a Gaussian is -½ log det of its correlation matrix.
    covariance, var = np.array([[1.0, rho], [rho, 1.0]]), 0.1
    z, mu, log_var = _gaussian_codes(3000, covariance, var, seed=2)
    aggregate = covariance + var * np.eye(2)
    scale = np.sqrt(np.diag(aggregate))
    expected = -0.5 * np.linalg.slogdet(aggregate / np.outer(scale, scale))[1]
    got = information(z, mu, log_var, _standard_normal_log_prob(z))["total_correlation"]
    # 0.116 and 0.554 nats; over four seeds the estimates were within 0.009 of them
    assert got == pytest.approx(expected, abs=0.015), (got, expected)


def test_mutual_information_of_a_linear_gaussian_encoder_matches_the_closed_form():
    # x ~ N(0, I), q(z|x) = N(A x, s² I): I(x; z) = ½ log det(A Aᵀ + s² I) - ½ log det(s² I), and the
    # expected KL to N(0, I) has its closed form too; MI = expected KL - KL(q(z) || p(z)) on the same draws.
    a, var = np.diag([1.0, 2.0]), 0.25
    z, mu, log_var = _gaussian_codes(4000, a @ a.T, var, seed=3)
    stats = information(z, mu, log_var, _standard_normal_log_prob(z))
    expected = 0.5 * np.linalg.slogdet(a @ a.T + var * np.eye(2))[1] - 0.5 * 2 * np.log(var)
    assert stats["mutual_information"] == pytest.approx(expected, rel=0.03), (stats, expected)  # 2.23 nats
    kl = (0.5 * (np.exp(log_var) + mu ** 2 - 1.0 - log_var)).sum(axis=1).mean()
    assert stats["expected_kl"] == pytest.approx(kl, rel=0.03)
    assert stats["mutual_information"] == pytest.approx(stats["expected_kl"] - stats["aggregate_kl"], abs=1e-10)
    parts = stats["mutual_information"] + stats["total_correlation"] + stats["dimension_wise_kl"]
    assert parts == pytest.approx(stats["expected_kl"], abs=1e-10)


def test_the_mutual_information_estimate_is_at_most_log_n():
    # Posteriors far narrower than the spread of their means: every draw is nearest its own posterior.
    z, mu, log_var = _gaussian_codes(200, np.eye(4) * 100.0, 1e-4, seed=5)
    mi = information(z, mu, log_var, _standard_normal_log_prob(z))["mutual_information"]
    assert np.log(200) - 0.01 < mi <= np.log(200) + 1e-9
