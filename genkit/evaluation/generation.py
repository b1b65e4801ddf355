"""Generation quality from the evaluation classifier: Fréchet distance, KID, confidence and class coverage.

A sampler that decodes blurry or out-of-distribution images from its prior (the plain autoencoder,
whose codes do not fill the prior it samples from) scores a large Fréchet distance, a low confidence and
a lopsided class histogram; a good one matches the real images on all three.

The distance to real images mixes two causes: the decoder's blur, which reconstructions share, and
prior samples landing where no real image is encoded. With the reconstructions' features the two are
told apart: their distance to the real images is the decoder's floor, and the prior samples' distance,
precision and recall against the reconstructions measure the latent space alone.

A generator-only model makes no reconstructions: its precision and recall are measured against the
real images' manifold instead (``precision``, ``recall``).

Each distance is given twice: the Fréchet distance and, beside it in the same feature space, the
kernel distance (KID, ``genkit.evaluation.kid``), which is unbiased at the sample sizes users run.
"""

from __future__ import annotations

import math

import numpy as np

from genkit.evaluation.frechet import feature_frechet_distance
from genkit.evaluation.kid import IMPLEMENTATION, kernel_distance
from genkit.evaluation.manifold import NEIGHBOURS, precision_recall

# A class counts as covered when it is the classifier's choice for at least this share of the uniform
# share (1/K) of the generated images: 0.25 means 2.5% of them for ten classes.
COVERAGE_SHARE = 0.25


def class_statistics(probabilities: np.ndarray) -> dict[str, object]:
    """Mean confidence, coverage and entropy of the predicted-class histogram of (N, K) softmax rows."""
    n, classes = probabilities.shape
    counts = np.bincount(probabilities.argmax(axis=1), minlength=classes)
    shares = counts / max(n, 1)
    nonzero = shares[shares > 0]
    entropy = float(-(nonzero * np.log(nonzero)).sum())
    return {
        "confidence": float(probabilities.max(axis=1).mean()),
        "class_coverage": float((shares >= COVERAGE_SHARE / classes).mean()),
        "class_entropy": entropy,
        "class_entropy_normalised": entropy / math.log(classes) if classes > 1 else 0.0,
        "class_histogram": [int(c) for c in counts],
    }


def generation_metrics(real_features: np.ndarray, real_probabilities: np.ndarray,
                       fake_features: np.ndarray, fake_probabilities: np.ndarray,
                       reconstruction_features: np.ndarray | None = None, seed: int = 0) -> dict[str, object]:
    """Every generation metric; the real images' confidence and entropy are given as the reference.

    ``seed`` draws the KID subsets.
    """
    real = class_statistics(real_probabilities)
    kid = kernel_distance(fake_features, real_features, seed)
    return {
        "frechet_distance": feature_frechet_distance(fake_features, real_features),
        "kid": kid["mean"], "kid_std": kid["std"],
        "kid_settings": {"subsets": kid["subsets"], "subset_size": kid["subset_size"],
                         "implementation": IMPLEMENTATION},
        **(_against_reconstructions(real_features, fake_features, reconstruction_features, seed)
           if reconstruction_features is not None else _against_real(real_features, fake_features)),
        "samples": int(len(fake_features)),
        "real_images": int(len(real_features)),
        **class_statistics(fake_probabilities),
        "coverage_share": COVERAGE_SHARE,
        "real_confidence": real["confidence"],
        "real_class_entropy_normalised": real["class_entropy_normalised"],
    }


def _against_real(real: np.ndarray, fake: np.ndarray) -> dict:
    """Precision and recall of the samples on the real images' feature manifold (no reconstructions to use)."""
    if min(len(real), len(fake)) <= NEIGHBOURS:
        return {}
    return precision_recall(real, fake)


def _against_reconstructions(real: np.ndarray, fake: np.ndarray, reconstructions: np.ndarray | None,
                             seed: int) -> dict:
    if reconstructions is None or min(len(real), len(fake)) <= NEIGHBOURS:
        return {}
    against = precision_recall(reconstructions, fake)
    floor, gap = kernel_distance(reconstructions, real, seed), kernel_distance(fake, reconstructions, seed)
    return {
        "reconstruction_frechet_distance": feature_frechet_distance(reconstructions, real),
        "frechet_distance_to_reconstructions": feature_frechet_distance(fake, reconstructions),
        "reconstruction_kid": floor["mean"], "reconstruction_kid_std": floor["std"],
        "kid_to_reconstructions": gap["mean"], "kid_to_reconstructions_std": gap["std"],
        "precision_vs_reconstructions": against["precision"],
        "recall_vs_reconstructions": against["recall"],
    }
