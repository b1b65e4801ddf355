"""What evaluation, plots and reports see of a trained model, whether a run folder or its ONNX export.

The backend is ``genkit.runtime.open_source``: an ``ExportedModel`` (onnxruntime) or a ``RunModel``
(torch), both numpy in and numpy out, opened on the CPU. Encoding, the deterministic code, decoding and
prior draws are the backend's; the loss terms are computed on the host on top of them
(``genkit.evaluation.terms``, scored as the trainer scores its test split by ``split_terms``). A run
folder and its export therefore go through the same code and give the same numbers (within float32
rounding).

Latent points have the model's ``latent_shape``: (N, z) for a flat latent, (N, D, h, w) for a spatial
one. A conditional model (``classes`` > 0) takes a class label with every image and every latent point:
each method here takes ``labels`` and refuses, in one line, to run such a model without them.

A generator-only model (no encoder) only decodes: ``encode``, ``codes`` and ``reconstruct`` raise the
backend's one-line error, and evaluation, plots and reports skip what needs them (``generator_only``).

Randomness: prior draws are the backend's ``sample_prior`` (numpy, seeded). The reparameterisation
noise of the loss terms comes from the CPU torch generator the trainer's test scoring seeds
(``genkit.evaluation.split_terms``), and both backends run the same host sampler on the same batches,
so both see the same noise.
"""

from __future__ import annotations

import functools
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from genkit.errors import DataError, GenkitError


