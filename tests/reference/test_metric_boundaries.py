"""The evaluation measures at their edges: the smallest inputs they accept, the ones they refuse, and
the cases where a measure must say "nothing to report" rather than a number.

The reference tests beside this file check the values on ordinary inputs; a guard moved by one (``<``
for ``<=``), a default changed, or a clamp at the wrong value only shows here.
"""

from __future__ import annotations

import math
import types

import numpy as np
import pytest

from genkit.evaluation.frechet import feature_frechet_distance, gaussian_stats
from genkit.evaluation.generation import COVERAGE_SHARE, class_statistics, generation_metrics
from genkit.evaluation.latent import ACTIVE_THRESHOLD, active_dimensions, latent_statistics
from genkit.evaluation.manifold import NEIGHBOURS, inside_share, precision_recall
from genkit.evaluation.reconstruction import per_class

from .brute_force import reference_precision_recall


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


# -- Fréchet distance ----------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(5,), (5, 2, 2), (1, 3), (0, 3)])
def test_gaussian_stats_needs_two_or_more_feature_vectors(shape):
    with pytest.raises(ValueError, match="need at least two feature vectors"):
        gaussian_stats(np.zeros(shape))


def test_two_feature_vectors_are_enough():
    mean, cov = gaussian_stats(np.array([[0.0, 1.0], [2.0, 5.0]]))
    assert np.allclose(mean, [1.0, 3.0]) and np.allclose(cov, [[2.0, 4.0], [4.0, 8.0]])


def test_frechet_distance_of_a_set_with_itself_is_zero_and_never_negative():
    for seed in range(20):  # rounding leaves tiny numbers of either sign for identical inputs
        features = _rng(seed).normal(size=(40, 6))
        assert feature_frechet_distance(features, features) == pytest.approx(0.0, abs=1e-9)
        assert feature_frechet_distance(features, features) >= 0.0


def test_a_small_frechet_distance_is_not_clamped():
    features = _rng(1).normal(size=(50, 3))
    shifted = features + np.array([0.3, 0.0, -0.4])  # same covariance: d² = |shift|² = 0.25
    assert feature_frechet_distance(features, shifted) == pytest.approx(0.25, rel=1e-9)


# -- precision and recall ------------------------------------------------------------------------------

def test_precision_recall_uses_three_neighbours_by_default():
    """Kynkäänniemi et al. (2019) use k = 3; the data below give other answers for k = 2 and 4."""
    reference, generated = _rng(0).normal(size=(12, 2)), _rng(100).normal(loc=1.5, size=(12, 2))
    assert NEIGHBOURS == 3
    answers = {k: reference_precision_recall(reference, generated, k) for k in (2, 3, 4)}
    assert len({(a["precision"], a["recall"]) for a in answers.values()}) == 3
    got = precision_recall(reference, generated)
    assert (got["precision"], got["recall"]) == pytest.approx((answers[3]["precision"], answers[3]["recall"]))


@pytest.mark.parametrize("rows", [1, 2, 3])
def test_precision_recall_refuses_sets_of_k_points_or_fewer(rows):
    with pytest.raises(ValueError, match="need more than 3 points in each set"):
        precision_recall(_rng(4).normal(size=(rows, 2)), _rng(5).normal(size=(10, 2)))


def test_k_plus_one_points_are_enough():
    reference, generated = _rng(6).normal(size=(4, 2)), _rng(7).normal(size=(4, 2))
    got = precision_recall(reference, generated)
    expected = reference_precision_recall(reference, generated, 3)
    assert (got["precision"], got["recall"]) == pytest.approx((expected["precision"], expected["recall"]))


def test_no_queries_are_a_share_of_zero():
    assert inside_share(np.zeros((0, 2)), np.zeros((5, 2)), np.ones(5)) == 0.0


# -- active units and latent statistics ------------------------------------------------------------------

def test_active_dimensions_counts_only_those_above_the_threshold():
    """Three dimensions above the threshold, one below: a reversed comparison counts 1, not 3."""
    codes = _rng(8).normal(size=(2000, 4)) * np.sqrt([0.5, 2.0, 0.2, 0.001])
    count, variance = active_dimensions(codes)
    assert count == 3 and int((variance > ACTIVE_THRESHOLD).sum()) == 3


