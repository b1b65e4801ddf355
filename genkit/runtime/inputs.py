"""Checking what callers hand the runtime, so a wrong batch fails with one line instead of deep in onnxruntime."""

from __future__ import annotations

import numpy as np

from genkit.errors import ExportError, GenkitError


class InputError(GenkitError, ValueError):
    """An image, latent or label batch of the wrong type, rank, shape, dtype or value range."""


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


def check_latents(z: object, latent_shape: tuple[int, ...]) -> np.ndarray:
    """``z`` as a C-contiguous float32 (N, *latent_shape) array of finite values, or ``InputError``."""
    expected = f"float32 latent points of shape (N, {', '.join(str(d) for d in latent_shape)})"
    if (not isinstance(z, np.ndarray) or z.ndim != 1 + len(latent_shape) or tuple(z.shape[1:]) != tuple(latent_shape)
            or z.dtype != np.float32):
        raise InputError(f"expected {expected}; got {_describe(z)}")
    if z.size and not np.isfinite(z).all():
        raise InputError(f"expected {expected} with finite values; got NaN or infinity")
    return np.ascontiguousarray(z)


def check_labels(labels: object, n: int, classes: int) -> np.ndarray | None:
    """The condition of a batch of ``n``: int64 (n,) labels in [0, classes), or None for an unconditional model.

    One integer stands for the same label for every row. A conditional model without labels, or an
    unconditional one given labels, is an ``ExportError`` (the model cannot do what was asked); labels
    of the wrong shape or range are an ``InputError``.
    """
    if not classes:
        if labels is not None:
            raise ExportError("this model is unconditional: it takes no class labels")
        return None
    if labels is None:
        raise ExportError(f"this model is conditional on a class label in [0, {classes}): pass labels "
                          f"(`--label N` or `--label all` on the command line)")
    if isinstance(labels, (int, np.integer)) and not isinstance(labels, bool):
        labels = np.full(n, int(labels), np.int64)
    if not (isinstance(labels, np.ndarray) and labels.shape == (n,) and labels.dtype.kind in "iu"):
        raise InputError(f"expected {n} integer class labels (an int64 array of shape ({n},)); got {_describe(labels)}")
    if n and not (0 <= int(labels.min()) and int(labels.max()) < classes):
        bad = int(labels.min()) if int(labels.min()) < 0 else int(labels.max())
        raise InputError(f"label {bad} is out of range: this model's labels are 0 to {classes - 1}")
    return np.ascontiguousarray(labels, dtype=np.int64)


def check_count(n: object) -> int:
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 0:
        raise InputError(f"the number of samples must be a non-negative integer; got {n!r}")
    return int(n)