class Source:
    """A trained model seen through its encoder and decoder; ``kind`` is ``"run"`` or ``"export"``."""

    def __init__(self, path: str | os.PathLike, threads: int = 0, precision: str = "fp32"):
        from genkit.config import RunConfig, validate
        from genkit.contract.host import get_registry
        from genkit.runtime import open_source, source_kind

        self.path = Path(path)
        self.kind = source_kind(self.path)
        # precision: which graph files of an export run (genkit.runtime.variants)
        self.backend = open_source(self.path, provider="cpu", threads=threads, precision=precision)
        raw = self.backend.metadata["config"]
        try:
            self.config: RunConfig = raw if isinstance(raw, RunConfig) else validate(get_registry(), raw)
        except GenkitError as exc:
            raise GenkitError(f"{self.path}: the {'export' if self.kind == 'export' else 'run'}'s configuration "
                              f"does not fit the installed plugins: {exc}") from None

    # -- described by the configuration and the prior -----------------------------------------------

    @property
    def recipe(self) -> str:
        return self.config.recipe

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(int(v) for v in self.config.model.input_shape)  # type: ignore[return-value]

    @property
    def latent_shape(self) -> tuple[int, ...]:
        return tuple(int(v) for v in self.config.model.latent_shape)

    @property
    def latent_numel(self) -> int:
        """Numbers in one latent point: the width of the flattened codes the latent measures work on."""
        return math.prod(self.latent_shape)

    @property
    def flat_latent(self) -> bool:
        return len(self.latent_shape) == 1

    @property
    def classes(self) -> int:
        """Class labels a conditional model takes (0: unconditional)."""
        return int(self.config.model.classes)

    @property
    def conditional(self) -> bool:
        return self.classes > 0

    @property
    def generator_only(self) -> bool:
        """Whether the model has no encoder: it decodes prior draws, and nothing here encodes or reconstructs."""
        return bool(self.config.generator_only)

    def require_encoder(self, what: str) -> None:
        """The backend's one-line error (it names the run or the export) when there is no encoder to ``what`` with."""
        if self.generator_only:
            self.backend.require_encoder(what)

    @property
    def sampler_name(self) -> str:
        return self.config.model.sampler

    @functools.cached_property
    def sampler_class(self) -> type:
        from genkit.contract.host import get_registry

        return get_registry().component_class("sampler", self.sampler_name)

    @property
    def parameter_names(self) -> tuple[str, ...]:
        """The encoder outputs the sampler consumes (``mu``, ``log_var`` for a Gaussian sampler)."""
        return tuple(self.sampler_class.parameter_names)

    @functools.cached_property
    def prior(self) -> dict[str, Any]:
        """The prior latent points are drawn from, described as JSON (``family`` plus its arrays).

        A run describes its sampler's ``genkit.contract.priors.Prior``; an export carries the same description
        in its metadata.
        """
        if self.kind == "run":
            return self.backend.model.sampler.prior().describe()
        meta = self.backend.metadata
        prior = meta.get("prior") or (meta.get("sampler") or {}).get("prior")
        if not isinstance(prior, dict) or "family" not in prior:
            raise GenkitError(f"{self.path}: the export's metadata describes no prior; export the run again")
        return prior

    @property
    def prior_family(self) -> str:
        return str(self.prior["family"])

    def _gaussian_prior(self, key: str) -> np.ndarray | None:
        if self.prior_family != "diagonal-gaussian":
            return None
        return np.asarray(self.prior[key], np.float32).reshape(self.latent_shape)

    @property
    def prior_mean(self) -> np.ndarray | None:
        """The prior's mean (latent_shape) when it is a diagonal Gaussian; None for any other family."""
        return self._gaussian_prior("mean")

    @property
    def prior_std(self) -> np.ndarray | None:
        return self._gaussian_prior("std")

    @property
    def is_gaussian(self) -> bool:
        """Whether the encoder describes a diagonal Gaussian posterior (KL and active units apply)."""
        return set(self.parameter_names) == {"mu", "log_var"}

    @property
    def fits_prior(self) -> bool:
        """Whether the prior was fitted to the training codes (an autoencoder) rather than fixed."""
        return bool(self.sampler_class.fits_prior)

    def latent_shape_text(self) -> str:
        return shape_text(self.latent_shape)

    # -- the backend --------------------------------------------------------------------------------

    def condition(self, labels: Any, count: int, what: str = "images") -> dict[str, np.ndarray]:
        """The keyword arguments that carry the labels to the backend: none for an unconditional model."""
        if not self.conditional:
            return {}
        if labels is None:
            raise DataError(f"{self.recipe} is conditional on a class label in [0, {self.classes}) and these "
                            f"{what} have none: use a labelled dataset (--data)")
        labels = np.asarray(labels).astype(np.int64, copy=False).reshape(-1)
        if len(labels) != count:
            raise GenkitError(f"{count} {what} but {len(labels)} labels")
        return {"labels": np.ascontiguousarray(labels)}

    def encode(self, images: np.ndarray, labels: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """The encoder's outputs by name, each float32 (N, *shape), for float32 images (N, C, H, W)."""
        self.require_encoder("encode images")
        images = np.ascontiguousarray(images, dtype=np.float32)
        return self.backend.encode(images, **self.condition(labels, len(images)))

    def codes(self, images: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
        """The deterministic latent codes (N, *latent_shape) of an image batch (the sampler's mean)."""
        self.require_encoder("encode images")
        images = np.ascontiguousarray(images, dtype=np.float32)
        return self.backend.codes(images, **self.condition(labels, len(images)))

    def decode(self, z: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
        """Float32 images (N, C, H, W) in [0, 1] for latent points (N, *latent_shape)."""
        z = np.ascontiguousarray(z, dtype=np.float32)
        return self.backend.decode(z, **self.condition(labels, len(z), "latent points"))

    def reconstruct(self, images: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
        self.require_encoder("reconstruct images")
        return self.decode(self.codes(images, labels), labels)

    def draw_prior(self, n: int, seed: int = 0) -> np.ndarray:
        return self.backend.sample_prior(int(n), seed)

    def generation_labels(self, n: int) -> np.ndarray | None:
        """Labels 0, 1, ..., K-1, 0, ... for ``n`` generated images of a conditional model; None otherwise."""
        if not self.conditional:
            return None
        from genkit.contract.model import cycle_labels

        return cycle_labels(n, self.classes).numpy()

    def generate(self, n: int, seed: int = 0, labels: np.ndarray | None = None) -> np.ndarray:
        """``n`` images decoded from the prior; a conditional model cycles over its classes unless given labels."""
        if self.conditional and labels is None:
            labels = self.generation_labels(n)
        return self.decode(self.draw_prior(n, seed), labels)

    def metrics(self) -> list[dict[str, Any]]:
        """The training log (metrics.jsonl); only a run folder has one."""
        if self.kind != "run":
            raise GenkitError(f"{self.path} is an ONNX export, which holds no training log; "
                              f"use the run folder it was exported from")
        from genkit.run.checkpoint import read_metrics

        return read_metrics(self.path)

    # -- the loss terms -----------------------------------------------------------------------------

    @functools.cached_property
    def terms(self):
        """The host sampler and loss that score the loss terms (``genkit.evaluation.terms.LossTerms``)."""
        from genkit.evaluation.terms import LossTerms

        return LossTerms.of(self)

    @property
    def loss_terms(self) -> tuple[str, ...]:
        return self.terms.names


def shape_text(shape) -> str:
    """A latent shape as a tuple: (2,) or (16, 7, 7)."""
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def open_source(path: str | os.PathLike, threads: int = 0, precision: str = "fp32") -> Source:
    """A run folder or an export folder, told apart by the files in it."""
    return Source(path, threads, precision)
