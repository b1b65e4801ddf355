"""The real Fashion-MNIST from Debian's dataset-fashion-mnist package (installed here and in CI).

This is not skipped when the files are missing: a missing package is a broken environment, and
the failure says how to install it.
"""

from __future__ import annotations

import time

import torch

from genkit.data import load_dataset


def test_debian_fashion_mnist_loads():
    started = time.perf_counter()
    dataset = load_dataset("fashion-mnist", (1, 28, 28))
    train, test = dataset.split("train"), dataset.split("test")
    images = train.images
    elapsed = time.perf_counter() - started
    assert dataset.location == "/usr/share/datasets/fashion-mnist"
    assert (len(train), len(test)) == (60000, 10000)
    assert train.image_shape == test.image_shape == (1, 28, 28)
    assert images.shape == (60000, 1, 28, 28) and images.dtype == torch.float32
    assert float(images.min()) == 0.0 and float(images.max()) == 1.0
    for split in (train, test):
        assert split.labels.dtype == torch.int64
        assert split.labels.unique().tolist() == list(range(10))
        assert torch.bincount(split.labels).tolist() == [len(split) // 10] * 10  # balanced classes
    assert train.labels[:5].tolist() == [9, 0, 0, 3, 0]  # the published order
    assert train.class_names[9] == "Ankle boot"
    # The content checksum is fixed by the published files, however they are compressed.
    assert dataset.checksum() == "6e1b8248a371b684a8915a1bed4b38233fddf371eb4aedfbefbeecd3adf25313"
    assert elapsed < 10, f"loading the train split took {elapsed:.1f}s"
