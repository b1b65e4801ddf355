"""The images a source is evaluated and plotted on: its dataset's split, walked as numpy batches.

A source is evaluated on the data it was trained on unless ``--data`` names another dataset of the same
image shape. Image folders are read lazily, so everything here streams batches rather than holding a
whole split (CelebA's test split alone is gigabytes as float32).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

from genkit.errors import DataError

if TYPE_CHECKING:
    from genkit.data.splits import Split
    from genkit.evaluation.source import Source

BATCH_SIZE = 256


def dataset_name(source: Source, data: str | None) -> str:
    name = data or source.config.data.name
    if not name:
        raise DataError(f"{source.path} does not say which dataset it was trained on; name one with --data")
    return name


def open_dataset(source: Source, data: str | None = None):
    from genkit.data import load_dataset

    return load_dataset(dataset_name(source, data), source.input_shape)


def open_split(source: Source, data: str | None = None, split: str = "test", limit: int = 0) -> Split:
    """The split of the source's dataset (or of ``data``), cut to its first ``limit`` images when > 0."""
    chosen = open_dataset(source, data).split(split)
    if limit:
        chosen = chosen.limit(limit)
    if not len(chosen):
        raise DataError(f"the {split} split of {dataset_name(source, data)} holds no images")
    return chosen


Batch = tuple[np.ndarray, "np.ndarray | None"]


def walk(split: Split, batch_size: int = BATCH_SIZE, workers: int = 0) -> Iterator[Batch]:
    """``(images, labels)`` as numpy arrays, in order; labels are None for unlabelled data."""
    import torch

    from genkit.data import batches

    for x, y in batches(split, batch_size, torch.arange(len(split)), workers, "cpu"):
        yield x.numpy(), (y.numpy() if y is not None else None)


def take(split: Split, count: int, workers: int = 0) -> tuple[np.ndarray, np.ndarray | None]:
    """The first ``count`` images of ``split`` (all when it is smaller) and their labels."""
    part = split.limit(count)
    images, labels = [], []
    for x, y in walk(part, workers=workers):
        images.append(x)
        if y is not None:
            labels.append(y)
    return np.concatenate(images), (np.concatenate(labels) if labels else None)


def class_names(split: Split) -> list[str] | None:
    """The class names of a labelled split (``class 0``, ``class 1``, ... when it names none)."""
    if split.labels is None:
        return None
    if split.class_names:
        return list(split.class_names)
    count = int(split.labels.max()) + 1 if len(split.labels) else 0
    return [f"class {k}" for k in range(count)]


def file_names(split: Split) -> list[str] | None:
    """The image file name of each item of a split read from an image folder; None for array data."""
    from torch.utils.data import Subset

    dataset, order = split.torch_dataset(), None
    while isinstance(dataset, Subset):  # a limited split is a Subset of the folder's file list
        inner = list(dataset.indices)
        order = inner if order is None else [inner[i] for i in order]
        dataset = dataset.dataset
    paths = getattr(dataset, "paths", None)
    if paths is None:
        return None
    chosen = [paths[i] for i in order] if order is not None else list(paths)
    return [os.path.basename(p) for p in chosen]
