"""Measures of reconstructions: per-image MSE, PSNR, and their mean and spread, overall and per class.

Plain numpy in float64, apart from the orchestration in ``metrics``, so each can be checked against a
reference computation on its own.
"""

from __future__ import annotations

from typing import Any

import numpy as np

PSNR_FLOOR_MSE = 1e-10  # a perfect reconstruction would have infinite PSNR; cap it at 100 dB


def mean_std(values: np.ndarray) -> dict[str, float]:
    values = np.asarray(values, np.float64)
    return {"mean": float(values.mean()), "std": float(values.std())}


def per_image_mse(x: np.ndarray, x_hat: np.ndarray) -> np.ndarray:
    return ((x.astype(np.float64) - x_hat.astype(np.float64)) ** 2).reshape(len(x), -1).mean(axis=1)


def psnr(mse: np.ndarray) -> np.ndarray:
    """Peak signal-to-noise ratio in dB for pixel values in [0, 1]."""
    return 10.0 * np.log10(1.0 / np.maximum(mse, PSNR_FLOOR_MSE))


def per_class(per_image: dict[str, np.ndarray], mse: np.ndarray, labels: np.ndarray | None,
              names: list[str] | None) -> dict[str, Any] | None:
    """Each class's image count, reconstruction MSE and loss terms (mean and std); None without labels."""
    if labels is None or names is None:
        return None
    out = {}
    for index, name in enumerate(names):
        chosen = labels == index
        if chosen.any():
            out[name] = {"images": int(chosen.sum()), "reconstruction_mse": mean_std(mse[chosen]),
                         **{term: mean_std(values[chosen]) for term, values in per_image.items()}}
    return out
