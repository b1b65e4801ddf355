"""``npz:PATH`` datasets: layouts, value ranges, labels, splits and errors."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest
import torch

from genkit.data import load_dataset
from genkit.errors import DataError


def write(tmp_path, **arrays):
    path = tmp_path / "data.npz"
    np.savez(path, **arrays)
    return path


def test_nhw_uint8_with_labels_is_split_every_tenth(tmp_path):
    x = np.arange(25 * 4 * 4, dtype=np.int64).reshape(25, 4, 4).astype(np.uint8)
    y = np.arange(25) % 3
    dataset = load_dataset(f"npz:{write(tmp_path, x=x, y=y)}", (1, 4, 4))
    train, test = dataset.split("train"), dataset.split("test")
    assert (len(train), len(test)) == (23, 2) and train.in_memory
    assert test.labels.tolist() == [9 % 3, 19 % 3]
    np.testing.assert_allclose(test.images[:, 0].numpy(), x[[9, 19]] / 255.0, atol=1e-7)
    assert train.images.shape == (23, 1, 4, 4) and train.labels.dtype == torch.int64


@pytest.mark.parametrize("layout", ["nhwc", "nchw"])
@pytest.mark.parametrize("dtype", ["float32", "uint8"])
def test_channel_layouts(tmp_path, layout, dtype):
    x = np.random.default_rng(0).random((12, 3, 5, 6), dtype=np.float32)
    if dtype == "uint8":
        x = (x * 255).round().astype(np.uint8)
    stored = x.transpose(0, 2, 3, 1) if layout == "nhwc" else x
    split = load_dataset(f"npz:{write(tmp_path, x=stored)}", (3, 5, 6)).split("train")
    assert split.images.shape == (11, 3, 5, 6) and split.images.is_contiguous()
    expected = x[np.arange(12) != 9] / (255.0 if dtype == "uint8" else 1.0)
    np.testing.assert_allclose(split.images.numpy(), expected, atol=1e-7)
    assert split.labels is None


def test_explicit_test_arrays_and_class_names(tmp_path):
    path = write(tmp_path, x=np.zeros((8, 6, 6), np.uint8), y=np.arange(8) % 2,
                 x_test=np.full((3, 6, 6), 255, np.uint8), y_test=np.array([1, 0, 1]), class_names=np.array(["a", "b"]))
    dataset = load_dataset(f"npz:{path}", (1, 6, 6))
    assert (len(dataset.split("train")), len(dataset.split("test"))) == (8, 3)
    assert dataset.split("test").images.min() == 1.0
    assert dataset.split("train").class_names == ["a", "b"]
    assert len(dataset.checksum()) == 64


def test_wrong_shape_for_the_recipe(tmp_path):
    path = write(tmp_path, x=np.zeros((5, 28, 28), np.uint8))
    with pytest.raises(DataError, match=r"has 1×28×28 images but recipe expects 3×64×64; use --data folder:PATH"):
        load_dataset(f"npz:{path}", (3, 64, 64))


@pytest.mark.parametrize("arrays, message", [
    ({"images": np.zeros((2, 4, 4), np.uint8)}, "has no array 'x' \\(it holds: images\\)"),
    ({"x": np.zeros((2, 4), np.uint8)}, "x has shape \\(2, 4\\)"),
    ({"x": np.zeros((2, 4, 4, 7), np.uint8)}, "no channel axis"),
    ({"x": np.full((2, 4, 4), 2.0)}, "holds floats in \\[2, 2\\]"),
    ({"x": np.zeros((2, 4, 4), np.int32)}, "dtype int32"),
    ({"x": np.zeros((3, 4, 4), np.uint8), "y": np.zeros(2, np.int64)}, "expected 3 integer labels"),
    ({"x": np.zeros((3, 4, 4), np.uint8), "y": np.array([0, -1, 0])}, "negative label"),
])
def test_bad_arrays_are_data_errors(tmp_path, arrays, message):
    with pytest.raises(DataError, match=message):
        load_dataset(f"npz:{write(tmp_path, **arrays)}", (1, 4, 4))


def test_missing_or_unreadable_file(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_dataset(f"npz:{tmp_path / 'none.npz'}", (1, 4, 4))
    (tmp_path / "bad.npz").write_bytes(b"PK\x03\x04 broken zip")
    with pytest.raises(DataError, match="not a complete .npz archive"):
        load_dataset(f"npz:{tmp_path / 'bad.npz'}", (1, 4, 4))
    np.save(tmp_path / "plain.npy", np.zeros((2, 4, 4), np.uint8))
    with pytest.raises(DataError, match="not a complete .npz archive"):
        load_dataset(f"npz:{tmp_path / 'plain.npy'}", (1, 4, 4))
    with zipfile.ZipFile(tmp_path / "garbage.npz", "w") as archive:  # a whole zip whose member is no array
        archive.writestr("x.npy", b"not an array")
    with pytest.raises(DataError, match="cannot read npz file"):
        load_dataset(f"npz:{tmp_path / 'garbage.npz'}", (1, 4, 4))
