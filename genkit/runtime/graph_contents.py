"""The operators and weight types of an ONNX file, read from its bytes without the ``onnx`` package.

The runtime stays light (numpy and onnxruntime; onnxruntime does not show a graph's nodes or
initialisers), so this reads the few fields it needs straight from the protobuf wire format:
``ModelProto.graph`` (7) -> ``GraphProto.node`` (1) -> ``NodeProto.op_type`` (4), and
``GraphProto.initializer`` (5) -> ``TensorProto.data_type`` (2). Everything else, weights included, is
skipped by its length, so a file of any size costs one pass over its field headers.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

VARINT, FIXED64, LENGTH, FIXED32 = 0, 1, 2, 5
MODEL_GRAPH, GRAPH_NODE, GRAPH_INITIALIZER, NODE_OP_TYPE, TENSOR_DATA_TYPE = 7, 1, 5, 4, 2


class MalformedGraph(ValueError):
    """The bytes are not a protobuf message of the expected shape."""


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise MalformedGraph("a truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def _fields(data: bytes, start: int, end: int) -> Iterator[tuple[int, int, int | tuple[int, int]]]:
    """(field number, wire type, value) of a message in ``data[start:end]``: an int, or a (start, end) span."""
    pos = start
    while pos < end:
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == VARINT:
            value, pos = _varint(data, pos)
            yield number, wire, value
        elif wire == LENGTH:
            size, pos = _varint(data, pos)
            if pos + size > end:
                raise MalformedGraph("a field runs past its message")
            yield number, wire, (pos, pos + size)
            pos += size
        elif wire in (FIXED64, FIXED32):
            pos += 8 if wire == FIXED64 else 4
        else:
            raise MalformedGraph(f"wire type {wire}")


def graph_contents(path: str | Path) -> tuple[set[str], set[int]]:
    """The op types of the main graph's nodes and the ``TensorProto`` data types of its initialisers."""
    data = Path(path).read_bytes()
    graph = next((value for number, wire, value in _fields(data, 0, len(data))
                  if number == MODEL_GRAPH and wire == LENGTH), None)
    if graph is None:
        raise MalformedGraph("no graph")
    ops: set[str] = set()
    types: set[int] = set()
    for number, wire, value in _fields(data, *graph):
        if wire != LENGTH:
            continue
        if number == GRAPH_NODE:
            ops.update(data[s:e].decode("utf-8", "replace") for n, w, (s, e) in _spans(data, value, NODE_OP_TYPE))
        elif number == GRAPH_INITIALIZER:
            types.update(v for n, w, v in _fields(data, *value) if n == TENSOR_DATA_TYPE and w == VARINT)
    return ops, types


def _spans(data: bytes, message: tuple[int, int], field: int) -> Iterator[tuple[int, int, tuple[int, int]]]:
    return ((n, w, v) for n, w, v in _fields(data, *message) if n == field and w == LENGTH)
