"""Image grids as PNG files from numpy arrays (torch-free, so the ONNX runtime path can use it too).

A grid of a conditional model's samples has one row per class: ``class_rows`` gives the labels to
generate with and the grid's columns.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np

from genkit.files import atomic


def to_uint8(images: np.ndarray) -> np.ndarray:
    """(N, C, H, W) floats in [0, 1] to (N, H, W, C) uint8."""
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 4:
        raise ValueError(f"expected an image batch (N, C, H, W), got shape {images.shape}")
    return (np.clip(images, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8).transpose(0, 2, 3, 1)


def class_rows(count: int, classes: int, columns: int | None = None) -> tuple[np.ndarray, int]:
    """Labels for a grid with one row per class, and its columns.

    Each of the ``classes`` rows holds ``columns`` images of its class (default: enough that the grid
    has at least ``count`` images), so the labels are 0, 0, ..., 1, 1, ..., int64.
    """
    if classes < 1:
        raise ValueError(f"a grid with one row per class needs at least one class; got {classes}")
    columns = columns or max(1, math.ceil(count / classes))
    return np.repeat(np.arange(classes, dtype=np.int64), columns), columns


def grid(images: np.ndarray, columns: int | None = None, padding: int = 2) -> np.ndarray:
    """Tile an image batch (N, C, H, W) in [0, 1] into one (H', W', C) uint8 image."""
    tiles = to_uint8(images)
    n, h, w, c = tiles.shape
    columns = columns or max(1, math.ceil(math.sqrt(n)))
    rows = max(1, math.ceil(n / columns))
    out = np.full((rows * (h + padding) + padding, columns * (w + padding) + padding, c), 255, np.uint8)
    for i, tile in enumerate(tiles):
        r, col = divmod(i, columns)
        y, x = padding + r * (h + padding), padding + col * (w + padding)
        out[y:y + h, x:x + w] = tile
    return out


def png_bytes(pixels: np.ndarray, scale: int = 1) -> bytes:
    from PIL import Image

    if pixels.shape[-1] == 1:
        pixels = pixels[..., 0]
    image = Image.fromarray(pixels)
    if scale > 1:
        image = image.resize((image.width * scale, image.height * scale), Image.NEAREST)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def save_grid(images: np.ndarray, path: str | Path, columns: int | None = None, scale: int = 0) -> Path:
    """Write an image batch as a PNG grid, atomically; small images are scaled up to stay legible."""
    pixels = grid(images, columns)
    if not scale:
        scale = max(1, 256 // max(pixels.shape[0], pixels.shape[1]) + (1 if pixels.shape[0] < 256 else 0))
        scale = min(scale, 4)
    atomic.write_bytes(path, png_bytes(pixels, scale))
    return Path(path)
