"""The Fréchet distance between two Gaussians fitted to feature sets, in numpy alone.

    d² = ||m1 - m2||² + Tr(S1) + Tr(S2) - 2 Tr((S1 S2)^½)

``Tr((S1 S2)^½)`` is computed as ``Tr((√S1 S2 √S1)^½)``: the two matrices are similar, and the
second is symmetric positive semi-definite, so a symmetric eigen-decomposition gives its square root
stably (the usual FID computation, without scipy's general ``sqrtm``). Negative eigenvalues that
rounding produces for rank-deficient covariances (fewer samples than features) are clipped to zero.
"""

from __future__ import annotations

import numpy as np


def gaussian_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and (unbiased) covariance of an (N, D) feature array, in float64."""
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or len(features) < 2:
        raise ValueError(f"need at least two feature vectors (N, D), got shape {features.shape}")
    return features.mean(axis=0), np.cov(features, rowvar=False).reshape(features.shape[1], features.shape[1])


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2.0)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def frechet_distance(mean1, cov1, mean2, cov2) -> float:
    """d² between N(mean1, cov1) and N(mean2, cov2) (the quantity FID reports)."""
    mean1, mean2 = np.asarray(mean1, np.float64), np.asarray(mean2, np.float64)
    cov1, cov2 = np.atleast_2d(np.asarray(cov1, np.float64)), np.atleast_2d(np.asarray(cov2, np.float64))
    root1 = _psd_sqrt(cov1)
    product = root1 @ cov2 @ root1
    eigenvalues = np.linalg.eigvalsh((product + product.T) / 2.0)
    trace_sqrt = float(np.sqrt(np.clip(eigenvalues, 0.0, None)).sum())
    diff = mean1 - mean2
    value = float(diff @ diff + np.trace(cov1) + np.trace(cov2) - 2.0 * trace_sqrt)
    return max(value, 0.0)  # rounding can leave a tiny negative number for identical inputs


def feature_frechet_distance(features1: np.ndarray, features2: np.ndarray) -> float:
    """The Fréchet distance between Gaussians fitted to two (N, D) feature arrays."""
    return frechet_distance(*gaussian_stats(features1), *gaussian_stats(features2))
