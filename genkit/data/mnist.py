"""The ``fashion-mnist`` and ``mnist`` datasets: four IDX files found through ``genkit.data.locations``.

Opening the dataset reads only the four headers (shape and count checks); a split's arrays are read
when the split is first asked for, and its images become a float32 tensor when first used.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

from genkit.data import download, idx, locations
from genkit.data.dataset import ImageDataset, check_image_shape
from genkit.data.splits import InMemorySplit
from genkit.errors import DataError

# split -> (images file, labels file), without the optional .gz suffix
IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

FASHION_MNIST_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
MNIST_CLASSES = [str(digit) for digit in range(10)]


def fashion_mnist(argument: str | None, input_shape: Sequence[int] | None) -> ImageDataset:
    """Zalando's Fashion-MNIST: 60000 + 10000 grayscale 28×28 images of 10 clothing classes."""
    return idx_dataset("fashion-mnist", FASHION_MNIST_CLASSES, input_shape)


def mnist(argument: str | None, input_shape: Sequence[int] | None) -> ImageDataset:
    """LeCun's MNIST: 60000 + 10000 grayscale 28×28 handwritten digits."""
    return idx_dataset("mnist", MNIST_CLASSES, input_shape)


def idx_dataset(name: str, class_names: list[str], input_shape: Sequence[int] | None,
                directory: Path | None = None) -> ImageDataset:
    """An IDX dataset laid out like MNIST, found in the search folders (or in ``directory``)."""
    stems = [stem for pair in IDX_FILES.values() for stem in pair]
    if directory is None:
        directory, paths = locations.find_files(name, stems, download.how_to_get(name))
    else:
        paths = {stem: locations.find_in(directory, stem) for stem in stems}
        missing = [stem for stem, path in paths.items() if path is None]
        if missing:
            raise DataError(f"{directory} has no {', '.join(missing)} (raw or .gz)")
    shape = None
    for split, (images_stem, labels_stem) in IDX_FILES.items():
        images = idx.read_idx_header(paths[images_stem], ndim=3)
        labels = idx.read_idx_header(paths[labels_stem], ndim=1)
        for header, stem in ((images, images_stem), (labels, labels_stem)):
            if header.dtype.kind != "u" or header.dtype.itemsize != 1:
                raise DataError(f"corrupt IDX file {paths[stem]}: holds {header.dtype.name} values, "
                                f"expected unsigned bytes")
        if labels.shape[0] != images.shape[0]:
            raise DataError(f"{split} labels and images of dataset {name} disagree: {paths[labels_stem]} holds "
                            f"{labels.shape[0]} labels but {paths[images_stem]} holds {images.shape[0]} images")
        split_shape = (1, *images.shape[1:])
        if shape is not None and split_shape != shape:
            raise DataError(f"dataset {name}: {paths[images_stem]} holds {'×'.join(map(str, split_shape))} "
                            f"images but the train images are {'×'.join(map(str, shape))}")
        shape = split_shape
    check_image_shape(name, shape, input_shape)
    digests: dict[str, str] = {}
    loaders = {split: _split_loader(split, paths[img], paths[lab], class_names, digests)
               for split, (img, lab) in IDX_FILES.items()}

    def checksum() -> str:
        whole = hashlib.sha256()
        for stem in stems:
            # Digests of the decompressed bytes: a gzipped and a raw copy of the data agree.
            digest = digests.get(str(paths[stem])) or idx.idx_digest(paths[stem])
            whole.update(f"{stem} {digest}\n".encode())
        return whole.hexdigest()

    return ImageDataset(name, shape, loaders, checksum, location=str(directory))


def _split_loader(split: str, images_path: Path, labels_path: Path, class_names: list[str],
                  digests: dict[str, str]):
    def load() -> InMemorySplit:
        images = idx.read_idx(images_path, ndim=3)
        labels = idx.read_idx(labels_path, ndim=1)
        digests[str(images_path)], digests[str(labels_path)] = images.sha256, labels.sha256
        if labels.array.shape[0] != images.array.shape[0]:
            raise DataError(f"{labels_path} holds {labels.array.shape[0]} labels but {images_path} holds "
                            f"{images.array.shape[0]} images")
        if labels.array.size and int(labels.array.max()) >= len(class_names):
            raise DataError(f"corrupt IDX file {labels_path}: label {int(labels.array.max())} is out of range "
                            f"0..{len(class_names) - 1}")
        return InMemorySplit(split, images.array[:, None], labels.array, class_names)

    return load
