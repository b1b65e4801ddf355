"""The export contract: what an export folder holds, what each graph takes and gives, and its metadata.

One neutral, torch-free package that both sides import: ``genkit.onnx`` writes exports by it and
``genkit.runtime`` reads them by it, so neither can drift from the other. ``metadata`` is the schema of
the metadata every graph carries; ``priors`` checks the prior descriptions in it.

An export folder::

    encoder.onnx   images (N, C, H, W) float32 in [0, 1] [, labels (N,) int64]
                   -> every encoder parameter by name, then latent (N, *latent_shape): the sampler's
                      deterministic code, so encoding never needs to know the sampler
    decoder.onnx   z (N, *latent_shape) float32 [, labels (N,) int64] -> images (N, C, H, W) in [0, 1]
    prior.onnx     only for a network prior: codes (N, *grid) int64 -> logits (N, M, *grid) float32

``labels`` is an input of both the encoder and the decoder graph exactly when the model is
conditional (metadata ``condition`` is ``{"classes": K}``); the batch axis of every input and output
is dynamic.

A generator-only model (no encoder: it decodes points drawn from its prior) exports no encoder.onnx;
its metadata says so with an empty ``encoder_outputs``.
"""

from __future__ import annotations

import os
from pathlib import Path

FORMAT_VERSION = 2
PREFIX = "genkit."  # every metadata key starts with it
EXPORTERS = ("dynamo", "torchscript")  # the values of exporter.name, in the order export tries them
DEFAULT_OPSET = 20  # supported by both exporters and by onnxruntime 1.17 and later
VALUE_RANGE = (0.0, 1.0)  # pixels of the encoder's input and the decoder's output

ENCODER, DECODER, PRIOR = "encoder", "decoder", "prior"
GRAPH_FILES = {ENCODER: "encoder.onnx", DECODER: "decoder.onnx", PRIOR: "prior.onnx"}

# graph input and output names
IMAGES = "images"  # encoder input, decoder output
LABELS = "labels"  # the condition: second input of encoder and decoder in a conditional export
LATENT = "latent"  # the encoder graph's last output: the deterministic code
Z = "z"  # decoder input
CODES = "codes"  # prior graph input
LOGITS = "logits"  # prior graph output

NETWORK_FAMILY = "network"  # the one prior family that brings a graph of its own


def graphs_of(prior_family: str, encoder: bool = True) -> tuple[str, ...]:
    """The graphs an export of a model with this prior family holds (no encoder graph for a generator-only one)."""
    graphs = (ENCODER, DECODER) if encoder else (DECODER,)
    return (*graphs, PRIOR) if prior_family == NETWORK_FAMILY else graphs


def graph_inputs(graph: str, conditional: bool) -> tuple[str, ...]:
    """The input names of ``graph``, in order."""
    first = {ENCODER: IMAGES, DECODER: Z, PRIOR: CODES}[graph]
    return (first, LABELS) if conditional and graph != PRIOR else (first,)


def is_export_dir(path: str | os.PathLike) -> bool:
    """True when ``path`` is a folder holding the encoder or decoder graph (a complete export or not)."""
    path = Path(path)
    return path.is_dir() and any((path / GRAPH_FILES[g]).is_file() for g in (ENCODER, DECODER))