def _source(is_gaussian: bool, family: str = "diagonal-gaussian") -> types.SimpleNamespace:
    """The attributes latent_statistics reads from an evaluation source, for a 2-d model."""
    gaussian = family == "diagonal-gaussian"
    return types.SimpleNamespace(latent_shape=(2,), is_gaussian=is_gaussian, sampler_name="s", prior_family=family,
                                 prior_mean=np.zeros(2) if gaussian else None,
                                 prior_std=np.ones(2) if gaussian else None)


def test_latent_statistics_need_a_gaussian_posterior():
    mu, log_var = _rng(9).normal(size=(50, 2)), _rng(10).normal(size=(50, 2))
    full = latent_statistics(_source(True), mu, log_var)
    assert full["active_dims"] is not None and full["note"] is None and len(full["kl_per_dim"]) == 2
    for stats in (latent_statistics(_source(False), mu, log_var), latent_statistics(_source(True), mu, None)):
        assert stats["kl_per_dim"] is None and stats["active_dims"] is None and "not Gaussian" in stats["note"]


def test_a_gaussian_posterior_under_another_prior_has_active_units_but_no_kl():
    mu, log_var = _rng(14).normal(size=(50, 2)), _rng(15).normal(size=(50, 2))
    stats = latent_statistics(_source(True, "gaussian-mixture"), mu, log_var)
    assert stats["active_dims"] == active_dimensions(mu)[0] and len(stats["code_variance"]) == 2
    assert stats["kl_per_dim"] is None and stats["kl_per_dim_mean"] is None
    assert "gaussian-mixture" in stats["note"] and "no closed form" in stats["note"]
    assert stats["dimensions"] == 2 and stats["latent_shape"] == [2]


# -- class statistics and the generation metrics ---------------------------------------------------------

def _one_hot(classes: list[int], count: int) -> np.ndarray:
    rows = np.full((len(classes), count), 0.01)
    rows[np.arange(len(classes)), classes] = 1.0
    return rows / rows.sum(axis=1, keepdims=True)


def test_a_class_well_below_the_coverage_share_is_not_covered():
    """Ten classes: the share needed is 0.25 / 10 = 2.5 %; one image in 100 (1 %) is not enough."""
    labels = [0] * 1 + [c for c in range(1, 10) for _ in range(11)]  # 1 + 99 images
    stats = class_statistics(_one_hot(labels, 10))
    assert COVERAGE_SHARE == 0.25 and stats["class_coverage"] == pytest.approx(0.9)


def test_entropy_is_normalised_by_log_k_and_zero_for_one_class():
    two = class_statistics(_one_hot([0, 0, 0, 1], 2))
    entropy = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    assert two["class_entropy"] == pytest.approx(entropy)
    assert two["class_entropy_normalised"] == pytest.approx(entropy / math.log(2))
    one = class_statistics(np.ones((3, 1)))
    assert one["class_entropy"] == 0.0 and one["class_entropy_normalised"] == 0.0


@pytest.mark.parametrize("rows, expected", [(NEIGHBOURS - 1, False), (NEIGHBOURS, False), (NEIGHBOURS + 1, True)])
def test_reconstruction_comparisons_need_more_than_k_images(rows, expected):
    real, fake = _rng(11).normal(size=(rows, 3)), _rng(12).normal(size=(rows, 3))
    probabilities = _one_hot([0] * rows, 2)
    got = generation_metrics(real, probabilities, fake, probabilities, _rng(13).normal(size=(rows, 3)))
    assert ("precision_vs_reconstructions" in got) is expected
    assert "precision_vs_reconstructions" not in generation_metrics(real, probabilities, fake, probabilities, None)


# -- per-class tables ------------------------------------------------------------------------------------

def test_per_class_needs_both_labels_and_class_names():
    mse, labels = np.array([0.1, 0.2]), np.array([0, 1])
    assert per_class({}, mse, labels, None) is None
    assert per_class({}, mse, None, ["a", "b"]) is None
    assert set(per_class({}, mse, labels, ["a", "b"])) == {"a", "b"}
