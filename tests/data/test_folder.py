"""``folder:PATH`` datasets: layouts, splits, resize and crop, modes, and errors that name the file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from genkit.data import batches, load_dataset
from genkit.data.folder import hash_split
from genkit.errors import DataError


def save(path: Path, size=(20, 16), value=128, mode="RGB") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    color = value if mode == "L" else (value, value // 2, 255 - value)
    Image.new(mode, size, color).save(path)
    return path


@pytest.fixture
def flat(tmp_path) -> Path:
    """40 PNG/JPEG images of assorted sizes in one folder, plus files that are not images."""
    root = tmp_path / "faces"
    for i in range(40):
        save(root / f"{i:06d}.{'png' if i % 2 else 'jpg'}", size=(20 + i, 16 + i % 5), value=i * 6)
    (root / "list_attr.txt").write_text("not an image")
    (root / "identity.csv").write_text("a,b\n")
    (root / ".hidden.png").write_bytes(b"resource fork, not an image")
    return root


def test_flat_folder_is_unlabelled_and_split_by_hash(flat):
    dataset = load_dataset(f"folder:{flat}", (3, 8, 8))
    train, test = dataset.split("train"), dataset.split("test")
    assert not train.in_memory and train.labels is None and train.class_names is None
    assert len(train) + len(test) == 40 and 0 < len(test) < 10
    names = sorted(p.name for p in flat.iterdir() if p.suffix in (".png", ".jpg") and p.name[0] != ".")
    forward, backward = hash_split(names), hash_split(names[::-1])
    assert {k: set(v) for k, v in forward.items()} == {k: set(v) for k, v in backward.items()}
    assert len(forward["test"]) == len(test)
    image, label = train.torch_dataset()[0]
    assert image.shape == (3, 8, 8) and image.dtype == torch.float32 and label == -1
    assert 0.0 <= float(image.min()) and float(image.max()) <= 1.0
    assert dataset.image_shape == (3, 8, 8) and dataset.location == str(flat)


def test_grayscale_recipe_reads_one_channel(flat):
    image, _ = load_dataset(f"folder:{flat}", (1, 12, 10)).split("train").torch_dataset()[3]
    assert image.shape == (1, 12, 10)


def test_rgb_recipe_from_grayscale_files(tmp_path):
    for i in range(4):
        save(tmp_path / "g" / f"{i}.png", mode="L", value=200)
    image, _ = load_dataset(f"folder:{tmp_path / 'g'}", (3, 4, 4)).split("train").torch_dataset()[0]
    assert image.shape == (3, 4, 4) and torch.allclose(image, torch.full((3, 4, 4), 200 / 255))


def test_shorter_side_is_resized_then_centre_cropped(tmp_path):
    # 60×20: black, white, black thirds; at 10×10 the centre crop is the white third only.
    pixels = np.zeros((20, 60), dtype=np.uint8)
    pixels[:, 20:40] = 255
    for i in range(3):
        Image.fromarray(pixels).save(tmp_path / f"{i}.png")
    image, _ = load_dataset(f"folder:{tmp_path}", (1, 10, 10)).split("train").torch_dataset()[0]
    assert image.shape == (1, 10, 10)
    assert float(image[:, :, 1:-1].min()) > 0.9  # bicubic may soften the outermost columns


def test_class_subfolders_give_labels_and_names(tmp_path):
    for cls, count in (("cat", 12), ("dog", 15), ("emu", 9)):
        for i in range(count):
            save(tmp_path / cls / f"{i}.png", value=10 * i)
    (tmp_path / "README.txt").write_text("ignored")
    dataset = load_dataset(f"folder:{tmp_path}", (3, 6, 6))
    train, test = dataset.split("train"), dataset.split("test")
    assert train.class_names == test.class_names == ["cat", "dog", "emu"]
    counts = torch.bincount(torch.cat([train.labels, test.labels]), minlength=3).tolist()
    assert counts == [12, 15, 9]
    image, label = train.torch_dataset()[0]
    assert label == int(train.labels[0])


def test_train_and_test_subfolders_are_the_splits(tmp_path):
    for split, count in (("train", 7), ("test", 3)):
        for cls in ("a", "b"):
            for i in range(count):
                save(tmp_path / split / cls / f"{i}.jpeg")
    dataset = load_dataset(f"folder:{tmp_path}", (3, 8, 8))
    assert (len(dataset.split("train")), len(dataset.split("test"))) == (14, 6)
    assert dataset.split("test").class_names == ["a", "b"]


def test_a_single_subfolder_is_not_a_class(tmp_path):
    for i in range(5):
        save(tmp_path / "img_align_celeba" / f"{i}.jpg")
    assert load_dataset(f"folder:{tmp_path}", (3, 8, 8)).split("train").labels is None


def test_tiny_folders_still_get_both_splits(tmp_path):
    for i in range(2):
        save(tmp_path / f"{i}.png")
    dataset = load_dataset(f"folder:{tmp_path}", (3, 8, 8))
    assert (len(dataset.split("train")), len(dataset.split("test"))) == (1, 1)


def test_a_single_image_is_the_train_split(tmp_path):
    save(tmp_path / "only.png")
    dataset = load_dataset(f"folder:{tmp_path}", (3, 8, 8))
    assert (len(dataset.split("train")), len(dataset.split("test"))) == (1, 0)


def test_limit_keeps_the_first_items(flat):
    train = load_dataset(f"folder:{flat}", (3, 8, 8)).split("train")
    first = train.limit(5)
    assert len(first) == 5 and not first.in_memory
    assert torch.equal(first.torch_dataset()[4][0], train.torch_dataset()[4][0])


def test_checksum_follows_the_file_list(flat):
    before = load_dataset(f"folder:{flat}", (3, 8, 8)).checksum()
    assert load_dataset(f"folder:{flat}", (1, 16, 16)).checksum() == before
    save(flat / "new.png")
    assert load_dataset(f"folder:{flat}", (3, 8, 8)).checksum() != before


@pytest.mark.parametrize("make", ["missing", "file", "empty", "only-text"])
def test_missing_or_empty_folder_is_a_data_error(tmp_path, make):
    path = tmp_path / "data"
    if make == "file":
        path.write_text("x")
    elif make in ("empty", "only-text"):
        path.mkdir()
        if make == "only-text":
            (path / "notes.txt").write_text("x")
    match = {"missing": "does not exist", "file": "is not a folder"}.get(make, "holds no images")
    with pytest.raises(DataError, match=match):
        load_dataset(f"folder:{path}", (3, 8, 8))


def test_unsupported_channel_count(flat):
    with pytest.raises(DataError, match="1×H×W .* or 3×H×W"):
        load_dataset(f"folder:{flat}", (4, 8, 8))


@pytest.fixture
def with_corrupt(tmp_path) -> tuple[Path, Path]:
    for i in range(11):
        save(tmp_path / "d" / f"{i:02d}.png", value=i)
    bad = tmp_path / "d" / "05.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n this is not a real PNG")
    return tmp_path / "d", bad


def test_corrupt_image_names_the_file(with_corrupt):
    root, bad = with_corrupt
    dataset = load_dataset(f"folder:{root}", (3, 8, 8))  # files are not opened until used
    split = next(dataset.split(s) for s in ("train", "test") if str(bad) in dataset.split(s).torch_dataset().paths)
    position = split.torch_dataset().paths.index(str(bad))
    with pytest.raises(DataError, match=f"cannot read image {bad}: "):
        split.torch_dataset()[position]


@pytest.mark.parametrize("workers", [0, 2])
def test_corrupt_image_through_dataloader_workers_is_one_line(with_corrupt, workers):
    root, bad = with_corrupt
    dataset = load_dataset(f"folder:{root}", (3, 8, 8))
    with pytest.raises(DataError) as caught:
        for name in ("train", "test"):
            split = dataset.split(name)
            for _ in batches(split, 4, torch.arange(len(split)), workers=workers, device="cpu"):
                pass
    message = str(caught.value)
    assert message.startswith(f"cannot read image {bad}: ") and "\n" not in message
