"""Shared fixtures: a small real-data npz dataset and quick training configurations."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

if os.environ.get("PYTEST_XDIST_WORKER"):
    # Two workers share the two cores: one thread each (the genkit processes the tests start inherit it),
    # since OpenMP threads that spin for a core another process holds slow both several-fold.
    os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import pytest

FASHION = Path("/usr/share/datasets/fashion-mnist")


def _read_idx(path: Path, count: int) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    array = np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims)
    return array[:count].copy()


@pytest.fixture(scope="session")
def small_npz(tmp_path_factory) -> Path:
    """512 training and 128 test images of real Fashion-MNIST as an npz file (fast to train on)."""
    path = tmp_path_factory.mktemp("data") / "fashion-small.npz"
    np.savez(path,
             x=_read_idx(FASHION / "train-images-idx3-ubyte.gz", 512),
             y=_read_idx(FASHION / "train-labels-idx1-ubyte.gz", 512),
             x_test=_read_idx(FASHION / "t10k-images-idx3-ubyte.gz", 128),
             y_test=_read_idx(FASHION / "t10k-labels-idx1-ubyte.gz", 128))
    return path


def quick_overrides(npz: Path, **extra) -> list[str]:
    """--set arguments for a seconds-long training run on ``npz``."""
    values = {"data.name": f'"npz:{npz}"', "data.workers": 0, "training.samples": 4, "training.threads": 1,
              "training.batch_size": 64, **extra}
    return [f"{k}={v}" for k, v in values.items()]
