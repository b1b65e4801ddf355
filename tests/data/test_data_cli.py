"""``genkit data info`` and ``genkit data download`` through the CLI: exit codes and one-line errors."""

from __future__ import annotations

import hashlib

from click.testing import CliRunner
from PIL import Image

from genkit.cli import cli
from genkit.data import download
from genkit.data.download import RemoteDataset, RemoteFile


def run(*args):
    return CliRunner().invoke(cli, list(args))


def error_lines(result):
    return [line for line in result.output.splitlines() if line.startswith("Error")]


def test_info_fashion_mnist():
    result = run("data", "info", "fashion-mnist")
    assert result.exit_code == 0, result.output
    assert "location: /usr/share/datasets/fashion-mnist" in result.output
    assert "train:    60000 images (in memory)" in result.output
    assert "test:     10000 images (in memory)" in result.output
    assert "shape:    1×28×28" in result.output
    assert "Ankle boot" in result.output
    assert "checksum: 6e1b8248a371b684" in result.output


def test_info_missing_dataset_is_one_line(no_system_data):
    result = run("data", "info", "mnist")
    assert result.exit_code == 1
    assert result.output.strip().count("\n") == 0
    assert result.output.startswith("Error: dataset mnist not found") and "Traceback" not in result.output


def test_info_folder_with_shape(tmp_path):
    for cls in ("a", "b"):
        (tmp_path / cls).mkdir()
        for i in range(6):
            Image.new("RGB", (9, 7)).save(tmp_path / cls / f"{i}.png")
    result = run("data", "info", f"folder:{tmp_path}", "--shape", "3,8,8")
    assert result.exit_code == 0, result.output
    assert "shape:    3×8×8" in result.output and "(read lazily)" in result.output
    assert "classes:  2: a, b" in result.output
    native = run("data", "info", f"folder:{tmp_path}")
    assert "shape:    3×7×9" in native.output


def test_info_bad_shape_option():
    result = run("data", "info", "fashion-mnist", "--shape", "3x64")
    assert result.exit_code == 2 and "expected C,H,W" in result.output


def test_info_wrong_shape_is_one_line():
    result = run("data", "info", "fashion-mnist", "--shape", "3,64,64")
    assert result.exit_code == 1 and len(error_lines(result)) == 1
    assert "recipe expects 3×64×64" in result.output


def _serve_fashion_mnist(http_mirror, idx_tools, monkeypatch, md5=None):
    root, url, _ = http_mirror
    idx_tools.dataset(root, n_train=4, n_test=2)
    names = [p.name for p in sorted(root.iterdir())]
    files = tuple(RemoteFile(n, md5 or hashlib.md5((root / n).read_bytes()).hexdigest()) for n in names)
    monkeypatch.setitem(download.REMOTE_DATASETS, "fashion-mnist", RemoteDataset("fashion-mnist", (url,), files))
    return url


def test_download_command(http_mirror, idx_tools, monkeypatch, tmp_path):
    _serve_fashion_mnist(http_mirror, idx_tools, monkeypatch)
    result = run("data", "download", "fashion-mnist", "--dir", str(tmp_path / "root"))
    assert result.exit_code == 0, result.output
    assert f"fashion-mnist is in {tmp_path / 'root' / 'fashion-mnist'}" in result.output
    assert len(list((tmp_path / "root" / "fashion-mnist").iterdir())) == 4


def test_download_checksum_mismatch_exits_non_zero(http_mirror, idx_tools, monkeypatch, tmp_path):
    _serve_fashion_mnist(http_mirror, idx_tools, monkeypatch, md5="f" * 32)
    result = run("data", "download", "fashion-mnist", "--dir", str(tmp_path / "root"))
    assert result.exit_code == 1
    assert len(error_lines(result)) == 1 and "checksum mismatch" in error_lines(result)[0]
    assert not (tmp_path / "root" / "fashion-mnist").exists()


def test_download_unreachable_exits_non_zero(monkeypatch, closed_port_url):
    monkeypatch.setenv("GENKIT_DATA_MIRROR", closed_port_url)
    result = run("data", "download", "mnist")
    assert result.exit_code == 1
    assert len(error_lines(result)) == 1 and closed_port_url in error_lines(result)[0]


def test_download_unknown_name():
    result = run("data", "download", "imagenet")
    assert result.exit_code == 1 and "downloadable: fashion-mnist, mnist" in result.output
