"""Kernel distance (KID, Bińkowski et al. 2018) between two feature sets, by torchmetrics.

The unbiased estimate of the squared maximum mean discrepancy under the polynomial kernel
k(a, b) = (a·b / d + 1)³, averaged over ``SUBSETS`` random subsets of ``SUBSET_SIZE`` points of each
set, with its standard deviation over the subsets. Unlike the Fréchet distance it is unbiased, so it can
be compared across the sample sizes users run (and is ≈ 0 for two samples of one distribution).

torchmetrics' ``KernelInceptionDistance`` does the subsets, the kernel and the unbiased estimate. Its
feature extractor is an identity here: the features are genkit's classifier's, computed once for the
Fréchet distance as well (``genkit.evaluation.classifier``), so these are not Inception KID figures.
genkit keeps two things of its own: the subset draws are seeded (torchmetrics draws from torch's
global generator, so the call runs in a forked RNG state seeded from ``seed``), and a subset holds at
most half of the smaller set (torchmetrics refuses a subset larger than a set, and subsets as large as
the set are all the same set, whose standard deviation of 0 would say nothing).
"""

from __future__ import annotations

import warnings

import numpy as np

SUBSETS = 100
SUBSET_SIZE = 1000
DEGREE = 3
IMPLEMENTATION = (f"torchmetrics KernelInceptionDistance: unbiased MMD², polynomial kernel of degree {DEGREE}, "
                  f"gamma 1/features, coef 1")


def kernel_distance(a: np.ndarray, b: np.ndarray, seed: int = 0, subsets: int = SUBSETS,
                    subset_size: int = SUBSET_SIZE) -> dict[str, float | int | None]:
    """KID of feature sets ``a`` (N, D) and ``b`` (M, D): mean and std over subsets, and the subset size used."""
    import torch
    from torch import nn
    from torchmetrics.image.kid import KernelInceptionDistance

    size = min(subset_size, len(a) // 2, len(b) // 2)
    if size < 2:
        return {"mean": None, "std": None, "subsets": subsets, "subset_size": size}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*will save all extracted features.*")
        metric = KernelInceptionDistance(feature=nn.Identity(), subsets=subsets, subset_size=size, degree=DEGREE)
    metric.update(torch.from_numpy(np.asarray(a, np.float64)), real=True)
    metric.update(torch.from_numpy(np.asarray(b, np.float64)), real=False)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        mean, std = metric.compute()
    return {"mean": float(mean), "std": float(std), "subsets": subsets, "subset_size": size}
