"""``genkit data download`` logic against a local HTTP mirror: verified, atomic, one-line failures."""

from __future__ import annotations

import gzip
import hashlib
import io

import pytest

from genkit.data import download, load_dataset, locations
from genkit.data.download import RemoteDataset, RemoteFile
from genkit.data.download_progress import DownloadProgress
from genkit.errors import DataError

FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
         "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


@pytest.fixture
def mirror(http_mirror, idx_tools, monkeypatch, no_system_data):
    """Synthetic fashion-mnist files on the local server, with their real MD5s in the checksum table."""
    root, url, requests = http_mirror
    idx_tools.dataset(root, n_train=12, n_test=6)
    files = tuple(RemoteFile(name, hashlib.md5((root / name).read_bytes()).hexdigest()) for name in FILES)
    table = {"fashion-mnist": RemoteDataset("fashion-mnist", ("http://unused.invalid/",), files,
                                            "dataset-fashion-mnist")}
    monkeypatch.setattr(download, "REMOTE_DATASETS", table)
    monkeypatch.setenv("GENKIT_DATA_MIRROR", url)
    return root, url, requests


def _leftovers():
    folder = locations.cache_root()
    return sorted(p.name for p in folder.rglob("*")) if folder.exists() else []


def test_download_fills_the_cache_and_the_dataset_loads(mirror):
    root, url, requests = mirror
    log = io.StringIO()
    folder = download.download("fashion-mnist", stream=log)
    assert folder == locations.cache_dir("fashion-mnist")
    assert sorted(p.name for p in folder.iterdir()) == sorted(FILES)
    assert all((folder / name).read_bytes() == (root / name).read_bytes() for name in FILES)
    assert sorted(requests) == sorted(f"/{name}" for name in FILES)
    assert "downloading train-images-idx3-ubyte.gz" in log.getvalue() and "checksum ok" in log.getvalue()
    dataset = load_dataset("fashion-mnist", (1, 28, 28))
    assert dataset.location == str(folder) and len(dataset.split("train")) == 12


def test_verified_files_are_kept_unless_forced(mirror):
    _, _, requests = mirror
    download.download("fashion-mnist", stream=io.StringIO())
    requests.clear()
    log = io.StringIO()
    download.download("fashion-mnist", stream=log)
    assert requests == [] and log.getvalue().count("already there, checksum ok") == 4
    download.download("fashion-mnist", force=True, stream=io.StringIO())
    assert len(requests) == 4


def test_a_corrupt_cached_file_is_fetched_again(mirror):
    root, _, requests = mirror
    folder = download.download("fashion-mnist", stream=io.StringIO())
    (folder / FILES[0]).write_bytes(b"junk")
    requests.clear()
    download.download("fashion-mnist", stream=io.StringIO())
    assert requests == [f"/{FILES[0]}"]
    assert (folder / FILES[0]).read_bytes() == (root / FILES[0]).read_bytes()


def test_dir_option_writes_under_root_slash_name(mirror, tmp_path, monkeypatch):
    folder = download.download("fashion-mnist", tmp_path / "data", stream=io.StringIO())
    assert folder == tmp_path / "data" / "fashion-mnist"
    monkeypatch.setenv("GENKIT_DATA", str(tmp_path / "data"))
    assert load_dataset("fashion-mnist", (1, 28, 28)).location == str(folder)


def test_checksum_mismatch_leaves_nothing_behind(mirror, monkeypatch):
    bad = download.REMOTE_DATASETS["fashion-mnist"]
    files = (RemoteFile(FILES[0], "0" * 32), *bad.files[1:])
    monkeypatch.setitem(download.REMOTE_DATASETS, "fashion-mnist",
                        RemoteDataset("fashion-mnist", bad.mirrors, files, bad.system_package))
    with pytest.raises(DataError) as caught:
        download.download("fashion-mnist", stream=io.StringIO())
    message = str(caught.value)
    assert "\n" not in message
    assert f"cannot download fashion-mnist file {FILES[0]}" in message
    assert "checksum mismatch" in message and "expected md5 " + "0" * 32 in message
    assert _leftovers() == []


