"""ExportedModel: an export folder run by onnxruntime, numpy in and numpy out, without torch."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from genkit.errors import ExportError
from genkit.onnx import metadata as meta
from genkit.onnx.folder import GRAPH_FILES
from genkit.runtime.inputs import check_count, check_images, check_latents
from genkit.runtime.prior import draw_prior
from genkit.runtime.sessions import GraphSession


class ExportedModel:
    """The encoder and decoder graphs of one export folder, checked against their metadata.

    ``provider`` is ``"cpu"``, ``"cuda"`` (an error where onnxruntime cannot run CUDA) or ``"auto"``
    (CUDA where it works, else CPU); ``threads`` sets onnxruntime's intra-op threads (0: its default).
    Batches larger than ``batch_size`` are run in chunks. Images are float32 (N, C, H, W) in [0, 1];
    latent points float32 (N, latent_size).
    """

    def __init__(self, path: str | os.PathLike, provider: str = "auto", threads: int = 0, *,
                 batch_size: int = 512, optimization: str = "all", io_binding: str = "auto"):
        self.path = Path(path)
        if not self.path.is_dir():
            raise ExportError(f"export folder {self.path} does not exist (write one with `genkit export --onnx RUN`)")
        missing = [name for name in GRAPH_FILES.values() if not (self.path / name).is_file()]
        if missing:
            raise ExportError(f"{self.path} is not a complete export: {' and '.join(missing)} "
                              f"{'is' if len(missing) == 1 else 'are'} missing; export the run again")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ExportError(f"batch_size must be a positive integer; got {batch_size!r}")
        self.batch_size = batch_size
        graphs: dict[str, GraphSession] = {}
        parsed: dict[str, meta.GraphMetadata] = {}
        for graph, name in GRAPH_FILES.items():
            source = str(self.path / name)
            graphs[graph] = GraphSession(self.path / name, provider, threads, optimization, io_binding, source)
            parsed[graph] = meta.from_props(graphs[graph].metadata_props(), graph, source)
        meta.check_pair(parsed["encoder"], parsed["decoder"], str(self.path))
        self.encoder, self.decoder = graphs["encoder"], graphs["decoder"]
        self._meta = parsed["encoder"]
        self._check_signatures()
        self.metadata: dict[str, Any] = {
            **self._meta.shared(),
            "graphs": {g: {"exporter": parsed[g].exporter, "verification": parsed[g].verification} for g in parsed},
        }
        prior = self._meta.sampler["prior"]
        self.prior_mean = np.asarray(prior["mean"], dtype=np.float32)
        self.prior_std = np.asarray(prior["std"], dtype=np.float32)

    # -- what the export describes ------------------------------------------------------------------

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return self._meta.input_shape

    @property
    def latent_size(self) -> int:
        return self._meta.latent_size

    @property
    def encoder_outputs(self) -> tuple[str, ...]:
        return self._meta.encoder_outputs

    @property
    def code_name(self) -> str:
        """The encoder output that is the deterministic code (``mu`` for a VAE, ``code`` for an AE)."""
        return self._meta.sampler["code"]

    @property
    def providers(self) -> list[str]:
        return list(self.encoder.providers)

    # -- inference ----------------------------------------------------------------------------------

    def encode(self, images: np.ndarray) -> dict[str, np.ndarray]:
        """Every encoder output by name, each float32 (N, latent_size)."""
        images = check_images(images, self.input_shape)
        if not len(images):
            return {name: np.zeros((0, self.latent_size), np.float32) for name in self.encoder_outputs}
        parts = [self.encoder.run({meta.ENCODER_INPUT: chunk}) for chunk in self._chunks(images)]
        return {name: np.concatenate([p[name] for p in parts]) for name in self.encoder_outputs}

    def codes(self, images: np.ndarray) -> np.ndarray:
        """The deterministic latent codes (N, latent_size) of an image batch."""
        return self.encode(images)[self.code_name]

    def decode(self, z: np.ndarray) -> np.ndarray:
        """Images (N, C, H, W) in [0, 1] decoded from latent points (N, latent_size)."""
        z = check_latents(z, self.latent_size)
        if not len(z):
            return np.zeros((0, *self.input_shape), np.float32)
        return np.concatenate([self.decoder.run({meta.DECODER_INPUT: chunk})[meta.DECODER_OUTPUT]
                               for chunk in self._chunks(z)])

    def reconstruct(self, images: np.ndarray) -> np.ndarray:
        """Decode each image's deterministic code."""
        images = check_images(images, self.input_shape)
        if not len(images):
            return np.zeros((0, *self.input_shape), np.float32)
        return np.concatenate([self._reconstruct_chunk(chunk) for chunk in self._chunks(images)])

    def _reconstruct_chunk(self, images: np.ndarray) -> np.ndarray:
        if self.encoder.uses_binding(len(images)) and self.decoder.uses_binding(len(images)):
            # The code stays on the provider's device between the two graphs.
            code = self.encoder.run_bound({meta.ENCODER_INPUT: images})[self.code_name]
            return self.decoder.run_bound({meta.DECODER_INPUT: code}, to_host=True)[meta.DECODER_OUTPUT]
        code = self.encoder.run({meta.ENCODER_INPUT: images})[self.code_name]
        return self.decoder.run({meta.DECODER_INPUT: code})[meta.DECODER_OUTPUT]

    def sample_prior(self, n: int, seed: int = 0) -> np.ndarray:
        """``n`` latent points drawn on the host from the export's prior with a seeded generator."""
        return draw_prior(self.prior_mean, self.prior_std, check_count(n), seed)

    def generate(self, n: int, seed: int = 0) -> np.ndarray:
        """``n`` images decoded from the prior; the same ``seed`` gives the same images."""
        return self.decode(self.sample_prior(n, seed))

    # -- internals ----------------------------------------------------------------------------------

    def _chunks(self, array: np.ndarray):
        for start in range(0, len(array), self.batch_size):
            yield array[start:start + self.batch_size]

    def _check_signatures(self) -> None:
        """The graphs' inputs and outputs must be the ones the metadata describes."""
        c, h, w = self.input_shape
        z = self.latent_size
        expected = {
            "encoder": ({meta.ENCODER_INPUT: [c, h, w]}, {name: [z] for name in self.encoder_outputs}),
            "decoder": ({meta.DECODER_INPUT: [z]}, {meta.DECODER_OUTPUT: [c, h, w]}),
        }
        for graph, (inputs, outputs) in expected.items():
            session = getattr(self, graph)
            for label, want, got in (("inputs", inputs, session.input_shapes()),
                                     ("outputs", outputs, session.output_shapes())):
                if list(want) != list(got) or any(not _dims_match(got[k], v) for k, v in want.items()):
                    raise ExportError(
                        f"{session.source}: the graph's {label} {_format(got)} do not match its metadata "
                        f"({_format({k: ['N', *v] for k, v in want.items()})}); export the run again"
                    )

    def __repr__(self) -> str:
        return (f"ExportedModel({str(self.path)!r}, recipe={self._meta.recipe!r}, "
                f"latent_size={self.latent_size}, providers={self.providers})")


def _dims_match(got: list, want: list[int]) -> bool:
    """``got`` is (batch, *want): a symbolic batch (any size), then ``want``'s sizes (or symbolic ones)."""
    return (len(got) == len(want) + 1 and not isinstance(got[0], int)
            and all(not isinstance(g, int) or g == w for g, w in zip(got[1:], want)))


def _format(shapes: dict[str, list]) -> str:
    return ", ".join(f"{name} ({', '.join(str(d) for d in dims)})" for name, dims in shapes.items())
