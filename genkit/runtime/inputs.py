"""Checking what callers hand the runtime, so a wrong batch fails with one line instead of deep in onnxruntime."""

from __future__ import annotations

import numpy as np

from genkit.errors import GenkitError


class InputError(GenkitError, ValueError):
    """An image batch or latent batch of the wrong type, rank, shape, dtype or value range."""


def _describe(array: object) -> str:
    if isinstance(array, np.ndarray):
        return f"{array.dtype} array of shape {tuple(array.shape)}"
    return type(array).__name__


def check_images(images: object, input_shape: tuple[int, int, int]) -> np.ndarray:
    """``images`` as a C-contiguous float32 (N, C, H, W) array in [0, 1], or ``InputError``."""
    expected = f"float32 images of shape (N, {', '.join(str(d) for d in input_shape)}) with values in [0, 1]"
    if not isinstance(images, np.ndarray) or images.ndim != 4 or tuple(images.shape[1:]) != tuple(input_shape):
        raise InputError(f"expected {expected}; got {_describe(images)}")
    if images.dtype != np.float32:
        hint = " (divide uint8 pixels by 255)" if images.dtype == np.uint8 else " (use .astype(np.float32))"
        raise InputError(f"expected {expected}; got {_describe(images)}{hint}")
    if images.size:
        low, high = float(images.min()), float(images.max())
        if not (0.0 <= low and high <= 1.0):  # also false for NaN
            raise InputError(f"expected {expected}; got values in [{low:g}, {high:g}]")
    return np.ascontiguousarray(images)


def check_latents(z: object, latent_size: int) -> np.ndarray:
    """``z`` as a C-contiguous float32 (N, latent_size) array of finite values, or ``InputError``."""
    expected = f"float32 latent points of shape (N, {latent_size})"
    if not isinstance(z, np.ndarray) or z.ndim != 2 or z.shape[1] != latent_size or z.dtype != np.float32:
        raise InputError(f"expected {expected}; got {_describe(z)}")
    if z.size and not np.isfinite(z).all():
        raise InputError(f"expected {expected} with finite values; got NaN or infinity")
    return np.ascontiguousarray(z)


def check_count(n: object) -> int:
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 0:
        raise InputError(f"the number of samples must be a non-negative integer; got {n!r}")
    return int(n)