def test_unreachable_mirror_is_one_clear_line(mirror, monkeypatch, closed_port_url):
    monkeypatch.setenv("GENKIT_DATA_MIRROR", closed_port_url)
    with pytest.raises(DataError) as caught:
        download.download("fashion-mnist", stream=io.StringIO())
    message = str(caught.value)
    assert "\n" not in message
    assert f"{closed_port_url}{FILES[0]}: " in message and "refused" in message.lower()
    assert "apt-get install dataset-fashion-mnist" in message
    assert _leftovers() == []


def test_http_error_is_reported(mirror):
    root, url, _ = mirror
    (root / FILES[2]).unlink()
    with pytest.raises(DataError, match=f"{url}{FILES[2]}: HTTP 404"):
        download.download("fashion-mnist", stream=io.StringIO())
    # the files before it were verified and stay; no partial file of it does
    assert _leftovers() == sorted(["fashion-mnist", FILES[0], FILES[1]])


def test_next_mirror_is_tried_after_a_failure(mirror, monkeypatch, closed_port_url):
    _, url, requests = mirror
    table = download.REMOTE_DATASETS["fashion-mnist"]
    monkeypatch.setitem(download.REMOTE_DATASETS, "fashion-mnist",
                        RemoteDataset("fashion-mnist", (closed_port_url, url), table.files))
    monkeypatch.delenv("GENKIT_DATA_MIRROR")
    download.download("fashion-mnist", stream=io.StringIO())
    assert len(requests) == 4


def test_repacked_gzip_passes_by_content_digest(mirror, monkeypatch):
    root, _, _ = mirror
    table = download.REMOTE_DATASETS["fashion-mnist"]
    content = gzip.decompress((root / FILES[0]).read_bytes())
    (root / FILES[0]).write_bytes(gzip.compress(content, compresslevel=1, mtime=12345))  # same data, new bytes
    files = (RemoteFile(FILES[0], table.files[0].md5, hashlib.sha256(content).hexdigest()), *table.files[1:])
    monkeypatch.setitem(download.REMOTE_DATASETS, "fashion-mnist",
                        RemoteDataset("fashion-mnist", table.mirrors, files))
    log = io.StringIO()
    folder = download.download("fashion-mnist", stream=log)
    # accepted although its md5 differs, because the decompressed content has the pinned digest
    assert (folder / FILES[0]).read_bytes() == (root / FILES[0]).read_bytes()
    assert hashlib.md5((folder / FILES[0]).read_bytes()).hexdigest() != table.files[0].md5
    assert "checksum ok" in log.getvalue()


def test_mirror_override_substitutes_the_name(monkeypatch):
    monkeypatch.setenv("GENKIT_DATA_MIRROR", "http://127.0.0.1:9/{name}")
    assert download.mirrors(download.REMOTE_DATASETS["mnist"]) == ["http://127.0.0.1:9/mnist/"]
    monkeypatch.delenv("GENKIT_DATA_MIRROR")
    assert download.mirrors(download.REMOTE_DATASETS["mnist"])[0] == "https://ossci-datasets.s3.amazonaws.com/mnist/"


def test_malformed_mirror_is_one_line(mirror, monkeypatch):
    monkeypatch.setenv("GENKIT_DATA_MIRROR", "not-a-url")
    with pytest.raises(DataError, match="not-a-url/train-images-idx3-ubyte.gz: unknown url type"):
        download.download("fashion-mnist", stream=io.StringIO())


def test_progress_redraws_one_line_on_a_terminal():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    screen = Terminal()
    progress = DownloadProgress("file.gz", 2_000_000, screen, "http://127.0.0.1/file.gz")
    progress.update(1_000_000)
    progress.finish("checksum ok")
    assert "\r  file.gz  1.0 MB / 2.0 MB (50%)" in screen.getvalue()
    assert screen.getvalue().endswith("checksum ok\n")


def test_unknown_dataset_lists_the_downloadable_ones():
    with pytest.raises(DataError, match="no download for dataset 'cifar'; downloadable: fashion-mnist, mnist"):
        download.download("cifar")


def test_the_pinned_fashion_mnist_digests_match_debians_files():
    """The content digests in the table were taken from these files; keep them honest."""
    from pathlib import Path

    for expected in download.REMOTE_DATASETS["fashion-mnist"].files:
        assert download.verify(Path("/usr/share/datasets/fashion-mnist") / expected.filename, expected) is None
