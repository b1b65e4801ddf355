"""Real Fashion-MNIST test images for the recipes that take 28x28 grayscale input."""

from __future__ import annotations

import functools

import torch
from conftest import FASHION, _read_idx


@functools.cache
def _test_images(count: int) -> torch.Tensor:
    return torch.from_numpy(_read_idx(FASHION / "t10k-images-idx3-ubyte.gz", count)).float().div(255).unsqueeze(1)


class FashionImages:
    """Mixin for ``RecipeConformance``: the first test images instead of uniform noise.

    Real images have what noise lacks: exact 0 pixels (a black background), smooth regions, and a
    batch of very different images, so rows that leak into each other show.
    """

    def images(self, input_shape: tuple[int, ...], n: int) -> torch.Tensor:
        assert tuple(input_shape) == (1, 28, 28), f"Fashion-MNIST images are 1x28x28, not {input_shape}"
        return _test_images(max(n, 8))[:n].clone()
