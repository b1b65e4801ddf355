"""One split of a dataset (train or test): held in memory as one tensor, or read lazily item by item.

Small datasets (IDX, npz) are ``InMemorySplit``s: the trainer batches them by indexing one float32
tensor with a permutation, with no Python call per image. Image folders are ``LazySplit``s over a
torch ``Dataset`` that reads and resizes each file when asked, in DataLoader workers.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, Subset, TensorDataset

NO_LABEL = -1


def _as_labels(labels: Any, count: int) -> torch.Tensor | None:
    if labels is None:
        return None
    if isinstance(labels, torch.Tensor):
        tensor = labels.to(torch.int64)
    else:  # astype also turns big-endian IDX data into native int64, which torch requires
        tensor = torch.from_numpy(np.asarray(labels).astype(np.int64))
    if tensor.shape != (count,):
        raise ValueError(f"expected {count} labels, got shape {tuple(tensor.shape)}")
    return tensor


class Split:
    """What every split offers: its size, image shape, labels and class names."""

    in_memory: bool = False

    def __init__(self, name: str, image_shape: Sequence[int], labels: Any = None,
                 class_names: Sequence[str] | None = None) -> None:
        self.name = name
        self.image_shape: tuple[int, int, int] = tuple(int(v) for v in image_shape)  # type: ignore[assignment]
        self.labels: torch.Tensor | None = _as_labels(labels, len(self))
        self.class_names: list[str] | None = list(class_names) if class_names is not None else None

    def __len__(self) -> int:
        raise NotImplementedError

    def limit(self, n: int) -> Split:
        """The first ``n`` items (all of them when ``n`` is larger)."""
        raise NotImplementedError

    def torch_dataset(self) -> Dataset:
        """A torch Dataset of ``(image, label)``: float32 (C, H, W) in [0, 1] and an int (-1 if unlabelled)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        shape = "×".join(map(str, self.image_shape))
        return f"{type(self).__name__}({self.name!r}, {len(self)} images of {shape})"


class InMemorySplit(Split):
    """A split whose images are one array, turned into a float32 tensor once, on first use.

    ``array`` is (N, C, H, W): uint8 in 0..255 or floating point in [0, 1], numpy or torch.
    """

    in_memory = True

    def __init__(self, name: str, array: Any, labels: Any = None, class_names: Sequence[str] | None = None) -> None:
        if array.ndim != 4:
            raise ValueError(f"expected an (N, C, H, W) array, got shape {tuple(array.shape)}")
        self._array = array
        self._images: torch.Tensor | None = None
        self._on_device: dict[str, torch.Tensor] = {}
        super().__init__(name, array.shape[1:], labels, class_names)

    def __len__(self) -> int:
        return int(self._array.shape[0])

    @property
    def images(self) -> torch.Tensor:
        """All images as one float32 (N, C, H, W) tensor in [0, 1] (converted on first access)."""
        if self._images is None:
            self._images = _to_float(self._array)
            self._array = self._images  # the source array is no longer needed
        return self._images

    def images_on(self, device: torch.device | str) -> torch.Tensor:
        """``images`` on ``device``, copied there once and kept, so each batch is one indexing op."""
        device = torch.device(device)
        if device.type == "cpu":
            return self.images
        if device.type == "cuda" and device.index is None:  # "cuda" and "cuda:0" share one copy
            device = torch.device("cuda", torch.cuda.current_device())
        key = str(device)
        if key not in self._on_device:
            self._on_device[key] = self.images.to(device)
        return self._on_device[key]

    def limit(self, n: int) -> InMemorySplit:
        n = max(0, int(n))
        labels = self.labels[:n] if self.labels is not None else None
        part = InMemorySplit(self.name, self._array[:n], labels, self.class_names)
        if self._images is not None:
            part._images = self._images[:n]  # a view: no second conversion, no copy
        return part

    def torch_dataset(self) -> Dataset:
        labels = self.labels if self.labels is not None else torch.full((len(self),), NO_LABEL, dtype=torch.int64)
        return TensorDataset(self.images, labels)


def _to_float(array: Any) -> torch.Tensor:
    """A fresh, contiguous float32 tensor in [0, 1] (the source may be a read-only or strided view)."""
    if isinstance(array, np.ndarray):
        if array.dtype == np.uint8:
            with warnings.catch_warnings():
                # IDX arrays view read-only bytes; torch only reads them here (.to makes a new tensor).
                warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
                source = torch.from_numpy(array)
            # torch converts with several threads, about 3x faster than numpy's astype.
            # Division (not multiplication by 1/255) so that 255 maps to exactly 1.0.
            return source.to(torch.float32, memory_format=torch.contiguous_format).div_(255)
        return torch.from_numpy(np.array(array, dtype=np.float32, order="C"))
    tensor = torch.as_tensor(array)
    if tensor.dtype == torch.uint8:
        return tensor.to(torch.float32).div_(255)
    return tensor.to(torch.float32, copy=True).contiguous()


class LazySplit(Split):
    """A split backed by a torch Dataset of ``(image, label)`` items, read on demand.

    ``labels`` (known without reading any image) are given separately so that listing classes or
    counting labels never opens a file.
    """

    in_memory = False

    def __init__(self, name: str, dataset: Dataset, image_shape: Sequence[int], labels: Any = None,
                 class_names: Sequence[str] | None = None) -> None:
        self._dataset = dataset
        super().__init__(name, image_shape, labels, class_names)

    def __len__(self) -> int:
        return len(self._dataset)  # type: ignore[arg-type]

    def limit(self, n: int) -> LazySplit:
        n = min(max(0, int(n)), len(self))
        labels = self.labels[:n] if self.labels is not None else None
        return LazySplit(self.name, Subset(self._dataset, range(n)), self.image_shape, labels, self.class_names)

    def torch_dataset(self) -> Dataset:
        return self._dataset
