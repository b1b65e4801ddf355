"""The Fréchet distance against closed forms computed without the implementation's route.

    d² = ||m1 - m2||² + Tr(S1 + S2 - 2 (S1^½ S2 S1^½)^½)

References: for 2×2 matrices Tr(M^½) = √(Tr M + 2√det M) for any M with non-negative eigenvalues, and
S1 S2 has the eigenvalues of S1^½ S2 S1^½, so Tr((S1 S2)^½) = √(Tr(S1 S2) + 2√(det S1 det S2)) needs no
matrix square root at all; for covariances that share eigenvectors (diagonal ones in particular) the
distance is Σ (√a - √b)² over the paired eigenvalues; in higher dimensions the square roots are taken
with numpy's eigh, in the opposite order (S2^½ S1 S2^½), which has the same trace.
"""

from __future__ import annotations

import numpy as np
import pytest

from genkit.evaluation.frechet import feature_frechet_distance, frechet_distance, gaussian_stats

# Float64 arithmetic on matrices of entries of order 1-10: eigen-decompositions agree to about 1e-13
# relative; 1e-10 leaves room and is many orders below a missing square root or factor of 2.
RTOL = 1e-10


def _spd(rng: np.random.Generator, d: int) -> np.ndarray:
    a = rng.normal(0.0, 1.5, (d, d))
    return a @ a.T + 0.05 * np.eye(d)


def _trace_sqrt_2x2(s1: np.ndarray, s2: np.ndarray) -> float:
    det = max(np.linalg.det(s1) * np.linalg.det(s2), 0.0)
    return float(np.sqrt(np.trace(s1 @ s2) + 2.0 * np.sqrt(det)))


def _psd_sqrt(s: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh(s)
    return vectors @ np.diag(np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def _reference(m1, s1, m2, s2) -> float:
    root2 = _psd_sqrt(s2)
    trace_sqrt = float(np.sqrt(np.clip(np.linalg.eigvalsh(root2 @ s1 @ root2), 0.0, None)).sum())
    return float(np.sum((m1 - m2) ** 2) + np.trace(s1) + np.trace(s2) - 2.0 * trace_sqrt)


@pytest.mark.parametrize("seed", range(4))
def test_two_dimensional_gaussians_match_the_closed_form_trace_of_a_square_root(seed):
    rng = np.random.default_rng(seed)
    m1, m2 = rng.normal(0, 3, 2), rng.normal(0, 3, 2)
    s1, s2 = _spd(rng, 2), _spd(rng, 2)
    expected = float(np.sum((m1 - m2) ** 2) + np.trace(s1) + np.trace(s2) - 2.0 * _trace_sqrt_2x2(s1, s2))
    assert frechet_distance(m1, s1, m2, s2) == pytest.approx(expected, rel=RTOL)


def test_a_rank_deficient_covariance_matches_the_closed_form():
    # Fewer samples than features give singular covariances; here S1 has rank one (det S1 = 0).
    rng = np.random.default_rng(5)
    v = rng.normal(0, 2, 2)
    s1, s2 = np.outer(v, v), _spd(rng, 2)
    m1, m2 = rng.normal(size=2), rng.normal(size=2)
    expected = float(np.sum((m1 - m2) ** 2) + np.trace(s1) + np.trace(s2) - 2.0 * _trace_sqrt_2x2(s1, s2))
    assert frechet_distance(m1, s1, m2, s2) == pytest.approx(expected, rel=1e-8)


@pytest.mark.parametrize("d", [1, 4, 9])
def test_gaussians_given_by_standard_deviations_match_the_sum_of_squared_differences(d):
    # Diagonal covariances diag(s²): d² = Σ (m1 - m2)² + Σ (s1 - s2)², the stds compared, not the variances.
    rng = np.random.default_rng(d)
    m1, m2 = rng.normal(0, 3, d), rng.normal(0, 3, d)
    s1, s2 = rng.uniform(0.1, 4.0, d), rng.uniform(0.1, 4.0, d)
    expected = float(np.sum((m1 - m2) ** 2) + np.sum((s1 - s2) ** 2))
    assert frechet_distance(m1, np.diag(s1**2), m2, np.diag(s2**2)) == pytest.approx(expected, rel=RTOL)


def test_covariances_with_shared_eigenvectors_compare_their_square_root_eigenvalues():
    rng = np.random.default_rng(7)
    q, _ = np.linalg.qr(rng.normal(size=(6, 6)))  # a random rotation
    a, b = rng.uniform(0.01, 9.0, 6), rng.uniform(0.01, 9.0, 6)
    m1, m2 = rng.normal(size=6), rng.normal(size=6)
    expected = float(np.sum((m1 - m2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2))
    got = frechet_distance(m1, q @ np.diag(a) @ q.T, m2, q @ np.diag(b) @ q.T)
    assert got == pytest.approx(expected, rel=1e-9)  # a rotation's rounding costs a few more digits


@pytest.mark.parametrize("d", [3, 8])
def test_full_covariances_match_the_square_roots_taken_in_the_other_order(d):
    rng = np.random.default_rng(10 + d)
    m1, m2 = rng.normal(0, 2, d), rng.normal(0, 2, d)
    s1, s2 = _spd(rng, d), _spd(rng, d)
    expected = _reference(m1, s1, m2, s2)
    assert frechet_distance(m1, s1, m2, s2) == pytest.approx(expected, rel=RTOL)
    assert frechet_distance(m2, s2, m1, s1) == pytest.approx(expected, rel=RTOL)


@pytest.mark.parametrize("count", [3, 7, 40])
def test_feature_sets_are_fitted_with_the_mean_and_unbiased_covariance(count):
    rng = np.random.default_rng(count)
    x = rng.normal([1.0, -2.0], [0.5, 3.0], (count, 2)) @ np.array([[1.0, 0.4], [0.0, 1.0]])
    y = rng.normal([-1.0, 0.5], [2.0, 0.7], (count + 5, 2))

    def stats(f):
        centred = f - f.sum(axis=0) / len(f)
        return f.sum(axis=0) / len(f), centred.T @ centred / (len(f) - 1)

    (m1, s1), (m2, s2) = stats(x), stats(y)
    mean, cov = gaussian_stats(x)
    np.testing.assert_allclose(mean, m1, rtol=1e-12)
    np.testing.assert_allclose(cov, s1, rtol=1e-12)
    expected = float(np.sum((m1 - m2) ** 2) + np.trace(s1) + np.trace(s2) - 2.0 * _trace_sqrt_2x2(s1, s2))
    assert feature_frechet_distance(x, y) == pytest.approx(expected, rel=RTOL)


@pytest.mark.parametrize("seed", range(3))
def test_fewer_samples_than_features_match_the_reference(seed):
    # 4 and 6 samples of 8 features: singular covariances, whose zero eigenvalues come out of an
    # eigen-decomposition as ±1e-15 and must be taken as zero. Each square root of such a remainder
    # is up to about 4e-8 in either computation, so 1e-6 absolute bounds the disagreement of the two
    # (the distances are of order 10-100).
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(4, 8)), rng.normal(1.0, 2.0, size=(6, 8))
    (m1, s1), (m2, s2) = gaussian_stats(x), gaussian_stats(y)
    got = feature_frechet_distance(x, y)
    assert np.isfinite(got)
    assert got == pytest.approx(_reference(m1, s1, m2, s2), abs=1e-6)
