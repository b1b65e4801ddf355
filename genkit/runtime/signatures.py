"""Each graph's inputs and outputs must be the ones its metadata describes, by name, shape and type.

A graph swapped in from another export, or metadata edited by hand, is refused here with one line
instead of failing later inside onnxruntime with a shape error.
"""

from __future__ import annotations

from typing import Any

from genkit.errors import ExportError
from genkit.export_contract import CODES, DECODER, ENCODER, IMAGES, LABELS, LOGITS, PRIOR, Z
from genkit.export_contract.metadata import GraphMetadata

FLOAT, INT64 = "tensor(float)", "tensor(int64)"


def expected_signature(meta: GraphMetadata, graph: str) -> tuple[dict[str, tuple], dict[str, tuple]]:
    """``graph``'s inputs and outputs: name -> (shape without the batch axis, onnxruntime type)."""
    image = (list(meta.input_shape), FLOAT)
    labels = {LABELS: ([], INT64)} if meta.classes else {}
    if graph == ENCODER:
        return {IMAGES: image, **labels}, {name: (list(shape), FLOAT) for name, shape in meta.encoder_outputs}
    if graph == DECODER:
        return {Z: (list(meta.latent_shape), FLOAT), **labels}, {IMAGES: image}
    if graph == PRIOR:
        grid = list(meta.latent_shape[1:])
        return {CODES: (grid, INT64)}, {LOGITS: ([meta.prior["codes"], *grid], FLOAT)}
    raise ValueError(f"unknown graph {graph!r}")


def check_signature(session: Any, meta: GraphMetadata, graph: str) -> None:
    """``ExportError`` when ``session``'s graph does not have the signature ``meta`` describes."""
    inputs, outputs = expected_signature(meta, graph)
    for label, want, got in (("inputs", inputs, session.signature("inputs")),
                             ("outputs", outputs, session.signature("outputs"))):
        if list(want) != list(got) or any(not _matches(got[k], v) for k, v in want.items()):
            raise ExportError(f"{session.source}: the graph's {label} {_format(got)} do not match its metadata "
                              f"({_format({k: (['N', *s], t) for k, (s, t) in want.items()})}); "
                              f"export the run again")


def _matches(got: tuple[list, str], want: tuple[list[int], str]) -> bool:
    """``got`` is (batch, *want): a symbolic batch (any size), then ``want``'s sizes (or symbolic ones)."""
    (got_shape, got_type), (want_shape, want_type) = got, want
    return (got_type == want_type and len(got_shape) == len(want_shape) + 1 and not isinstance(got_shape[0], int)
            and all(not isinstance(g, int) or g == w for g, w in zip(got_shape[1:], want_shape)))


def _format(signature: dict[str, tuple[list, str]]) -> str:
    return ", ".join(f"{name} ({', '.join(str(d) for d in dims)}) {kind.removeprefix('tensor(').rstrip(')')}"
                     for name, (dims, kind) in signature.items())
