"""Checks an exported graph must pass before it is written: structure, determinism, and numbers.

Structure: ``onnx.checker`` with full shape inference, the weights inside the file, no random node
(sampling belongs to the host, so the graphs stay deterministic and verifiable). Numbers: onnxruntime's
CPU provider against the torch module on the same batches, output by output.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import onnx

RANDOM_OPS = frozenset({"Bernoulli", "Multinomial"})


class VerificationFailure(Exception):
    """A graph that does not pass; the message says what differs."""


def check_structure(model: onnx.ModelProto) -> None:
    try:
        onnx.checker.check_model(model, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        raise VerificationFailure(f"onnx.checker rejects the graph: {_first_line(exc)}") from None
    external = [t.name for t in model.graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL]
    if external:
        raise VerificationFailure(f"weights {', '.join(external[:3])} are stored outside the graph file")
    random = sorted({node.op_type for node in all_nodes(model) if is_random(node)})
    if random:
        raise VerificationFailure(f"the graph contains random operators ({', '.join(random)}); sampling must "
                                  f"stay outside the exported graphs")


def is_random(node: onnx.NodeProto) -> bool:
    if node.op_type.startswith("Random") or node.op_type in RANDOM_OPS:
        return True
    # Dropout is an identity at inference unless its training_mode input is wired.
    return node.op_type == "Dropout" and len(node.input) > 2 and bool(node.input[2])


def all_nodes(model: onnx.ModelProto) -> Iterable[onnx.NodeProto]:
    """Every node of the main graph, its subgraphs (If/Loop/Scan bodies) and local functions."""
    stack = [list(model.graph.node)] + [list(f.node) for f in model.functions]
    while stack:
        for node in stack.pop():
            yield node
            for attribute in node.attribute:
                if attribute.g.node:
                    stack.append(list(attribute.g.node))
                stack.extend(list(g.node) for g in attribute.graphs)


Feeds = dict[str, np.ndarray]  # one batch: input name -> array


def max_difference(run: Callable[[Feeds], dict[str, np.ndarray]], reference: Callable[[Feeds], dict[str, np.ndarray]],
                   batches: Iterable[Feeds]) -> float:
    """The largest absolute difference between ``run`` and ``reference`` over all batches and outputs.

    Output names and shapes must agree exactly; a non-finite value in either counts as infinite.
    """
    worst = 0.0
    for feeds in batches:
        got, want = run(feeds), reference(feeds)
        if list(got) != list(want):
            raise VerificationFailure(f"the graph's outputs are {list(got)}, the torch module's {list(want)}")
        for name, expected in want.items():
            actual = got[name]
            if actual.shape != expected.shape:
                raise VerificationFailure(f"output {name!r} has shape {actual.shape} for a batch of "
                                          f"{len(next(iter(feeds.values())))}; the torch module gives {expected.shape}")
            difference = np.abs(actual.astype(np.float64) - expected.astype(np.float64))
            worst = max(worst, float(difference.max()) if np.isfinite(difference).all() else float("inf"))
    return worst


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return (lines[0] if lines else type(exc).__name__)[:240]
