"""``batches``: the order given by the indices, the partial last batch, in memory and through workers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from genkit.data import InMemorySplit, batches, batching, load_dataset


def test_in_memory_batches_follow_the_permutation():
    x = torch.arange(10, dtype=torch.uint8).reshape(10, 1, 1, 1).expand(10, 1, 2, 2).contiguous()
    split = InMemorySplit("train", x.numpy(), labels=np.arange(10) * 10)
    order = torch.tensor([3, 9, 0, 1, 7, 2, 8, 4, 6, 5])
    got = list(batches(split, 4, order, workers=3, device="cpu"))
    assert [len(images) for images, _ in got] == [4, 4, 2]  # the last, partial batch is kept
    values = torch.cat([images[:, 0, 0, 0] for images, _ in got])
    assert torch.equal((values * 255).round().long(), order)
    assert torch.equal(torch.cat([labels for _, labels in got]), order * 10)
    assert got[0][0].dtype == torch.float32


def test_in_memory_unlabelled_and_partial_order():
    split = InMemorySplit("test", np.zeros((5, 1, 2, 2), np.uint8))
    got = list(batches(split, 2, torch.tensor([4, 2, 0]), device="cpu"))
    assert [len(images) for images, _ in got] == [2, 1] and all(labels is None for _, labels in got)


@pytest.fixture
def numbered_folder(tmp_path):
    """23 images in two class folders, each a uniform gray level that identifies it."""
    for i in range(23):
        cls = "even" if i % 2 == 0 else "odd"
        (tmp_path / cls).mkdir(exist_ok=True)
        Image.new("L", (6, 6), i * 10).save(tmp_path / cls / f"{i:02d}.png")
    return tmp_path


@pytest.mark.parametrize("workers", [0, 2])
def test_lazy_batches_follow_the_permutation_across_epochs(numbered_folder, workers):
    train = load_dataset(f"folder:{numbered_folder}", (1, 4, 4)).split("train")
    dataset = train.torch_dataset()
    expected_level = [round(float(dataset[i][0].mean()) * 255) for i in range(len(train))]
    n = len(train)
    loaders = []
    for seed in (0, 1):  # a second epoch reuses the persistent workers with a new order
        order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
        got = list(batches(train, 5, order, workers=workers, device="cpu"))
        loaders.append(batching._LOADERS[train][(5, workers, False)].loader)
        assert [len(images) for images, _ in got] == [5] * (n // 5) + ([n % 5] if n % 5 else [])
        levels = [round(float(image.mean()) * 255) for images, _ in got for image in images]
        assert levels == [expected_level[i] for i in order.tolist()]
        labels = torch.cat([labels for _, labels in got])
        assert torch.equal(labels, train.labels[order])
    assert loaders[0] is loaders[1]


def test_an_abandoned_walk_does_not_disturb_the_next(numbered_folder):
    train = load_dataset(f"folder:{numbered_folder}", (1, 4, 4)).split("train")
    first = batches(train, 3, torch.arange(len(train)), workers=2, device="cpu")
    next(first)
    first.close()
    got = list(batches(train, 3, torch.arange(len(train)).flip(0), workers=2, device="cpu"))
    assert torch.equal(torch.cat([labels for _, labels in got]), train.labels.flip(0))


def test_unlabelled_lazy_split_yields_no_labels(tmp_path):
    for i in range(4):
        Image.new("RGB", (5, 5)).save(tmp_path / f"{i}.png")
    train = load_dataset(f"folder:{tmp_path}", (3, 4, 4)).split("train")
    (images, labels), *_ = batches(train, 8, torch.arange(len(train)), workers=0, device="cpu")
    assert images.shape == (len(train), 3, 4, 4) and labels is None


cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@cuda
def test_in_memory_batches_on_cuda_index_a_device_copy():
    x = np.arange(10, dtype=np.uint8).reshape(10, 1, 1, 1).repeat(4, axis=2).reshape(10, 1, 2, 2)
    split = InMemorySplit("train", x, labels=np.arange(10))
    order = torch.randperm(10)
    got = list(batches(split, 4, order, device="cuda"))
    assert all(images.is_cuda and labels.is_cuda for images, labels in got)
    assert split.images_on("cuda") is split.images_on(f"cuda:{torch.cuda.current_device()}")
    values = torch.cat([images[:, 0, 0, 0] for images, _ in got]).cpu()
    assert torch.equal((values * 255).round().long(), order)
    assert torch.equal(torch.cat([labels for _, labels in got]).cpu(), order)


@cuda
def test_lazy_batches_on_cuda_through_pinned_workers(numbered_folder):
    train = load_dataset(f"folder:{numbered_folder}", (1, 4, 4)).split("train")
    order = torch.randperm(len(train))
    got = list(batches(train, 5, order, workers=2, device="cuda"))
    assert all(images.is_cuda and labels.is_cuda for images, labels in got)
    assert torch.equal(torch.cat([labels for _, labels in got]).cpu(), train.labels[order])
