"""The kernel distance (KID) of genkit.evaluation.kid against the unbiased MMD² written out in numpy."""

from __future__ import annotations

import numpy as np
import pytest

from genkit.evaluation.kid import DEGREE, SUBSET_SIZE, kernel_distance


def polynomial_kernel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a @ b.T / a.shape[1] + 1.0) ** DEGREE


def unbiased_mmd2(a: np.ndarray, b: np.ndarray) -> float:
    """The U-statistic: within-set means without the diagonal, the cross term with it."""
    m, n = len(a), len(b)
    kaa, kbb, kab = polynomial_kernel(a, a), polynomial_kernel(b, b), polynomial_kernel(a, b)
    within_a = (kaa.sum() - np.trace(kaa)) / (m * (m - 1))
    within_b = (kbb.sum() - np.trace(kbb)) / (n * (n - 1))
    return float(within_a + within_b - 2.0 * kab.mean())


def test_sets_of_repeated_points_give_the_kernel_distance_of_the_points_exactly():
    # Every subset of a set of copies of c (and of d) is the same: the unbiased estimate is exactly
    # k(c, c) + k(d, d) - 2 k(c, d), with the diagonal left out, and its spread over subsets is 0.
    rng = np.random.default_rng(0)
    c, d = rng.normal(size=16), rng.normal(size=16)
    a, b = np.tile(c, (40, 1)), np.tile(d, (30, 1))
    k = lambda u, v: (u @ v / 16 + 1.0) ** 3  # noqa: E731
    result = kernel_distance(a, b, subsets=5)
    assert result["mean"] == pytest.approx(k(c, c) + k(d, d) - 2 * k(c, d), rel=1e-12)
    assert result["std"] == pytest.approx(0.0, abs=1e-12)
    assert result["subset_size"] == 15  # at most half of the smaller set


def test_the_mean_over_subsets_estimates_the_whole_sets_u_statistic():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(600, 8)), rng.normal(0.4, 1.2, size=(500, 8))
    whole = unbiased_mmd2(a, b)
    result = kernel_distance(a, b, subsets=200)
    assert result["subset_size"] == 250 and result["subsets"] == 200
    assert result["mean"] == pytest.approx(whole, rel=0.05), (result, whole)


def test_two_samples_of_one_distribution_are_near_zero_and_of_two_distributions_clearly_not():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(2000, 32)), rng.normal(size=(2000, 32))
    same = kernel_distance(a, b)
    assert abs(same["mean"]) < 3 * same["std"] / np.sqrt(same["subsets"]) + 1e-3
    different = kernel_distance(a, rng.normal(0.3, 1.0, size=(2000, 32)))
    assert different["mean"] > 10 * different["std"] and different["mean"] > 100 * abs(same["mean"])
    assert same["subset_size"] == different["subset_size"] == SUBSET_SIZE


def test_the_subsets_are_seeded():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(300, 4)), rng.normal(0.2, 1.0, size=(300, 4))
    assert kernel_distance(a, b, seed=5) == kernel_distance(a, b, seed=5)
    assert kernel_distance(a, b, seed=5)["mean"] != kernel_distance(a, b, seed=6)["mean"]


def test_fewer_than_four_points_give_no_distance():
    one = np.zeros((3, 4))
    assert kernel_distance(one, np.ones((10, 4)))["mean"] is None
