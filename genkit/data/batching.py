"""``batches``: one way for the trainer and evaluation to walk a split in a given order.

In-memory splits are batched by indexing one tensor (on the target device, copied there once): no
Python call per image. Lazy splits go through a DataLoader whose workers read the files; its batch
sampler reads the current order from a mutable list, so one DataLoader with persistent workers serves
every epoch instead of starting new worker processes each time.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator

import torch
from torch.utils.data import DataLoader, Sampler

from genkit.data.splits import InMemorySplit, Split

Batch = tuple[torch.Tensor, "torch.Tensor | None"]


def batches(split: Split, batch_size: int, indices: torch.Tensor, workers: int = 0,
            device: torch.device | str = "cpu") -> Iterator[Batch]:
    """Yield ``(images, labels)`` for ``indices`` in order, ``batch_size`` at a time, on ``device``.

    ``images`` is float32 (B, C, H, W) in [0, 1]; ``labels`` is int64 (B,) or None for unlabelled data.
    The last, partial batch is kept. ``workers`` is the number of DataLoader worker processes for
    lazy splits (ignored for in-memory ones); memory is pinned when ``device`` is a CUDA device.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    device = torch.device(device)
    indices = torch.as_tensor(indices, dtype=torch.int64).reshape(-1)
    if split.in_memory:  # the attribute, not the class: a plugin's own in-memory split works too
        return _tensor_batches(split, batch_size, indices, device)
    return _loader_batches(split, batch_size, indices, workers, device)


def _tensor_batches(split: InMemorySplit, batch_size: int, indices: torch.Tensor,
                    device: torch.device) -> Iterator[Batch]:
    images = split.images_on(device) if hasattr(split, "images_on") else split.images.to(device)
    labels = split.labels.to(device) if split.labels is not None else None
    indices = indices.to(images.device)
    for start in range(0, len(indices), batch_size):
        chosen = indices[start:start + batch_size]
        yield images[chosen], (labels[chosen] if labels is not None else None)


class OrderedBatchSampler(Sampler[list[int]]):
    """Batches of a list of indices that can be replaced between epochs (iterated in the main process)."""

    def __init__(self, batch_size: int) -> None:
        self.batch_size = batch_size
        self.order: list[int] = []

    def __iter__(self) -> Iterator[list[int]]:
        order, size = self.order, self.batch_size
        return (order[i:i + size] for i in range(0, len(order), size))

    def __len__(self) -> int:
        return -(-len(self.order) // self.batch_size)


class _CachedLoader:
    def __init__(self, split: Split, batch_size: int, workers: int, pin: bool) -> None:
        self.sampler = OrderedBatchSampler(batch_size)
        self.loader = DataLoader(split.torch_dataset(), batch_sampler=self.sampler, num_workers=workers,
                                 pin_memory=pin, persistent_workers=workers > 0)
        self.busy = False


# One DataLoader per (split, batch size, workers, pinning), kept as long as the split is alive.
_LOADERS: weakref.WeakKeyDictionary[Split, dict[tuple, _CachedLoader]] = weakref.WeakKeyDictionary()


def _loader_batches(split: Split, batch_size: int, indices: torch.Tensor, workers: int,
                    device: torch.device) -> Iterator[Batch]:
    pin = device.type == "cuda"
    key = (batch_size, max(0, int(workers)), pin)
    cache = _LOADERS.setdefault(split, {})
    cached = cache.get(key)
    if cached is None or cached.busy:
        # A second walk over the same split while one is running gets its own DataLoader.
        cached = _CachedLoader(split, *key)
        cache.setdefault(key, cached)
    cached.sampler.order = indices.tolist()
    cached.busy = True
    labelled = split.labels is not None
    try:
        for images, labels in cached.loader:
            yield (images.to(device, non_blocking=pin),
                   labels.to(device, non_blocking=pin) if labelled else None)
    except BaseException:
        # A failed or abandoned walk leaves the workers mid-epoch: retire this loader. Its workers are
        # stopped here because, left to garbage collection, torch waits seconds for each to exit.
        if cache.get(key) is cached:
            del cache[key]
        shutdown = getattr(getattr(cached.loader, "_iterator", None), "_shutdown_workers", None)
        if shutdown is not None:
            shutdown()
        raise
    finally:
        cached.busy = False
