"""The data the scenarios train on: Fashion-MNIST where it is installed, else a synthetic stand-in.

Timing does not depend on pixel values, so tiny mode (and a machine without the dataset) uses random
images of the same shape, written as an ``npz`` file so that subprocesses can load it by name too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

SHAPE = (1, 28, 28)
FASHION = "fashion-mnist"


def synthetic_npz(path: Path, train: int, test: int, shape: tuple[int, int, int] = SHAPE, seed: int = 0) -> Path:
    """Smooth random images with ten labels: blurry blobs rather than white noise, so a VAE can fit them."""
    if path.is_file():
        return path
    rng = np.random.default_rng(seed)
    c, h, w = shape

    def images(n: int) -> np.ndarray:
        coarse = rng.random((n, c, max(1, h // 4), max(1, w // 4)), dtype=np.float32)
        fine = coarse.repeat(4, axis=2).repeat(4, axis=3)[:, :, :h, :w]
        return np.clip(fine * 255, 0, 255).astype(np.uint8)

    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, x=images(train), y=rng.integers(0, 10, train), x_test=images(test),
             y_test=rng.integers(0, 10, test))
    return path


def fashion_available() -> bool:
    from genkit.data import load_dataset
    from genkit.errors import DataError

    try:
        load_dataset(FASHION, SHAPE)
    except DataError:
        return False
    return True


class SlicedData:
    """A dataset with the training split cut to ``limit`` images and the test split to ``test`` (0: all).

    Timing windows keep a tiny test split: the trainer evaluates it after every window, uncounted.
    """

    def __init__(self, dataset: Any, limit: int, test: int = 64):
        self.train = dataset.split("train")
        if limit:
            self.train = self.train.limit(limit)
        self.test = dataset.split("test")
        if test:
            self.test = self.test.limit(test)

    def split(self, name: str):
        return self.train if name == "train" else self.test
