"""Where named datasets are looked for, in order, and the one error when none holds them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from genkit.data import load_dataset, locations
from genkit.errors import DataError


def test_search_order_is_genkit_data_then_cache_then_system(tmp_path, monkeypatch, no_system_data):
    monkeypatch.setenv("GENKIT_DATA", str(tmp_path / "mine"))
    assert locations.search_dirs("mnist") == [
        tmp_path / "mine" / "mnist",
        tmp_path / "xdg-cache" / "genkit" / "datasets" / "mnist",
        no_system_data / "mnist",
    ]


def test_cache_defaults_to_home_dot_cache(tmp_path, monkeypatch):
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert locations.cache_dir("mnist") == tmp_path / ".cache" / "genkit" / "datasets" / "mnist"


def test_system_folder_is_debians():
    assert locations.SYSTEM_DIRS == (Path("/usr/share/datasets"),)


@pytest.mark.parametrize("winner", ["genkit_data", "cache", "system"])
def test_first_complete_folder_wins(tmp_path, monkeypatch, no_system_data, idx_tools, winner):
    monkeypatch.setenv("GENKIT_DATA", str(tmp_path / "mine"))
    folders = {"genkit_data": tmp_path / "mine" / "mnist", "cache": locations.cache_dir("mnist"),
               "system": no_system_data / "mnist"}
    order = list(folders)
    for seed, name in enumerate(order[order.index(winner):]):
        idx_tools.dataset(folders[name], n_train=5 + seed, n_test=2)  # sizes tell the folders apart
    dataset = load_dataset("mnist", (1, 28, 28))
    assert dataset.location == str(folders[winner])
    assert len(dataset.split("train")) == 5


def test_incomplete_folder_is_skipped_and_reported(tmp_path, monkeypatch, no_system_data, idx_tools):
    monkeypatch.setenv("GENKIT_DATA", str(tmp_path / "mine"))
    partial = tmp_path / "mine" / "mnist"
    idx_tools.dataset(partial)
    (partial / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match=r"incomplete: no t10k-labels-idx1-ubyte"):
        load_dataset("mnist", (1, 28, 28))
    idx_tools.dataset(no_system_data / "mnist", n_train=3)
    assert load_dataset("mnist", (1, 28, 28)).location == str(no_system_data / "mnist")


def test_raw_and_gzipped_files_mix(no_system_data, idx_tools):
    folder = locations.cache_dir("mnist")
    arrays = idx_tools.dataset(folder, gz=False)
    raw = folder / "train-images-idx3-ubyte"
    raw.unlink()
    idx_tools.write(raw, arrays["train"][0], gz=True)
    train = load_dataset("mnist", (1, 28, 28)).split("train")
    assert len(train) == 20
    np.testing.assert_array_equal((train.images[:, 0] * 255).round().byte().numpy(), arrays["train"][0])


def test_missing_dataset_is_one_error_saying_where_and_how(no_system_data):
    with pytest.raises(DataError) as caught:
        load_dataset("fashion-mnist", (1, 28, 28))
    message = str(caught.value)
    assert "\n" not in message
    assert "dataset fashion-mnist not found" in message
    assert "GENKIT_DATA not set" in message
    assert str(locations.cache_dir("fashion-mnist")) in message
    assert str(no_system_data / "fashion-mnist") in message
    assert "genkit data download fashion-mnist" in message
    assert "apt-get install dataset-fashion-mnist" in message


def test_missing_mnist_suggests_download_only(no_system_data):
    with pytest.raises(DataError) as caught:
        load_dataset("mnist", (1, 28, 28))
    assert "genkit data download mnist" in str(caught.value)
    assert "apt-get" not in str(caught.value)
