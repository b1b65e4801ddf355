"""IDX parsing: raw and gzipped files, headers, and every kind of corrupt file named in one DataError."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from genkit.data import idx
from genkit.errors import DataError


@pytest.mark.parametrize("gz", [True, False])
def test_read_idx_round_trip(tmp_path, idx_tools, gz):
    images = np.arange(3 * 4 * 5, dtype=np.uint8).reshape(3, 4, 5)
    path = idx_tools.write(tmp_path / "images-idx3-ubyte", images, gz=gz)
    parsed = idx.read_idx(path, ndim=3)
    np.testing.assert_array_equal(parsed.array, images)
    assert parsed.array.dtype == np.uint8
    assert idx.read_idx_header(path, ndim=3).shape == (3, 4, 5)


def test_digest_is_the_same_for_gzipped_and_raw(tmp_path, idx_tools):
    labels = np.arange(10, dtype=np.uint8)
    raw = idx_tools.write(tmp_path / "raw", labels, gz=False)
    packed = idx_tools.write(tmp_path / "packed", labels, gz=True)
    assert idx.read_idx(raw).sha256 == idx.read_idx(packed).sha256 == idx.idx_digest(packed)


def test_gzip_is_recognised_by_content_not_name(tmp_path, idx_tools):
    labels = np.arange(7, dtype=np.uint8)
    path = tmp_path / "labels-idx1-ubyte"  # gzipped data without the .gz suffix
    path.write_bytes(gzip.compress(idx_tools.bytes(labels)))
    np.testing.assert_array_equal(idx.read_idx(path, ndim=1).array, labels)


def _corruptions(idx_tools):
    good = idx_tools.bytes(np.zeros((4, 3, 3), dtype=np.uint8))
    return {
        "empty": (b"", "too short"),
        "bad magic": (b"\x12\x34" + good[2:], "bad magic"),
        "unknown type": (good[:2] + b"\x07" + good[3:], "bad magic"),
        "truncated data": (good[:-5], "size mismatch"),
        "extra data": (good + b"\0\0", "size mismatch"),
        "truncated header": (good[:9], "header truncated"),
        "wrong dimensions": (idx_tools.bytes(np.zeros(36, dtype=np.uint8)), "wrong dimensions"),
        "truncated gzip": (gzip.compress(good)[:-20], "bad gzip"),
        "garbage gzip": (b"\x1f\x8b" + b"not really deflate data", "bad gzip"),
    }


@pytest.mark.parametrize("kind", ["empty", "bad magic", "unknown type", "truncated data", "extra data",
                                  "truncated header", "wrong dimensions", "truncated gzip", "garbage gzip"])
def test_corrupt_files_raise_data_error_naming_the_file(tmp_path, idx_tools, kind):
    data, problem = _corruptions(idx_tools)[kind]
    path = tmp_path / f"{kind.replace(' ', '-')}-idx3-ubyte.gz"
    path.write_bytes(data)
    with pytest.raises(DataError) as caught:
        idx.read_idx(path, ndim=3)
    message = str(caught.value)
    assert str(path) in message and problem in message
    assert "\n" not in message


def test_missing_file_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="cannot read IDX file"):
        idx.read_idx(tmp_path / "nope")
