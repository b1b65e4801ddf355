"""``genkit data download``: fetch IDX datasets from their canonical mirrors, verified, atomically.

Each file is streamed into a temporary file beside its destination, verified against the checksum
table below, and only then renamed into place, so an interrupted or corrupt download never leaves a
file that looks complete. ``GENKIT_DATA_MIRROR`` replaces the mirror list with one base URL (``{name}``
in it becomes the dataset name); tests use it to serve files from 127.0.0.1. Only the standard
library is used.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import http.client
import os
import sys
import urllib.error
import urllib.request
import zlib
from pathlib import Path
from typing import TextIO

from genkit.data import locations
from genkit.data.download_progress import DownloadProgress
from genkit.errors import DataError
from genkit.files import atomic

CHUNK = 1 << 16
TIMEOUT_S = 60


@dataclasses.dataclass(frozen=True)
class RemoteFile:
    """One published file and what it must hash to.

    ``md5`` is the digest of the file exactly as the mirrors publish it. ``content_sha256`` is the
    digest of its decompressed IDX bytes: it still matches when a mirror or a distribution packs the
    same data with different gzip settings (Debian's copy of Fashion-MNIST is such a repack).
    Either match is enough; both are pinned.
    """

    filename: str
    md5: str | None = None
    content_sha256: str | None = None


@dataclasses.dataclass(frozen=True)
class RemoteDataset:
    name: str
    mirrors: tuple[str, ...]
    files: tuple[RemoteFile, ...]
    system_package: str | None = None


REMOTE_DATASETS: dict[str, RemoteDataset] = {
    "fashion-mnist": RemoteDataset(
        "fashion-mnist",
        ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        (
            RemoteFile("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
                       "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"),
            RemoteFile("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe",
                       "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"),
            RemoteFile("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79",
                       "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"),
            RemoteFile("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310",
                       "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"),
        ),
        system_package="dataset-fashion-mnist",
    ),
    "mnist": RemoteDataset(
        "mnist",
        ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"),
        (
            RemoteFile("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
            RemoteFile("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
            RemoteFile("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
            RemoteFile("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"),
        ),
    ),
}


def remote(name: str) -> RemoteDataset:
    if name not in REMOTE_DATASETS:
        raise DataError(f"genkit knows no download for dataset {name!r}; downloadable: "
                        f"{', '.join(sorted(REMOTE_DATASETS))}")
    return REMOTE_DATASETS[name]


def how_to_get(name: str) -> str:
    """The hint that ends a 'dataset not found' error."""
    text = f"Get it with `genkit data download {name}`"
    package = REMOTE_DATASETS[name].system_package if name in REMOTE_DATASETS else None
    if package:
        text += f" or `apt-get install {package}`"
    return text + ", or put the IDX files in $GENKIT_DATA/" + name + "/."


def mirrors(dataset: RemoteDataset) -> list[str]:
    override = os.environ.get("GENKIT_DATA_MIRROR", "").strip()
    bases = [override.replace("{name}", dataset.name)] if override else list(dataset.mirrors)
    return [base if base.endswith("/") else base + "/" for base in bases]


def verify(path: Path, expected: RemoteFile) -> str | None:
    """``None`` when ``path`` matches one of ``expected``'s checksums, else what is wrong (one phrase)."""
    data = path.read_bytes()  # at most a few tens of MB
    md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
    if expected.md5 and md5 == expected.md5:
        return None
    if expected.content_sha256 and data[:2] == b"\x1f\x8b":
        try:
            content = gzip.decompress(data)
        except (OSError, EOFError, zlib.error):
            content = None
        if content is not None and hashlib.sha256(content).hexdigest() == expected.content_sha256:
            return None
    wanted = f"md5 {expected.md5}" if expected.md5 else f"content sha256 {expected.content_sha256}"
    return f"checksum mismatch (md5 {md5}, expected {wanted})"


def _network_reason(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        reason = exc.reason
        return getattr(reason, "strerror", None) or str(reason)
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


class _MirrorFailed(Exception):
    """One mirror did not deliver the file intact; the message says which and why."""


def _fetch(url: str, target: Path, expected: RemoteFile, stream: TextIO | None) -> str | None:
    """Download ``url`` to ``target`` through an atomic write; ``None`` on success, else the mirror's failure.

    A network failure or a checksum mismatch is the mirror's (the next one is tried); a failure to
    write is the disk's and raises ``WriteError``.
    """
    progress = None
    try:
        with atomic.atomic_path(target) as tmp:
            with open(tmp, "wb") as out, _open_url(url) as response:
                length = response.headers.get("Content-Length")
                progress = DownloadProgress(expected.filename, int(length) if length else None, stream, url)
                while chunk := _read(response, url):
                    out.write(chunk)
                    progress.update(len(chunk))
            problem = verify(tmp, expected)
            if problem:
                raise _MirrorFailed(f"{url}: {problem}")
    except _MirrorFailed as failure:
        if progress:
            progress.fail()
        return str(failure)
    progress.finish("checksum ok")
    return None


def _open_url(url: str):
    try:
        return urllib.request.urlopen(url, timeout=TIMEOUT_S)
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
        # ValueError: a malformed GENKIT_DATA_MIRROR ("unknown url type")
        raise _MirrorFailed(f"{url}: {_network_reason(exc)}") from None


def _read(response, url: str) -> bytes:
    try:
        return response.read(CHUNK)
    except (http.client.HTTPException, OSError) as exc:
        raise _MirrorFailed(f"{url}: {_network_reason(exc)}") from None


def _say(stream: TextIO | None, line: str) -> None:
    print(line, file=stream if stream is not None else sys.stderr, flush=True)


def _alternatives(dataset: RemoteDataset) -> str:
    text = "No partial file was kept; retry, or set GENKIT_DATA_MIRROR to another mirror's base URL"
    if dataset.system_package:
        text += f", or `apt-get install {dataset.system_package}`"
    return text + "."


def download(name: str, root: Path | None = None, force: bool = False, stream: TextIO | None = None) -> Path:
    """Download dataset ``name`` into ``root/name`` (default: the user cache) and return that folder.

    Files already there that pass verification are kept unless ``force``. A file no mirror could
    deliver intact raises one ``DataError`` line listing each mirror's failure; a file that did not
    verify is never left behind.
    """
    dataset = remote(name)
    directory = (Path(root).expanduser() / name) if root else locations.cache_dir(name)
    with atomic.reported(directory), atomic.new_folders(directory):
        for expected in dataset.files:
            target = directory / expected.filename
            if target.exists() and not force and verify(target, expected) is None:
                _say(stream, f"{expected.filename}: already there, checksum ok")
                continue
            failures = []
            for base in mirrors(dataset):
                failure = _fetch(base + expected.filename, target, expected, stream)
                if failure is None:
                    break
                failures.append(failure)
            else:
                raise DataError(f"cannot download {name} file {expected.filename}: {'; '.join(failures)}. "
                                f"{_alternatives(dataset)}")
    return directory
