"""Datasets: resolution by name, the ``ImageDataset``/``Split`` interface, and batching.

The interface the training loop and evaluation use::

    dataset = load_dataset("fashion-mnist", (1, 28, 28))   # or "folder:PATH", "npz:PATH"
    train = dataset.split("train")                          # a Split; DataError for an unknown name
    for images, labels in batches(train, 32, torch.randperm(len(train)), workers=2, device=device):
        ...                                                 # float32 (B, C, H, W) in [0, 1]

``ImageDataset`` (``genkit.data.dataset``)
    ``.name``, ``.image_shape`` (C, H, W), ``.location`` (where it was found), ``.split_names``,
    ``.split(name) -> Split``, ``.checksum() -> str`` (a stable hex digest of the content, cached).

``Split`` (``genkit.data.splits``)
    ``len(split)``, ``.name``, ``.image_shape``, ``.labels`` (int64 tensor or None),
    ``.class_names`` (list or None), ``.in_memory``, ``.limit(n)`` (the first n items) and
    ``.torch_dataset()`` (a torch Dataset of ``(image, label)``; the label is -1 for unlabelled data).
    In-memory splits (IDX, npz) add ``.images``: one float32 (N, C, H, W) tensor in [0, 1], converted
    once on first access, so the trainer can batch by indexing it with a permutation. Lazy splits
    (image folders) read and resize each image when it is asked for, in DataLoader workers.

Dataset factories are registered through the ``register_datasets`` hook and called as
``factory(argument, input_shape)``. The built-in factories also accept ``input_shape=None``, meaning
"report the data's own shape" (``genkit data info`` uses it); with a shape they raise ``DataError``
when the data cannot have it.

This module stays cheap to import: torch and numpy are imported by the functions that use them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterator

    import torch

    from genkit.contract.registry import Registry
    from genkit.data.dataset import ImageDataset
    from genkit.data.splits import InMemorySplit, LazySplit, Split

__all__ = ["ImageDataset", "InMemorySplit", "LazySplit", "Split", "batches", "load_dataset"]

# Public names that live in submodules which import torch; loaded on first attribute access.
_LAZY = {
    "ImageDataset": "genkit.data.dataset",
    "Split": "genkit.data.splits",
    "InMemorySplit": "genkit.data.splits",
    "LazySplit": "genkit.data.splits",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def load_dataset(spec: str, input_shape: tuple[int, int, int] | None,
                 registry: Registry | None = None) -> ImageDataset:
    """Resolve ``NAME`` or ``NAME:ARGUMENT`` through the registry and build the dataset.

    ``input_shape`` is the recipe's (C, H, W): image folders are resized to it, and datasets of a
    fixed shape (IDX, npz) raise ``DataError`` when theirs differs. ``registry`` defaults to the one
    the installed plugins filled.
    """
    from genkit.data.dataset import load_dataset as _load

    return _load(spec, input_shape, registry)


def batches(split: Split, batch_size: int, indices: torch.Tensor, workers: int = 0,
            device: Any = "cpu") -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
    """Yield ``(images, labels)`` batches of ``split`` in the order of ``indices`` (see ``genkit.data.batching``)."""
    from genkit.data.batching import batches as _batches

    return _batches(split, batch_size, indices, workers, device)
