"""The fashion-mnist and mnist factories on small synthetic IDX files: splits, checks and checksum."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
import torch

from genkit.data import load_dataset, locations
from genkit.data.mnist import FASHION_MNIST_CLASSES
from genkit.errors import DataError


@pytest.fixture
def cached(no_system_data, idx_tools):
    """Synthetic fashion-mnist in the user cache; returns the arrays written."""
    return idx_tools.dataset(locations.cache_dir("fashion-mnist"), n_train=30, n_test=12)


def test_splits_hold_the_files_arrays(cached):
    dataset = load_dataset("fashion-mnist", (1, 28, 28))
    assert dataset.name == "fashion-mnist" and dataset.image_shape == (1, 28, 28)
    assert dataset.split_names == ("train", "test")
    for name, (images, labels) in cached.items():
        split = dataset.split(name)
        assert split.in_memory and len(split) == len(images) and split.image_shape == (1, 28, 28)
        assert split.images.dtype == torch.float32 and split.images.shape == (len(images), 1, 28, 28)
        np.testing.assert_allclose(split.images[:, 0].numpy(), images / 255.0, atol=1e-7)
        assert split.labels.dtype == torch.int64
        np.testing.assert_array_equal(split.labels.numpy(), labels)
        assert split.class_names == FASHION_MNIST_CLASSES
    assert dataset.split("train") is dataset.split("train")
    assert dataset.split("train").images is dataset.split("train").images  # converted once


def test_limit_returns_the_first_items(cached):
    train = load_dataset("fashion-mnist", (1, 28, 28)).split("train")
    first = train.limit(7)
    assert len(first) == 7 and first.labels.tolist() == train.labels[:7].tolist()
    assert torch.equal(first.images, train.images[:7])
    assert len(train.limit(1000)) == 30
    assert len(train.torch_dataset()) == 30


def test_unknown_split_lists_the_known_ones(cached):
    with pytest.raises(DataError, match="no split 'validation'; known splits: train, test"):
        load_dataset("fashion-mnist", (1, 28, 28)).split("validation")


def test_wrong_shape_explains_the_way_out(cached):
    with pytest.raises(DataError) as caught:
        load_dataset("fashion-mnist", (3, 128, 128))
    assert str(caught.value) == (
        "dataset fashion-mnist has 1×28×28 images but recipe expects 3×128×128; use --data folder:PATH "
        "(resized to fit) or a recipe with input_shape [1, 28, 28]")


def test_checksum_is_stable_and_follows_the_content(cached, idx_tools):
    first = load_dataset("fashion-mnist", (1, 28, 28))
    second = load_dataset("fashion-mnist", (1, 28, 28))
    second.split("train")  # digests from parsing and from hashing alone must agree
    assert first.checksum() == second.checksum() and len(first.checksum()) == 64
    raw = locations.cache_dir("fashion-mnist")
    for path in raw.glob("*.gz"):  # the same data uncompressed: the same checksum
        path.with_suffix("").write_bytes(gzip.decompress(path.read_bytes()))
        path.unlink()
    assert load_dataset("fashion-mnist", (1, 28, 28)).checksum() == first.checksum()
    idx_tools.dataset(raw, n_train=30, n_test=12, gz=False, seed=1)
    assert load_dataset("fashion-mnist", (1, 28, 28)).checksum() != first.checksum()


def test_label_count_mismatch_names_both_files(no_system_data, idx_tools):
    folder = locations.cache_dir("mnist")
    idx_tools.dataset(folder)
    idx_tools.write(folder / "train-labels-idx1-ubyte", np.zeros(19, dtype=np.uint8))
    with pytest.raises(DataError) as caught:
        load_dataset("mnist", (1, 28, 28))
    assert "train-labels-idx1-ubyte.gz holds 19 labels" in str(caught.value)
    assert "train-images-idx3-ubyte.gz holds 20 images" in str(caught.value)


def test_label_out_of_range_names_the_file(no_system_data, idx_tools):
    folder = locations.cache_dir("mnist")
    idx_tools.dataset(folder)
    idx_tools.write(folder / "t10k-labels-idx1-ubyte", np.full(10, 10, dtype=np.uint8))
    dataset = load_dataset("mnist", (1, 28, 28))
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte.gz: label 10 is out of range 0..9"):
        dataset.split("test")


def test_truncated_images_file_is_reported_when_the_split_loads(no_system_data, idx_tools):
    folder = locations.cache_dir("mnist")
    idx_tools.dataset(folder, gz=False)
    path = folder / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    dataset = load_dataset("mnist", (1, 28, 28))  # headers are intact
    with pytest.raises(DataError, match=f"corrupt IDX file {path}: size mismatch"):
        dataset.split("train")


def test_corrupt_header_is_reported_at_once(no_system_data, idx_tools):
    folder = locations.cache_dir("mnist")
    idx_tools.dataset(folder)
    (folder / "t10k-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8b\x08garbage")
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte.gz: bad gzip data"):
        load_dataset("mnist", (1, 28, 28))


def test_test_split_of_another_size_is_refused(no_system_data, idx_tools):
    folder = locations.cache_dir("mnist")
    idx_tools.dataset(folder)
    idx_tools.write(folder / "t10k-images-idx3-ubyte", np.zeros((10, 14, 14), dtype=np.uint8))
    with pytest.raises(DataError, match="holds 1×14×14 images but the train images are 1×28×28"):
        load_dataset("mnist", (1, 28, 28))


def test_native_shape_when_no_recipe_shape(cached):
    assert load_dataset("fashion-mnist", None).image_shape == (1, 28, 28)
