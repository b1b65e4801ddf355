"""genkit.testing.statistics: the one-sample tests (Gaussian moments, category frequencies, uniformity, means)
accept the declared distribution, reject shifted and scaled ones, and keep the false-alarm rate they state."""

from __future__ import annotations

import math
from statistics import NormalDist

import pytest
import torch

from genkit.testing.statistics import (
    check_frequencies,
    check_gaussian_moments,
    check_means,
    check_uniform,
    frequency_test,
    gaussian_moment_test,
    two_sided_threshold,
)

N = 20_000
MEAN = torch.tensor([0.0, -1.5, 2.0, 0.3])
STD = torch.tensor([1.0, 0.2, 3.0, 0.7])


def draws(seed: int, mean: torch.Tensor = MEAN, std: torch.Tensor = STD, n: int = N) -> torch.Tensor:
    return mean + std * torch.randn(n, len(mean), generator=torch.Generator().manual_seed(seed))


def test_threshold_is_the_bonferroni_corrected_normal_quantile():
    assert two_sided_threshold(0.05, 1) == pytest.approx(1.959964, abs=1e-6)
    # 8 tests at an overall 1e-6: each two-sided test at 1.25e-7, i.e. 6.25e-8 in each tail
    threshold = two_sided_threshold(1e-6, 8)
    assert 1.0 - NormalDist().cdf(threshold) == pytest.approx(1e-6 / 16, rel=1e-6)
    assert two_sided_threshold(1e-6, 400) > threshold
    with pytest.raises(ValueError):
        two_sided_threshold(0.0, 3)


@pytest.mark.parametrize("seed", range(10))
def test_draws_from_the_declared_gaussian_pass(seed):
    result = check_gaussian_moments(draws(seed), MEAN, STD, "sampler", "draws")
    assert not result.rejected and result.n == N
    assert result.mean_z.abs().max() < 4.5 and result.var_z.abs().max() < 4.5  # far below the 5.3 threshold


@pytest.mark.parametrize(("label", "mean", "std", "pattern"), [
    ("mean shifted by 0.1 sigma", MEAN + 0.1 * STD, STD, r"dimension \d: sample mean"),
    ("std scaled by 1.1", MEAN, 1.1 * STD, r"dimension \d: sample std"),
    ("std scaled by 0.9", MEAN, 0.9 * STD, r"dimension \d: sample std"),
    ("variance taken for the std", MEAN, STD.square(), r"dimension [023]: sample std"),
    ("one dimension off by 4 %", MEAN, STD * torch.tensor([1.0, 1.0, 1.04, 1.0]), r"dimension 2: sample std"),
])
def test_shifted_or_scaled_draws_are_rejected(label, mean, std, pattern):
    with pytest.raises(AssertionError, match=r"sampler: draws do not follow the declared Gaussian: .*" + pattern):
        check_gaussian_moments(draws(1, mean, std), MEAN, STD, "sampler", "draws")


def test_uniform_noise_of_the_right_mean_is_rejected_by_its_variance():
    uniform = torch.rand(N, 4, generator=torch.Generator().manual_seed(2)) * 2 - 1  # variance 1/3
    result = gaussian_moment_test(uniform, torch.zeros(4), torch.ones(4))
    assert result.rejected and result.mean_z.abs().max() < result.threshold
    assert "sample std 0.57" in result.describe()


