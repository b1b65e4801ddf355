"""Where ``genkit reconstruct`` and ``genkit encode`` get their images: a dataset split or an .npy file.

A dataset goes through the data layer (which imports torch); an ``.npy`` file does not, so an export
folder can encode and reconstruct arrays where torch is not installed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from genkit.errors import DataError

READ_BATCH = 512


def dataset_images(model: Any, data: str | None, split: str, count: int | None) -> tuple[np.ndarray, Any, str]:
    """The first ``count`` images (all when None) of a split of ``data``, or of the source's own dataset.

    Returns float32 (N, C, H, W) images, int64 labels or None, and a description for messages.
    """
    import torch

    from genkit.data import batches, load_dataset

    name = data or (model.metadata.get("config") or {}).get("data", {}).get("name")
    if not name:
        raise DataError("the source does not record which dataset it was trained on; name one with --data")
    chosen = load_dataset(name, tuple(model.input_shape)).split(split)
    if count is not None:
        chosen = chosen.limit(count)
    if not len(chosen):
        raise DataError(f"the {split} split of {name} holds no images")
    images, labels = [], []
    for x, y in batches(chosen, READ_BATCH, torch.arange(len(chosen))):
        images.append(x.float().numpy())
        if y is not None:
            labels.append(y.numpy())
    return np.concatenate(images), (np.concatenate(labels) if labels else None), f"{name}, {split} split"


def npy_images(path: str | Path, count: int | None) -> tuple[np.ndarray, None, str]:
    """Images from an .npy array (N, C, H, W): uint8 pixels are scaled to [0, 1], floats taken as they are."""
    path = Path(path)
    try:
        array = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise DataError(f"image file {path} does not exist") from None
    except (OSError, ValueError, EOFError) as exc:
        raise DataError(f"cannot read {path} as an .npy array: {str(exc).splitlines()[0]}") from None
    if not isinstance(array, np.ndarray):  # an .npz archive
        raise DataError(f"{path} is not an .npy array (np.save writes one)")
    if array.dtype == np.uint8:
        array = array.astype(np.float32) / 255.0
    elif array.dtype.kind == "f":
        array = array.astype(np.float32, copy=False)
    if count is not None:
        array = array[:count]
    return array, None, str(path)
