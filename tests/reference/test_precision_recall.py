"""Precision and recall (Kynkäänniemi et al., 2019) against a brute-force reference in plain numpy.

The conventions, as in the paper's code: a point's radius is the squared distance to its k-th nearest
*other* point (so a duplicate of it is a neighbour at distance 0), and a query is inside a ball when its
squared distance is at most the radius (a point on the edge counts). Points on a small integer grid make
ties, duplicates and points exactly on a ball's edge common, and keep every squared distance an exact
integer. The implementation takes a square root and squares it again, a monotone rounding that keeps
equal distances equal and ordered ones ordered, so which side of an edge a point lands on is exact; the
radii themselves may differ from the integers in the last bit. The tests check that their data tells the
conventions apart.
"""

from __future__ import annotations

import numpy as np
import pytest

from genkit.evaluation import manifold
from genkit.evaluation.manifold import inside_share, kth_neighbour_radii, precision_recall

from .brute_force import reference_precision_recall, reference_radii


def _grid_points(rng: np.random.Generator, count: int, dims: int, side: int) -> np.ndarray:
    return rng.integers(0, side, (count, dims)).astype(np.float64)


@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_radii_on_a_grid_with_ties_and_duplicates(k):
    rng = np.random.default_rng(k)
    points = _grid_points(rng, 30, 2, 4)  # 30 points on 16 grid nodes: duplicates are certain
    expected = reference_radii(points, k)
    assert not np.array_equal(expected, reference_radii(points, k, count_self=True))
    # Square root then square: within a few units in the last place (2.2e-16 relative each).
    np.testing.assert_allclose(kth_neighbour_radii(points, k), expected, rtol=1e-15)


def test_a_point_with_k_duplicates_has_radius_zero_and_covers_its_copies():
    k = 3
    base = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 3.0], [5.0, 5.0], [4.0, 1.0]])
    reference = np.concatenate([base, np.repeat(base[:1], k, axis=0)])  # (0, 0) four times
    radii = kth_neighbour_radii(reference, k)
    np.testing.assert_array_equal(radii[[0, 5, 6, 7]], 0.0)
    np.testing.assert_allclose(radii, reference_radii(reference, k), rtol=1e-15)
    # Only the origin's zero-radius balls can hold the origin: inside, because the edge counts.
    assert inside_share(np.array([[0.0, 0.0]]), reference[[0, 5, 6, 7]], radii[[0, 5, 6, 7]]) == 1.0
    assert inside_share(np.array([[0.0, 0.5]]), reference[[0, 5, 6, 7]], radii[[0, 5, 6, 7]]) == 0.0


@pytest.mark.parametrize(("k", "seed"), [(1, 0), (3, 1), (3, 4), (4, 3)])
def test_precision_and_recall_on_a_grid_match_the_reference(k, seed):
    rng = np.random.default_rng(seed)
    reference = _grid_points(rng, 14, 3, 5)
    generated = _grid_points(rng, 11, 3, 5) + np.array([1.0, 0.0, 0.0])  # shifted: partly outside
    expected = reference_precision_recall(reference, generated, k)
    got = precision_recall(reference, generated, k)
    assert got == expected
    # The data separates the conventions: a different one would give different numbers.
    assert expected != reference_precision_recall(reference, generated, k, strict=True)
    assert expected != reference_precision_recall(reference, generated, k, count_self=True)


def test_precision_and_recall_count_points_on_a_balls_edge_as_inside():
    # Reference on a line at 0, 1, 2, 3 with k = 1: every radius is 1. A generated point at 4 lies
    # exactly on the edge of the ball around 3; one at 4.5 lies outside every ball.
    reference = np.array([[0.0], [1.0], [2.0], [3.0]])
    np.testing.assert_array_equal(kth_neighbour_radii(reference, 1), [1.0, 1.0, 1.0, 1.0])
    assert precision_recall(reference, np.array([[4.0], [4.5], [-1.0], [10.0]]), k=1)["precision"] == 0.5


@pytest.mark.parametrize("chunk", [4, 1024])
def test_continuous_points_match_the_reference_in_any_chunking(chunk, monkeypatch):
    # More than 25 rows sends torch.cdist through its matrix-product form; a small chunk splits the
    # distance matrix into several blocks, including a partial last one.
    monkeypatch.setattr(manifold, "CHUNK", chunk)
    rng = np.random.default_rng(11)
    reference = rng.normal(size=(41, 3))
    generated = rng.normal(0.5, 1.3, size=(30, 3))
    k = 3
    np.testing.assert_allclose(kth_neighbour_radii(reference, k), reference_radii(reference, k), rtol=1e-12)
    assert precision_recall(reference, generated, k) == reference_precision_recall(reference, generated, k)


def test_too_few_points_for_k_neighbours_is_an_error():
    points = np.zeros((3, 2))
    with pytest.raises(ValueError, match="more than 3 points"):
        precision_recall(points, np.ones((10, 2)), k=3)
    with pytest.raises(ValueError, match="more than 3 points"):
        precision_recall(np.ones((10, 2)), points, k=3)
