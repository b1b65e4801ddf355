"""``npz:PATH``: images and labels from a NumPy ``.npz`` archive, held in memory.

Arrays: ``x`` of shape (N, H, W), (N, H, W, C) or (N, C, H, W), uint8 in 0..255 or floating point in
[0, 1]; optional ``y`` (N integer labels) and ``class_names``; optional ``x_test`` / ``y_test`` for the
test split. Without ``x_test`` every tenth item (indices 9, 19, ...) is the test split, the rest the
train split: deterministic, and spread over the file even when it is sorted by class.
"""

from __future__ import annotations

import hashlib
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from genkit.data.dataset import ImageDataset, check_image_shape
from genkit.data.splits import InMemorySplit
from genkit.errors import DataError

TEST_EVERY = 10


def npz_dataset(argument: str | None, input_shape: Sequence[int] | None) -> ImageDataset:
    """The arrays in the ``.npz`` file ``argument`` as a train and a test split."""
    if not argument:
        raise DataError("npz dataset needs a path: npz:PATH")
    path = Path(argument).expanduser()
    arrays = _read(path)
    if "x" not in arrays:
        raise DataError(f"{path} has no array 'x' (it holds: {', '.join(sorted(arrays)) or 'nothing'}); "
                        f"save the images as x=(N, H, W[, C]) and the labels as y=(N,)")
    x = to_nchw(path, "x", arrays["x"], input_shape)
    y = _labels(path, "y", arrays.get("y"), len(x))
    class_names = [str(c) for c in arrays["class_names"]] if "class_names" in arrays else None
    if "x_test" in arrays:
        x_test = to_nchw(path, "x_test", arrays["x_test"], x.shape[1:])
        y_test = _labels(path, "y_test", arrays.get("y_test"), len(x_test))
        train_x, train_y, test_x, test_y = x, y, x_test, y_test
    else:
        test = np.zeros(len(x), dtype=bool)
        test[TEST_EVERY - 1::TEST_EVERY] = True
        if not test.any() and len(x) > 1:
            test[-1] = True
        train_x, test_x = x[~test], x[test]
        train_y, test_y = (y[~test], y[test]) if y is not None else (None, None)
    shape = tuple(int(v) for v in x.shape[1:])
    check_image_shape(f"npz:{path}", shape, input_shape)
    for name, labels in (("y", train_y), ("y_test", test_y)):
        if labels is not None and class_names is not None and labels.size and labels.max() >= len(class_names):
            raise DataError(f"{path}: {name} has label {int(labels.max())} but only {len(class_names)} class_names")
    splits = {"train": InMemorySplit("train", train_x, train_y, class_names),
              "test": InMemorySplit("test", test_x, test_y, class_names)}
    return ImageDataset(f"npz:{path}", shape, splits, lambda: _file_digest(path), location=str(path))


def _read(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise DataError(f"npz file {path} does not exist")
    # np.load reads anything that is neither a zip nor a .npy file as a pickle, and refusing that
    # (allow_pickle=False) blames "pickled data" for what is just the wrong kind of file.
    if not zipfile.is_zipfile(path):
        raise DataError(f"{path} is not a complete .npz archive (a zip of .npy arrays, as np.savez writes); "
                        f"point npz: at one, or use folder: for a directory of images")
    try:
        with np.load(path, allow_pickle=False) as archive:  # a zip always loads as an NpzFile
            arrays = {name: archive[name] for name in archive.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise DataError(f"cannot read npz file {path}: {exc}") from exc
    for name, value in arrays.items():
        if not isinstance(value, np.ndarray):  # NpzFile hands back raw bytes for a member that is no .npy
            raise DataError(f"cannot read npz file {path}: its member {name!r} is not a .npy array")
    return arrays


def to_nchw(path: Path, name: str, x: np.ndarray, input_shape: Sequence[int] | None) -> np.ndarray:
    """``x`` as (N, C, H, W), without copying; the layout of a 4-D array is taken from ``input_shape``
    when it fits, else from where a channel axis of size 1 or 3 is."""
    if x.dtype == np.uint8:
        pass
    elif x.dtype.kind == "f":
        low, high = (float(x.min()), float(x.max())) if x.size else (0.0, 0.0)
        if not (0.0 <= low and high <= 1.0):  # also false for NaN
            raise DataError(f"{path}: {name} holds floats in [{low:g}, {high:g}]; "
                            f"expected uint8 in 0..255 or floats in [0, 1]")
    else:
        raise DataError(f"{path}: {name} has dtype {x.dtype}; expected uint8 in 0..255 or floats in [0, 1]")
    if x.ndim == 3:
        return x[:, None]
    if x.ndim != 4:
        raise DataError(f"{path}: {name} has shape {x.shape}; expected (N, H, W), (N, H, W, C) or (N, C, H, W)")
    expected = tuple(int(v) for v in input_shape) if input_shape is not None else None
    if expected is not None and x.shape[1:] == expected:
        return x
    if expected is not None and x.shape[1:] == (expected[1], expected[2], expected[0]):
        return x.transpose(0, 3, 1, 2)
    if x.shape[-1] in (1, 3) and x.shape[1] not in (1, 3):
        return x.transpose(0, 3, 1, 2)
    if x.shape[1] in (1, 3):
        return x
    raise DataError(f"{path}: {name} has shape {x.shape}, with no channel axis of size 1 or 3")


def _labels(path: Path, name: str, y: np.ndarray | None, count: int) -> np.ndarray | None:
    if y is None:
        return None
    if y.ndim != 1 or len(y) != count or y.dtype.kind not in "iu":
        raise DataError(f"{path}: {name} has shape {y.shape} and dtype {y.dtype}; expected {count} integer labels")
    if y.size and y.min() < 0:
        raise DataError(f"{path}: {name} holds a negative label {int(y.min())}")
    return y


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
