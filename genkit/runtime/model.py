"""ExportedModel: an export folder run by onnxruntime, numpy in and numpy out, without torch."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from genkit.errors import ExportError
from genkit.export_contract import (
    CODES,
    DECODER,
    ENCODER,
    GRAPH_FILES,
    IMAGES,
    LABELS,
    LATENT,
    LOGITS,
    PRIOR,
    Z,
)
from genkit.export_contract.metadata import GraphMetadata, check_same_export, from_props
from genkit.runtime.batch_parallel import BatchParallelSession
from genkit.runtime.inputs import InputError, check_count, check_images, check_labels, check_latents
from genkit.runtime.integrity import check_encoder_file, check_export
from genkit.runtime.prior import HostPrior
from genkit.runtime.sessions import SPINNING, GraphSession
from genkit.runtime.signatures import check_signature
from genkit.runtime.variants import FP32, choose, runs_on_cuda, variant_file


class ExportedModel:
    """The graphs of one export folder, checked against their metadata.

    ``provider`` is ``"cpu"``, ``"cuda"`` (an error where onnxruntime cannot run CUDA) or ``"auto"``
    (CUDA where it works, else CPU); ``threads`` sets onnxruntime's intra-op threads (0: its default).
    Batches larger than ``batch_size`` are run in chunks. Images are float32 (N, C, H, W) in [0, 1];
    latent points float32 (N, *latent_shape); a conditional export (``classes`` > 0) takes ``labels``,
    int64 (N,) in [0, classes) or one int for every row, wherever it encodes or decodes.

    ``precision`` picks the files that run the encoder and decoder (``genkit.runtime.variants``):
    ``"fp32"``, ``"fp16"``, ``"int8"`` or ``"auto"`` (int8 on the CPU, fp16 on CUDA, per graph where
    written); ``precisions`` says what each graph runs in. ``parallel="auto"`` runs large CPU batches
    as shards on single-threaded sessions (``genkit.runtime.batch_parallel``), ``"ops"`` in one
    session; ``spinning`` lets onnxruntime's idle threads spin (``sessions.SPINNING``).

    The export of a generator-only model (``generator_only``) has no encoder graph: it generates,
    decodes and samples its prior, and ``encode``, ``codes`` and ``reconstruct`` raise ``ExportError``.
    """

    def __init__(self, path: str | os.PathLike, provider: str = "auto", threads: int = 0, *,
                 batch_size: int = 512, optimization: str = "all", io_binding: str = "auto",
                 precision: str = FP32, parallel: str = "auto", spinning: bool = SPINNING):
        self.path = Path(path)
        if not self.path.is_dir():
            raise ExportError(f"export folder {self.path} does not exist (write one with `genkit export --onnx RUN`)")
        # The files say which graphs to open; the decoder's metadata then says which the export must hold, so a
        # missing encoder.onnx is an incomplete export unless the export is of a generator-only model.
        has_encoder = (self.path / GRAPH_FILES[ENCODER]).is_file()
        if not (self.path / GRAPH_FILES[DECODER]).is_file():
            self._require(ENCODER, DECODER)
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ExportError(f"batch_size must be a positive integer; got {batch_size!r}")
        self.batch_size = batch_size
        opened = (ENCODER, DECODER) if has_encoder else (DECODER,)
        self.precisions = choose(self.path, {g: GRAPH_FILES[g] for g in opened}, precision, runs_on_cuda(provider))
        self._parallel, self._spinning = parallel, spinning
        options = (provider, threads, optimization, io_binding)
        sessions: dict[str, GraphSession] = {}
        parsed: dict[str, GraphMetadata] = {}
        for graph in opened:  # the encoder first where there is one, as errors name them
            sessions[graph], parsed[graph] = self._open(graph, options)
        check_encoder_file(self.path, parsed[DECODER], has_encoder)  # the decoder says whether one belongs
        for graph in (ENCODER, PRIOR):
            if graph in parsed[DECODER].graphs and graph not in parsed:
                self._require(graph)
                sessions[graph], parsed[graph] = self._open(graph, options)
        check_same_export(parsed, str(self.path))
        self._meta = parsed[DECODER]
        for graph, session in sessions.items():
            check_signature(session, self._meta, graph)
        check_export(self.path, self._meta, sessions, self.precisions)  # what the graphs do, not what they say
        self.encoder, self.decoder = sessions.get(ENCODER), sessions[DECODER]
        self.prior_graph = sessions.get(PRIOR)
        self.metadata: dict[str, Any] = {
            **self._meta.shared(),
            "graphs": {g: {"exporter": parsed[g].exporter, "verification": parsed[g].verification,
                           "precision": self.precisions.get(g, FP32)} for g in parsed},
        }
        network = self.prior_logits if self.prior_graph is not None else None
        self.prior = HostPrior(self._meta.prior, self.latent_shape, network)

    def _require(self, *graphs: str) -> None:
        missing = [GRAPH_FILES[g] for g in graphs if not (self.path / GRAPH_FILES[g]).is_file()]
        if missing:
            raise ExportError(f"{self.path} is not a complete export: {' and '.join(missing)} "
                              f"{'is' if len(missing) == 1 else 'are'} missing; export the run again")

    def _open(self, graph: str, options: tuple) -> tuple[GraphSession, GraphMetadata]:
        path = self.path / variant_file(GRAPH_FILES[graph], self.precisions.get(graph, FP32))
        provider, threads, optimization, io_binding = options
        session = BatchParallelSession(
            lambda t: GraphSession(path, provider, t, optimization, io_binding, str(path), self._spinning),
            threads, self._parallel)
        return session, from_props(session.metadata_props(), graph, str(path))

    # -- what the export describes ------------------------------------------------------------------

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return self._meta.input_shape

    @property
    def latent_shape(self) -> tuple[int, ...]:
        return self._meta.latent_shape

    @property
    def classes(self) -> int:
        """The number of class labels a conditional export takes; 0 for an unconditional one."""
        return self._meta.classes

    @property
    def encoder_outputs(self) -> tuple[str, ...]:
        """The encoder graph's outputs: the encoder's parameters, then ``latent`` (none for a generator-only export)."""
        return tuple(name for name, _ in self._meta.encoder_outputs)

    @property
    def parameter_names(self) -> tuple[str, ...]:
        """The encoder's parameters (what the sampler consumes), without ``latent``."""
        return self.encoder_outputs[:-1]

    @property
    def generator_only(self) -> bool:
        """Whether this is the export of a model without an encoder (it only generates and decodes)."""
        return self.encoder is None

    def require_encoder(self, what: str) -> None:
        """``ExportError`` (one line) when this export has no encoder to ``what`` with."""
        if self.encoder is None:
            raise ExportError(f"{self.path} is the export of a generator-only model: it has no encoder, so it cannot "
                              f"{what}; it generates from its prior (`genkit generate`, `genkit evaluate`)")

    @property
    def providers(self) -> list[str]:
        return list(self.decoder.providers)

    # -- inference ----------------------------------------------------------------------------------

    def encode(self, images: np.ndarray, labels: Any = None) -> dict[str, np.ndarray]:
        """Every encoder output by name: the parameters, then ``latent`` (N, *latent_shape), the code."""
        self.require_encoder("encode images")
        images = check_images(images, self.input_shape)
        labels = check_labels(labels, len(images), self.classes)
        if not len(images):
            return {name: np.zeros((0, *shape), np.float32) for name, shape in self._meta.encoder_outputs}
        parts = [self.encoder.run(feeds) for feeds in self._feeds(IMAGES, images, labels)]
        return {name: np.concatenate([p[name] for p in parts]) for name in self.encoder_outputs}

    def codes(self, images: np.ndarray, labels: Any = None) -> np.ndarray:
        """The deterministic latent codes (N, *latent_shape) of an image batch."""
        return self.encode(images, labels)[LATENT]

    def decode(self, z: np.ndarray, labels: Any = None) -> np.ndarray:
        """Images (N, C, H, W) in [0, 1] decoded from latent points (N, *latent_shape)."""
        z = check_latents(z, self.latent_shape)
        labels = check_labels(labels, len(z), self.classes)
        if not len(z):
            return np.zeros((0, *self.input_shape), np.float32)
        return np.concatenate([self.decoder.run(feeds)[IMAGES] for feeds in self._feeds(Z, z, labels)])

    def reconstruct(self, images: np.ndarray, labels: Any = None) -> np.ndarray:
        """Decode each image's deterministic code."""
        self.require_encoder("reconstruct images")
        images = check_images(images, self.input_shape)
        labels = check_labels(labels, len(images), self.classes)
        if not len(images):
            return np.zeros((0, *self.input_shape), np.float32)
        return np.concatenate([self._reconstruct_chunk(feeds) for feeds in self._feeds(IMAGES, images, labels)])

    def _reconstruct_chunk(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        condition = {LABELS: feeds[LABELS]} if LABELS in feeds else {}
        if self.encoder.uses_binding(len(feeds[IMAGES])) and self.decoder.uses_binding(len(feeds[IMAGES])):
            # The code stays on the provider's device between the two graphs.
            code = self.encoder.run_bound(feeds)[LATENT]
            return self.decoder.run_bound({Z: code, **condition}, to_host=True)[IMAGES]
        code = self.encoder.run(feeds)[LATENT]
        return self.decoder.run({Z: code, **condition})[IMAGES]

    def sample_prior(self, n: int, seed: int = 0) -> np.ndarray:
        """``n`` latent points (n, *latent_shape) drawn on the host from the export's prior with a seeded generator."""
        return self.prior.sample(check_count(n), seed)

    def sample_codes(self, n: int, seed: int = 0) -> np.ndarray:
        """``n`` grids of integer codes from a categorical or network prior (the ones ``sample_prior`` looks up)."""
        if not self.prior.discrete:
            raise ExportError(f"this export's prior is a {self.prior.family}, which draws no integer codes")
        return self.prior.sample_codes(check_count(n), seed)

    def prior_logits(self, codes: np.ndarray) -> np.ndarray:
        """The prior graph's logits (N, M, *grid) for int64 codes (N, *grid); only a network prior has one."""
        if self.prior_graph is None:
            raise ExportError(f"this export's prior is a {self._meta.prior['family']}, which has no prior graph")
        grid = self.latent_shape[1:]
        if not (isinstance(codes, np.ndarray) and codes.dtype == np.int64 and tuple(codes.shape[1:]) == grid):
            raise InputError(f"expected int64 codes of shape (N, {', '.join(map(str, grid))})")
        if not len(codes):
            return np.zeros((0, self._meta.prior["codes"], *grid), np.float32)
        return np.concatenate([self.prior_graph.run(feeds)[LOGITS] for feeds in self._feeds(CODES, codes, None)])

    def generate(self, n: int, seed: int = 0, labels: Any = None) -> np.ndarray:
        """``n`` images decoded from the prior; the same ``seed`` (and labels) give the same images."""
        n = check_count(n)
        labels = check_labels(labels, n, self.classes)  # before sampling: a missing label is the first thing to say
        return self.decode(self.sample_prior(n, seed), labels)

    # -- internals ----------------------------------------------------------------------------------

    def _feeds(self, name: str, array: np.ndarray, labels: np.ndarray | None) -> Iterator[dict[str, np.ndarray]]:
        """The graph's inputs, ``batch_size`` rows at a time."""
        for start in range(0, len(array), self.batch_size):
            feeds = {name: array[start:start + self.batch_size]}
            if labels is not None:
                feeds[LABELS] = labels[start:start + self.batch_size]
            yield feeds

    def __repr__(self) -> str:
        condition = f", classes={self.classes}" if self.classes else ""
        return (f"ExportedModel({str(self.path)!r}, recipe={self._meta.recipe!r}, latent_shape={self.latent_shape}"
                f"{condition}, prior={self.prior.family!r}, providers={self.providers})")
