"""The IDX file format of MNIST and Fashion-MNIST: a big-endian header, then one flat array.

Layout: two zero bytes, a type code, the number of dimensions n, then n big-endian uint32 sizes and
the data. Files may be gzipped; a gzip stream is recognised by its magic bytes, not by the file name,
so a decompressed file that kept its ``.gz`` name (or the reverse) still loads. Every problem is a
``DataError`` that names the file.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import zlib
from pathlib import Path

import numpy as np

from genkit.errors import DataError

GZIP_MAGIC = b"\x1f\x8b"
# type code -> big-endian numpy dtype
IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


@dataclasses.dataclass(frozen=True)
class IdxHeader:
    dtype: np.dtype
    shape: tuple[int, ...]

    @property
    def data_offset(self) -> int:
        return 4 + 4 * len(self.shape)

    @property
    def data_bytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize


@dataclasses.dataclass(frozen=True)
class IdxArray:
    """A parsed IDX file: its array and the SHA-256 of its decompressed bytes."""

    array: np.ndarray
    sha256: str


def _corrupt(path: Path, problem: str) -> DataError:
    return DataError(f"corrupt IDX file {path}: {problem}; delete it and run `genkit data download` again")


def _parse_header(path: Path, head: bytes, ndim: int | None) -> IdxHeader:
    if len(head) < 4:
        raise _corrupt(path, f"only {len(head)} bytes, too short for an IDX header")
    if head[:2] != b"\0\0" or head[2] not in IDX_TYPES or head[3] == 0:
        raise _corrupt(path, f"bad magic number 0x{head[:4].hex()} (not an IDX file)")
    dims = head[3]
    if len(head) < 4 + 4 * dims:
        raise _corrupt(path, f"header truncated ({len(head)} bytes for {dims} dimensions)")
    shape = tuple(int(v) for v in np.frombuffer(head, dtype=">u4", count=dims, offset=4))
    if ndim is not None and dims != ndim:
        raise _corrupt(path, f"wrong dimensions: expected {ndim}-dimensional data, found shape {shape}")
    return IdxHeader(np.dtype(IDX_TYPES[head[2]]), shape)


def _open(path: Path):
    """A binary file object over the IDX bytes, decompressing when the file is a gzip stream."""
    try:
        handle = open(path, "rb")
    except OSError as exc:
        raise DataError(f"cannot read IDX file {path}: {exc.strerror or exc}") from exc
    if handle.read(2) == GZIP_MAGIC:
        handle.seek(0)
        return gzip.GzipFile(fileobj=handle, mode="rb"), handle
    handle.seek(0)
    return handle, handle


def read_idx_header(path: Path | str, ndim: int | None = None) -> IdxHeader:
    """Read only the header (cheap even for a gzipped file): dtype and shape."""
    path = Path(path)
    stream, raw = _open(path)
    try:
        head = stream.read(4)
        if len(head) == 4 and head[:2] == b"\0\0":
            head += stream.read(4 * head[3])
    except (OSError, EOFError, zlib.error) as exc:
        raise _corrupt(path, f"bad gzip data ({exc})") from exc
    finally:
        stream.close()
        raw.close()
    return _parse_header(path, head, ndim)


def _read_bytes(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read IDX file {path}: {exc.strerror or exc}") from exc
    if data[:2] == GZIP_MAGIC:
        try:
            # One call into zlib: much faster than reading a GzipFile in chunks.
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise _corrupt(path, f"bad gzip data ({exc})") from exc
    return data


def read_idx(path: Path | str, ndim: int | None = None) -> IdxArray:
    """Parse a whole IDX file into a read-only numpy array (no copy of the decompressed bytes)."""
    path = Path(path)
    data = _read_bytes(path)
    header = _parse_header(path, data[:4 + 4 * data[3]] if len(data) >= 4 else data, ndim)
    found = len(data) - header.data_offset
    if found != header.data_bytes:
        shape = "×".join(str(d) for d in header.shape)
        raise _corrupt(path, f"size mismatch: the header announces {shape} items ({header.data_bytes} bytes) "
                             f"but the file holds {found} bytes of data")
    array = np.frombuffer(data, dtype=header.dtype, offset=header.data_offset).reshape(header.shape)
    return IdxArray(array, hashlib.sha256(data).hexdigest())


def idx_digest(path: Path | str) -> str:
    """SHA-256 of the decompressed IDX bytes: the same for a file however it was compressed."""
    return hashlib.sha256(_read_bytes(Path(path))).hexdigest()
