"""A torch Dataset over image files: decode, resize the shorter side, centre-crop, scale to [0, 1].

A file that cannot be decoded raises ``ImageFileError`` naming it. Raised inside a DataLoader worker,
an exception reaches the main process re-created from the worker's formatted traceback (torch's
``ExceptionWrapper`` calls ``type(message)``), which would turn one line into a page; so the
constructor recognises that form and keeps only the original one-line message.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image, ImageOps
from torch.utils.data import Dataset

from genkit.data.splits import NO_LABEL
from genkit.errors import DataError

RESAMPLING = Image.Resampling.BICUBIC


class ImageFileError(DataError):
    """An image file that cannot be read; the message names the file, even from a DataLoader worker."""

    def __init__(self, message: str) -> None:
        marker = f"{__name__}.{type(self).__qualname__}: "
        if "Original Traceback" in message and marker in message:
            # "Caught ImageFileError in DataLoader worker process 0.\nOriginal Traceback ...\n<marker>msg"
            message = message[message.rindex(marker) + len(marker):].strip()
        super().__init__(message)


def load_image(path: str, shape: Sequence[int]) -> torch.Tensor:
    """The image at ``path`` as a float32 (C, H, W) tensor in [0, 1], resized and cropped to ``shape``."""
    channels, height, width = shape
    mode = "L" if channels == 1 else "RGB"
    try:
        with Image.open(path) as image:
            # JPEG decoders can scale by 1/2..1/8 while decoding: much faster for large photos.
            image.draft(mode, (width, height))
            image = image.convert(mode)
            image = ImageOps.fit(image, (width, height), RESAMPLING, centering=(0.5, 0.5))
            pixels = np.array(image, dtype=np.uint8)
    except Exception as exc:  # noqa: BLE001 - decoders raise OSError, SyntaxError, ValueError, struct.error...
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ImageFileError(f"cannot read image {path}: {reason}") from None
    tensor = torch.from_numpy(pixels)
    tensor = tensor.unsqueeze(0) if channels == 1 else tensor.permute(2, 0, 1)
    return tensor.to(torch.float32, memory_format=torch.contiguous_format).div_(255)


def native_shape(path) -> tuple[int, int, int]:
    """(C, H, W) of one image file as stored: 1 channel for grayscale modes, else 3."""
    try:
        with Image.open(path) as image:
            channels = 1 if image.mode in ("1", "L", "LA", "I", "I;16", "F") else 3
            return channels, image.height, image.width
    except Exception as exc:  # noqa: BLE001
        raise ImageFileError(f"cannot read image {path}: {exc}") from None


class ImageFiles(Dataset):
    """``(image, label)`` items read from ``paths`` on demand; the label is -1 when there are none."""

    def __init__(self, paths: Sequence[str], labels: Sequence[int] | None, shape: Sequence[int]) -> None:
        self.paths = list(paths)
        self.labels = list(labels) if labels is not None else None
        self.shape = tuple(int(v) for v in shape)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        label = self.labels[index] if self.labels is not None else NO_LABEL
        return load_image(self.paths[index], self.shape), label
