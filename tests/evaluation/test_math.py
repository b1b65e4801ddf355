"""The Fréchet distance against closed forms, Φ / Φ⁻¹ against reference values, and the class-row grid layout."""

from __future__ import annotations

import math

import numpy as np
import pytest

from genkit.evaluation.frechet import feature_frechet_distance, frechet_distance
from genkit.evaluation.manifold import precision_recall
from genkit.evaluation.normal import normal_cdf, normal_ppf


def test_frechet_distance_of_diagonal_gaussians_matches_the_closed_form():
    rng = np.random.default_rng(0)
    m1, m2 = rng.normal(size=6), rng.normal(size=6)
    s1, s2 = rng.uniform(0.1, 3.0, 6), rng.uniform(0.1, 3.0, 6)
    expected = float(((m1 - m2) ** 2).sum() + (s1 + s2 - 2 * np.sqrt(s1 * s2)).sum())
    assert frechet_distance(m1, np.diag(s1), m2, np.diag(s2)) == pytest.approx(expected, rel=1e-10)


def test_frechet_distance_of_full_covariances_matches_the_eigenvalues_of_the_product():
    # Tr((S1 S2)^½) = Σ √λ over the eigenvalues of S1 S2 (real and positive for SPD matrices).
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(5, 5)), rng.normal(size=(5, 5))
    s1, s2 = a @ a.T + 0.1 * np.eye(5), b @ b.T + 0.1 * np.eye(5)
    m1, m2 = rng.normal(size=5), rng.normal(size=5)
    trace_sqrt = np.sqrt(np.linalg.eigvals(s1 @ s2).real).sum()
    expected = float(((m1 - m2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * trace_sqrt)
    assert frechet_distance(m1, s1, m2, s2) == pytest.approx(expected, rel=1e-9)


def test_frechet_distance_is_zero_for_identical_sets_and_symmetric():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(300, 8)), rng.normal(1.0, 2.0, size=(300, 8))
    assert feature_frechet_distance(x, x) == pytest.approx(0.0, abs=1e-9)
    assert feature_frechet_distance(x, y) == pytest.approx(feature_frechet_distance(y, x), rel=1e-9)
    # fewer samples than features: a rank-deficient covariance still gives a finite, non-negative value
    assert 0.0 <= feature_frechet_distance(x[:4], y[:4]) < math.inf


def test_inverse_normal_matches_reference_values():
    reference = {0.975: 1.959963984540054, 0.5: 0.0, 0.01: -2.3263478740408408, 0.99: 2.3263478740408408,
                 1e-10: -6.361340902404056, 0.995: 2.5758293035489004, 0.001: -3.090232306167813,
                 0.8413447460685429: 1.0}
    for p, x in reference.items():
        assert normal_ppf(p) == pytest.approx(x, rel=1e-12, abs=1e-13), p


def test_inverse_normal_inverts_the_cdf_to_double_precision():
    p = np.concatenate([np.geomspace(1e-15, 0.5, 200), 1 - np.geomspace(1e-12, 0.5, 200), np.linspace(0.01, 0.99, 99)])
    x = normal_ppf(p)
    assert np.allclose(normal_cdf(x), p, rtol=1e-12, atol=1e-16)
    assert normal_cdf(1.96) == pytest.approx(0.9750021048517795, rel=1e-14)
    assert normal_ppf(0.0) == -np.inf and normal_ppf(1.0) == np.inf and np.isnan(normal_ppf(1.5))


def test_precision_and_recall_are_one_for_the_same_set_and_zero_for_a_distant_one():
    rng = np.random.default_rng(2)
    reference = rng.normal(size=(300, 8))
    assert precision_recall(reference, reference.copy()) == {"precision": 1.0, "recall": 1.0}
    far = precision_recall(reference, reference + 100.0)
    assert far == {"precision": 0.0, "recall": 0.0}


def test_a_collapsed_generator_keeps_precision_and_loses_recall():
    # Samples from one corner of the reference cloud are plausible (inside it) but cover little of it.
    rng = np.random.default_rng(3)
    reference = rng.normal(size=(2000, 2))
    corner = reference[(reference[:, 0] > 1.0) & (reference[:, 1] > 1.0)]
    scores = precision_recall(reference, corner + rng.normal(scale=0.01, size=corner.shape))
    assert scores["precision"] > 0.95
    assert scores["recall"] < 0.2


def test_samples_in_the_holes_between_clusters_lose_precision():
    # The plain autoencoder's failure: codes in separated clusters, prior samples between them.
    rng = np.random.default_rng(4)
    centres = np.array([[-6.0, 0.0], [6.0, 0.0]])
    reference = np.concatenate([c + rng.normal(scale=0.5, size=(500, 2)) for c in centres])
    between = rng.normal(scale=[1.0, 0.5], size=(1000, 2))  # centred on the gap
    on_clusters = np.concatenate([c + rng.normal(scale=0.5, size=(500, 2)) for c in centres])
    assert precision_recall(reference, between)["precision"] < 0.1
    assert precision_recall(reference, on_clusters)["precision"] > 0.9


def test_class_rows_give_one_row_per_class_with_at_least_count_images():
    from genkit.files.images import class_rows

    labels, columns = class_rows(20, 10)
    assert columns == 2 and labels.dtype == np.int64
    np.testing.assert_array_equal(labels, np.repeat(np.arange(10), 2))
    assert class_rows(21, 10)[1] == 3 and class_rows(5, 10)[1] == 1 and class_rows(64, 10, columns=4)[1] == 4
    with pytest.raises(ValueError, match="at least one class"):
        class_rows(8, 0)
