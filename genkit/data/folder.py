"""``folder:PATH``: a folder of PNG/JPEG images, read lazily, resized and centre-cropped to the recipe.

Layouts:

- flat, CelebA-style (all images in one folder tree): no labels;
- one subfolder per class (two or more of them, every image inside one): labels and class names;
- ``train/`` and ``test/`` subfolders: those are the splits, each in one of the layouts above.

Without ``train/`` and ``test/``, an image goes to the test split when a stable hash of its relative
path falls in the lowest tenth: the split does not depend on the file system's listing order, and
adding images never moves the old ones. Files of other types are ignored, and so are hidden files
(``._x.jpg`` resource forks are not images). Images are decoded only when a DataLoader asks for
them; one that cannot be decoded raises an ``ImageFileError`` naming the file.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

from genkit.data.dataset import ImageDataset
from genkit.data.image_files import ImageFiles
from genkit.data.splits import LazySplit
from genkit.errors import DataError, warn

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg"})
TEST_FRACTION_BUCKETS = 10  # one bucket in ten goes to the test split


def folder_dataset(argument: str | None, input_shape: Sequence[int] | None) -> ImageDataset:
    """Images under the folder ``argument``, resized and cropped to ``input_shape`` (C, H, W).

    With ``input_shape=None`` the shape is that of the first image (for ``genkit data info``).
    """
    if not argument:
        raise DataError("folder dataset needs a path: folder:PATH")
    root = Path(argument).expanduser()
    if not root.exists():
        raise DataError(f"image folder {root} does not exist")
    if not root.is_dir():
        raise DataError(f"{root} is not a folder; folder:PATH needs a folder of images")
    if (root / "train").is_dir() and (root / "test").is_dir():
        files = {split: _scan(root / split) for split in ("train", "test")}
        for split, names in files.items():
            if not names:
                raise DataError(f"image folder {root / split} holds no images ({_suffixes()} files)")
        bases = {split: root / split for split in files}
    else:
        names = _scan(root)
        if not names:
            raise DataError(f"image folder {root} holds no images ({_suffixes()} files)")
        files = hash_split(names)
        bases = {split: root for split in files}
    class_names = _class_names([name for names in files.values() for name in names])
    shape = _shape(input_shape, bases["train"] / files["train"][0])
    if input_shape is not None:
        _note_conversion(root, bases["train"] / files["train"][0], shape[0])
    class_index = {name: i for i, name in enumerate(class_names or [])}
    splits = {}
    for split, names in files.items():
        labels = [class_index[name.split("/", 1)[0]] for name in names] if class_names else None
        dataset = ImageFiles([str(bases[split] / name) for name in names], labels, shape)
        splits[split] = LazySplit(split, dataset, shape, labels, class_names)
    return ImageDataset(f"folder:{root}", shape, splits, lambda: _checksum(bases, files), location=str(root))


def _suffixes() -> str:
    return "/".join(sorted(IMAGE_SUFFIXES))


def _scan(root: Path) -> list[str]:
    """Relative POSIX paths of the image files under ``root``, sorted."""
    found = []
    for directory, subdirs, filenames in os.walk(root):
        subdirs[:] = [d for d in subdirs if not d.startswith(".")]
        rel = Path(directory).relative_to(root)
        for filename in filenames:
            if not filename.startswith(".") and os.path.splitext(filename)[1].lower() in IMAGE_SUFFIXES:
                found.append((rel / filename).as_posix())
    return sorted(found)


def _bucket(name: str) -> int:
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big")


def hash_split(names: list[str]) -> dict[str, list[str]]:
    """Train and test lists by a stable hash of each relative path (about 90/10).

    The train split is never empty, nor the test split with two or more images: if the hash put none
    in one of them, the image with the largest (for train) or smallest (for test) hash moves there.
    """
    buckets = {name: _bucket(name) for name in names}
    keyed = sorted(names, key=buckets.__getitem__)
    test = [name for name in names if buckets[name] % TEST_FRACTION_BUCKETS == 0]
    train = [name for name in names if buckets[name] % TEST_FRACTION_BUCKETS != 0]
    if not train and names:
        train = [keyed[-1]]
        test.remove(keyed[-1])
    if not test and len(names) > 1:
        test = [keyed[0]]
        train.remove(keyed[0])
    return {"train": train, "test": test}


def _class_names(names: list[str]) -> list[str] | None:
    """Sorted class folder names when every image lies in one of two or more subfolders."""
    tops = {name.split("/", 1)[0] for name in names if "/" in name}
    if len(tops) < 2 or any("/" not in name for name in names):
        return None
    return sorted(tops)


def _shape(input_shape: Sequence[int] | None, first: Path) -> tuple[int, int, int]:
    if input_shape is None:
        from genkit.data.image_files import native_shape

        return native_shape(first)
    shape = tuple(int(v) for v in input_shape)
    if len(shape) != 3 or shape[0] not in (1, 3) or min(shape) < 1:
        raise DataError(f"image folders can be read as 1×H×W (grayscale) or 3×H×W (RGB) images; "
                        f"the recipe expects {'×'.join(map(str, shape))}")
    return shape  # type: ignore[return-value]


def _note_conversion(root: Path, first: Path, channels: int) -> None:
    """Warn when the recipe reads the folder's images in another colour mode than they are stored in."""
    from genkit.data.image_files import native_shape

    stored = native_shape(first)[0]
    if stored != channels:
        kinds = {1: "grayscale", 3: "RGB"}
        warn(f"image folder {root} holds {kinds[stored]} images ({first.name}, ...); the recipe reads them as "
             f"{kinds[channels]}, so they are converted")


def _checksum(bases: dict[str, Path], files: dict[str, list[str]]) -> str:
    """A digest of the split, relative path and size of every image: cheap for 200,000 files."""
    digest = hashlib.sha256()
    for split, names in files.items():
        for name in names:
            try:
                size = (bases[split] / name).stat().st_size
            except OSError as exc:
                raise DataError(f"cannot read image {bases[split] / name}: {exc.strerror or exc}") from exc
            digest.update(f"{split}/{name}\0{size}\n".encode())
    return digest.hexdigest()
