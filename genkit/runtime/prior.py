"""Latent points drawn on the host from an export's prior, the same way for every backend.

Sampling never goes into a graph. Drawing with numpy from a seeded generator makes ``genkit generate
--seed S`` give the same latent points whether a run folder (torch) or its export (onnxruntime) decodes
them, on any device.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def draw_prior(mean: Sequence[float], std: Sequence[float], n: int, seed: int = 0) -> np.ndarray:
    """``n`` points of the diagonal Gaussian N(mean, diag(std²)) as float32 (n, len(mean))."""
    mean = np.asarray(mean, dtype=np.float32)
    std = np.asarray(std, dtype=np.float32)
    eps = np.random.default_rng(seed).standard_normal((int(n), mean.size), dtype=np.float32)
    return (mean + std * eps).astype(np.float32, copy=False)