def test_per_dimension_rejection_rate_matches_the_nominal_level():
    # 4000 independent dimensions of 50 draws: each test at level 0.05 rejects a fraction near 0.05.
    # Four binomial standard errors (4 * sqrt(0.05 * 0.95 / 4000) = 0.014) bound the deviation; at 49
    # degrees of freedom the Wilson-Hilferty variance test is still within 0.3 % of its nominal tail.
    samples = torch.randn(50, 4000, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    result = gaussian_moment_test(samples, torch.zeros(4000), torch.ones(4000))
    z = NormalDist().inv_cdf(1 - 0.05 / 2)
    for statistic in (result.mean_z, result.var_z):
        assert abs(float((statistic.abs() > z).double().mean()) - 0.05) < 0.014


def test_the_overall_false_alarm_rate_is_at_most_the_stated_one():
    # 400 checks of 10 dimensions at an overall 0.2: Bonferroni keeps the rejected fraction at or below
    # 0.2 (up to three binomial standard errors, 0.06) and, being nearly exact for independent tests,
    # near it (above 0.1).
    gen = torch.Generator().manual_seed(4)
    rejected = sum(gaussian_moment_test(torch.randn(200, 10, generator=gen), torch.zeros(10), torch.ones(10),
                                        false_alarm=0.2).rejected for _ in range(400))
    assert 0.1 * 400 < rejected <= (0.2 + 0.06) * 400


@pytest.mark.parametrize("dimensions", [1, 2, 200])
def test_the_variance_test_is_conservative_against_the_exact_chi_square_tail(dimensions):
    # At the thresholds the checks use, the Wilson-Hilferty tails never exceed the exact χ²(k) tails'
    # nominal value and fall short of it by under 0.2 %: the stated false-alarm rate is an upper bound.
    k = N - 1
    threshold = two_sided_threshold(1e-6, 2 * dimensions)
    spread = math.sqrt(2.0 / (9.0 * k))
    half_k = torch.tensor(k / 2, dtype=torch.float64)
    upper = (1.0 - spread**2 + threshold * spread) ** 3  # the variance ratios at |z| = threshold
    lower = (1.0 - spread**2 - threshold * spread) ** 3
    nominal = 1.0 - NormalDist().cdf(threshold)
    exact_upper = float(torch.special.gammaincc(half_k, torch.tensor(k * upper / 2, dtype=torch.float64)))
    exact_lower = float(torch.special.gammainc(half_k, torch.tensor(k * lower / 2, dtype=torch.float64)))
    for exact in (exact_upper, exact_lower):
        assert 0.998 * nominal < exact <= nominal


def test_bad_declarations_are_refused():
    with pytest.raises(ValueError, match="std must be positive"):
        gaussian_moment_test(draws(0), MEAN, STD * torch.tensor([1.0, 0.0, 1.0, 1.0]))
    with pytest.raises(ValueError, match="at least 2 draws"):
        gaussian_moment_test(draws(0, n=1), MEAN, STD)
    nan = draws(0)
    nan[3, 1] = float("nan")
    with pytest.raises(AssertionError, match="sampler: draws hold non-finite values"):
        check_gaussian_moments(nan, MEAN, STD, "sampler", "draws")


# -- frequencies, uniformity and means --------------------------------------------------------------------------

PROBS = torch.tensor([0.5, 0.2, 0.15, 0.1, 0.05])


def counts_of(seed: int, probs: torch.Tensor = PROBS, n: int = N, groups: int = 1) -> torch.Tensor:
    draws = torch.multinomial(probs.expand(groups, -1), n, replacement=True,
                              generator=torch.Generator().manual_seed(seed))
    return torch.nn.functional.one_hot(draws, len(probs)).sum(1).double()


@pytest.mark.parametrize("seed", range(5))
def test_multinomial_counts_of_the_declared_probabilities_pass(seed):
    result = check_frequencies(counts_of(seed, groups=3), PROBS, "sampler", "codes")
    assert not result.rejected and (result.p > 1e-4).all()
    assert result.dof.tolist() == [4, 4, 4]


@pytest.mark.parametrize(("label", "probs", "pattern"), [
    ("two probabilities swapped", torch.tensor([0.5, 0.15, 0.2, 0.1, 0.05]), r"category [12] drawn"),
    ("uniform instead", torch.full((5,), 0.2), r"category 4 drawn \d+ times where 1000.0 ± 31.6 are expected"),
    ("a 10 % relative error in one", torch.tensor([0.5, 0.2, 0.15, 0.11, 0.04]), r"category [34] drawn"),
])
def test_counts_of_other_probabilities_are_rejected(label, probs, pattern):
    with pytest.raises(AssertionError, match=r"sampler: codes do not follow the declared probabilities: .*" + pattern):
        check_frequencies(counts_of(1, probs / probs.sum()), PROBS, "sampler", "codes")


def test_the_frequency_test_keeps_its_level():
    # 2000 groups of 200 draws over 8 categories (expected 25 each, so nothing is pooled): each group's test at
    # level 0.05 rejects a fraction near 0.05 (four binomial standard errors: 0.02).
    probs = torch.full((8,), 1 / 8)
    result = frequency_test(counts_of(2, probs, n=200, groups=2000), probs)
    assert abs(float((result.p < 0.05).double().mean()) - 0.05) < 0.02


def test_rare_categories_are_pooled_and_impossible_ones_reject():
    probs = torch.tensor([0.9, 0.0995, 0.0005])  # 10 expected of the last in 20,000: pooled with the second
    result = frequency_test(counts_of(3, probs), probs)
    assert int(result.dof[0]) == 1 and not result.rejected
    counts = counts_of(3, probs)
    counts[0, 2] += 1
    impossible = frequency_test(counts, torch.tensor([0.9, 0.1, 0.0]))  # one draw where p = 0
    assert impossible.rejected and float(impossible.p[0]) == 0.0


def test_uniform_values_pass_and_skewed_ones_fail():
    gen = torch.Generator().manual_seed(4)
    check_uniform(torch.rand(3, N, generator=gen, dtype=torch.float64), "prior", "CDF values")
    skewed = torch.rand(3, N, generator=gen, dtype=torch.float64).pow(1.1)  # Beta(1/1.1, 1): 5 % off at the edges
    with pytest.raises(AssertionError, match=r"prior: CDF values are not uniform in \[0, 1\] over 20 bins .* "
                                             r"dimension \d: bin \d+ drawn"):
        check_uniform(skewed, "prior", "CDF values")


def test_means_against_their_expectations():
    gen = torch.Generator().manual_seed(5)
    samples = torch.rand(N, 3, generator=gen, dtype=torch.float64) * torch.tensor([1.0, 2.0, 4.0])
    check_means(samples, torch.tensor([0.5, 1.0, 2.0]), "prior", "responsibilities")
    with pytest.raises(AssertionError, match=r"prior: responsibilities: column 2 has mean 1.99.* against 2.05"):
        check_means(samples, torch.tensor([0.5, 1.0, 2.05]), "prior", "responsibilities")
    constant = torch.full((N, 1), 1 / 3, dtype=torch.float64)  # identical mixture components
    check_means(constant, torch.tensor([1 / 3], dtype=torch.float32), "prior", "responsibilities")
    with pytest.raises(AssertionError, match="column 0 has mean 0.3333 against 0.34"):
        check_means(constant, torch.tensor([0.34]), "prior", "responsibilities")
