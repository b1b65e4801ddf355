"""The classifier-based measures against reference computations: accuracy, confidence, class coverage
and entropy, the wiring of the generation metrics, and the classifier's probabilities."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from conftest import FASHION, _read_idx
from torch import nn
from torch.distributions import Categorical

from genkit.data.splits import InMemorySplit
from genkit.evaluation.classifier import Classifier, FeatureCNN, accuracy_on
from genkit.evaluation.generation import COVERAGE_SHARE, class_statistics, generation_metrics

from .brute_force import reference_precision_recall


class NearestCentroid(nn.Module):
    """A fixed classifier with the evaluation network's interface: logits are minus squared distances
    to per-class mean images, in float64 so that its decisions can be recomputed exactly in numpy."""

    def __init__(self, centroids: np.ndarray):
        super().__init__()
        self.centroids = torch.from_numpy(centroids)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        flat = x.double().flatten(1)
        return flat, -torch.cdist(flat, self.centroids, compute_mode="donot_use_mm_for_euclid_dist").square()


def test_accuracy_counts_correct_predictions_over_every_batch():
    # 700 test images: one full batch of 512 and a partial one of 188, so per-batch averaging, a
    # dropped last batch or a division by the batch size all give a different number.
    train_x = _read_idx(FASHION / "train-images-idx3-ubyte.gz", 2000).reshape(2000, -1) / 255.0
    train_y = _read_idx(FASHION / "train-labels-idx1-ubyte.gz", 2000)
    centroids = np.stack([train_x[train_y == c].mean(axis=0) for c in range(10)])
    images = _read_idx(FASHION / "t10k-images-idx3-ubyte.gz", 700)
    labels = _read_idx(FASHION / "t10k-labels-idx1-ubyte.gz", 700)
    split = InMemorySplit("test", images[:, None], labels)

    pixels = images.reshape(700, -1).astype(np.float32) / np.float32(255.0)  # the split's float32 images
    distances = ((pixels.astype(np.float64)[:, None, :] - centroids[None]) ** 2).sum(axis=2)
    expected = float((distances.argmin(axis=1) == labels).mean())
    assert 0.5 < expected < 0.9  # a real classifier, neither trivial nor perfect, on real data
    assert accuracy_on(NearestCentroid(centroids), split) == expected


def _probabilities_with_predictions(predicted: np.ndarray, classes: int, seed: int) -> np.ndarray:
    """Softmax rows whose argmax is ``predicted``, with random confidences."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0.0, 1.0, (len(predicted), classes))
    rows = np.arange(len(predicted))
    logits[rows, predicted] = logits.max(axis=1) + rng.uniform(0.5, 4.0, len(predicted))
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _reference_class_statistics(probabilities: np.ndarray) -> dict[str, object]:
    n, classes = probabilities.shape
    counts = [0] * classes
    for row in probabilities:
        counts[int(np.argmax(row))] += 1
    shares = torch.tensor(counts, dtype=torch.float64) / n
    entropy = float(Categorical(probs=shares).entropy())
    return {"confidence": float(np.mean([row.max() for row in probabilities])),
            "class_coverage": sum(c / n >= COVERAGE_SHARE / classes for c in counts) / classes,
            "class_entropy": entropy, "class_entropy_normalised": entropy / math.log(classes),
            "class_histogram": counts}


def test_class_statistics_match_the_reference_with_a_class_exactly_at_the_coverage_share():
    # 40 predictions over 10 classes: class 3 gets exactly 1/40 = 0.25/10 (covered, the share is a
    # minimum), classes 8 and 9 get none, the rest uneven counts.
    histogram = [9, 6, 5, 1, 7, 4, 3, 5, 0, 0]
    predicted = np.repeat(np.arange(10), histogram)
    probabilities = _probabilities_with_predictions(predicted, 10, seed=1)
    got = class_statistics(probabilities)
    expected = _reference_class_statistics(probabilities)
    assert got["class_histogram"] == expected["class_histogram"] == histogram
    assert got["class_coverage"] == expected["class_coverage"] == 0.8
    # float64 sums of 40 terms: 1e-12 relative.
    for key in ("confidence", "class_entropy", "class_entropy_normalised"):
        assert got[key] == pytest.approx(expected[key], rel=1e-12), key


