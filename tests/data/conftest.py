"""Fixtures for the data-layer tests: an isolated data environment, IDX writers, a local HTTP mirror."""

from __future__ import annotations

import functools
import gzip
import http.server
import threading
import types
from pathlib import Path

import numpy as np
import pytest

from genkit.data import locations

IDX_STEMS = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


@pytest.fixture(autouse=True)
def isolated_data_env(tmp_path, monkeypatch):
    """No test reads the user's cache or $GENKIT_DATA, or reaches a real mirror."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.delenv("GENKIT_DATA", raising=False)
    monkeypatch.delenv("GENKIT_DATA_MIRROR", raising=False)


@pytest.fixture
def no_system_data(tmp_path, monkeypatch) -> Path:
    """Point the system dataset folder (/usr/share/datasets) at an empty temporary one."""
    system = tmp_path / "system-datasets"
    system.mkdir()
    monkeypatch.setattr(locations, "SYSTEM_DIRS", (system,))
    return system


def idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def write_idx(path: Path, array: np.ndarray, gz: bool = True) -> Path:
    """Write ``array`` (uint8) as an IDX file, gzipped to ``path.gz`` when ``gz``."""
    data = idx_bytes(array)
    if gz:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(data, mtime=0))
    else:
        path.write_bytes(data)
    return path


def synthetic_idx(directory: Path, n_train: int = 20, n_test: int = 10, size: int = 28, gz: bool = True,
                  seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Four MNIST-style IDX files of random images and labels 0..9 in ``directory``; returns the arrays."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for split, count in (("train", n_train), ("test", n_test)):
        images = rng.integers(0, 256, (count, size, size), dtype=np.uint8)
        labels = rng.integers(0, 10, count, dtype=np.uint8)
        write_idx(directory / IDX_STEMS[split][0], images, gz)
        write_idx(directory / IDX_STEMS[split][1], labels, gz)
        arrays[split] = (images, labels)
    return arrays


@pytest.fixture
def idx_tools():
    """``.bytes(array)``, ``.write(path, array, gz)`` and ``.dataset(directory, ...)`` from above."""
    return types.SimpleNamespace(bytes=idx_bytes, write=write_idx, dataset=synthetic_idx)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output clean
        pass


@pytest.fixture
def http_mirror(tmp_path):
    """A local HTTP server over a temporary folder: yields (folder, base URL, list of requested paths)."""
    root = tmp_path / "mirror"
    root.mkdir()
    requests: list[str] = []

    class Handler(_QuietHandler):
        def do_GET(self):
            requests.append(self.path)
            super().do_GET()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}/", requests
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (connection refused at once)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"