@pytest.mark.parametrize(("count", "classes"), [(1, 3), (17, 4), (200, 10)])
def test_class_statistics_of_random_rows_match_the_reference(count, classes):
    rng = np.random.default_rng(count)
    predicted = rng.integers(0, classes, count)
    probabilities = _probabilities_with_predictions(predicted, classes, seed=count)
    got, expected = class_statistics(probabilities), _reference_class_statistics(probabilities)
    assert got["class_histogram"] == expected["class_histogram"]
    assert got["class_coverage"] == expected["class_coverage"]
    for key in ("confidence", "class_entropy", "class_entropy_normalised"):
        assert got[key] == pytest.approx(expected[key], rel=1e-12, abs=1e-15), key


def test_generation_metrics_compare_the_right_sets():
    # Fréchet distances between Gaussians fitted to each pair of sets (a diagonal covariance per set
    # makes the closed form Σ(m1 - m2)² + Σ(√v1 - √v2)² apply), precision and recall of the generated
    # points against the reconstructions, and the classifier statistics of the generated images.
    rng = np.random.default_rng(3)

    def points(count, shift, scale):
        # Orthonormal combinations of centred columns: zero-mean and uncorrelated, then scaled and shifted.
        centred = rng.normal(size=(count, 2))
        q, _ = np.linalg.qr(centred - centred.mean(axis=0))
        return q * np.sqrt(count - 1) * np.asarray(scale) + np.asarray(shift)

    real = points(30, [0.0, 1.0], [1.0, 2.0])
    fake = points(25, [3.0, -1.0], [0.5, 0.7])
    recon = points(40, [0.5, 0.5], [1.5, 1.5])

    def closed_form(a, b):
        return float(((a.mean(axis=0) - b.mean(axis=0)) ** 2).sum()
                     + ((a.std(axis=0, ddof=1) - b.std(axis=0, ddof=1)) ** 2).sum())

    real_p = _probabilities_with_predictions(rng.integers(0, 4, 30), 4, seed=5)
    fake_p = _probabilities_with_predictions(rng.integers(0, 4, 25), 4, seed=6)
    got = generation_metrics(real, real_p, fake, fake_p, recon)
    # The covariances are diagonal up to rounding (~1e-16): the closed forms hold to 1e-9 relative.
    assert got["frechet_distance"] == pytest.approx(closed_form(fake, real), rel=1e-9)
    assert got["reconstruction_frechet_distance"] == pytest.approx(closed_form(recon, real), rel=1e-9)
    assert got["frechet_distance_to_reconstructions"] == pytest.approx(closed_form(fake, recon), rel=1e-9)
    expected_pr = reference_precision_recall(recon, fake, 3)
    assert got["precision_vs_reconstructions"] == expected_pr["precision"]
    assert got["recall_vs_reconstructions"] == expected_pr["recall"]
    assert got["samples"] == 25 and got["real_images"] == 30
    fake_stats, real_stats = _reference_class_statistics(fake_p), _reference_class_statistics(real_p)
    assert got["class_histogram"] == fake_stats["class_histogram"]
    assert got["confidence"] == pytest.approx(fake_stats["confidence"], rel=1e-12)
    assert got["real_confidence"] == pytest.approx(real_stats["confidence"], rel=1e-12)
    assert got["real_class_entropy_normalised"] == pytest.approx(real_stats["class_entropy_normalised"], rel=1e-12)


def test_classifier_probabilities_are_the_softmax_of_its_logits():
    torch.manual_seed(0)
    network = FeatureCNN(1, 10).eval()
    images = np.random.default_rng(0).uniform(0, 1, (3, 1, 28, 28)).astype(np.float32)
    features, probabilities = Classifier(network, {}).features_and_probabilities(images)
    with torch.no_grad():
        expected_features, logits = network(torch.from_numpy(images))
    logits = logits.double().numpy()
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    # float32 network outputs: agreement to 1e-6 relative.
    np.testing.assert_allclose(probabilities, e / e.sum(axis=1, keepdims=True), rtol=1e-6)
    np.testing.assert_allclose(features, expected_features.numpy(), rtol=1e-6)
    assert features.shape == (3, 128) and features.dtype == np.float64
