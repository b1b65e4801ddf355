"""What evaluation, plots and reports see of a trained model, whether a run folder or its ONNX export.

The backend is ``genkit.runtime.open_source``: an ``ExportedModel`` (onnxruntime) or a ``RunModel``
(torch), both numpy in and numpy out, opened on the CPU. On top of the backend's ``encode`` and
``decode`` everything else — the deterministic code, the reparameterised draw, the loss terms — is
computed on the host by the run's own Sampler and Loss, built from its configuration through the
registry. A run folder and its export therefore go through the same code and give the same numbers
(within float32 rounding).

Randomness: prior draws are the runtime's ``draw_prior`` (numpy, seeded), made by the backend's
``sample_prior``. The reparameterisation noise of the loss terms comes from a CPU torch generator,
because ``Sampler.forward`` takes one; its seed is drawn from ``numpy.random.default_rng``, and both
backends run the same host sampler on the same batches, so both see the same noise.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import numpy as np

from genkit.errors import GenkitError

NOISE_STREAM = 1  # numpy seed-sequence key of the loss-term noise, kept apart from the prior draws


class Source:
    """A trained model seen through its encoder and decoder; ``kind`` is ``"run"`` or ``"export"``."""

    def __init__(self, path: str | os.PathLike, threads: int = 0):
        from genkit.runtime import open_source, source_kind

        self.path = Path(path)
        self.kind = source_kind(self.path)
        self.backend = open_source(self.path, provider="cpu", threads=threads)
        if self.kind == "run":
            self.config = self.backend.metadata["config"]
            prior = {k: v.detach().float().cpu().numpy() for k, v in self.backend.model.sampler.prior().items()}
            self.prior_mean, self.prior_std = prior["mean"], prior["std"]
        else:
            from genkit.config import validate
            from genkit.plugins import get_registry

            try:
                self.config = validate(get_registry(), self.backend.metadata["config"])
            except GenkitError as exc:
                raise GenkitError(f"{self.path}: the export's configuration does not fit the installed "
                                  f"plugins: {exc}") from None
            self.prior_mean, self.prior_std = self.backend.prior_mean, self.backend.prior_std
        self.prior_mean = np.asarray(self.prior_mean, np.float32)
        self.prior_std = np.asarray(self.prior_std, np.float32)

    # -- the backend --------------------------------------------------------------------------------

    def encode(self, images: np.ndarray) -> dict[str, np.ndarray]:
        """The encoder's outputs by name, each float32 (N, z_dim), for float32 images (N, C, H, W)."""
        return self.backend.encode(np.ascontiguousarray(images, dtype=np.float32))

    def decode(self, z: np.ndarray) -> np.ndarray:
        """Float32 images (N, C, H, W) in [0, 1] for latent points (N, z_dim)."""
        return self.backend.decode(np.ascontiguousarray(z, dtype=np.float32))

    def draw_prior(self, n: int, seed: int = 0) -> np.ndarray:
        return self.backend.sample_prior(int(n), seed)

    def generate(self, n: int, seed: int = 0) -> np.ndarray:
        return self.decode(self.draw_prior(n, seed))

    def metrics(self) -> list[dict[str, Any]]:
        """The training log (metrics.jsonl); only a run folder has one."""
        if self.kind != "run":
            raise GenkitError(f"{self.path} is an ONNX export, which holds no training log; "
                              f"use the run folder it was exported from")
        from genkit.checkpoint import read_metrics

        return read_metrics(self.path)

    # -- described by the configuration ------------------------------------------------------------

    @property
    def recipe(self) -> str:
        return str(self.config.get("recipe", ""))

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(int(v) for v in self.config["model"]["input_shape"])  # type: ignore[return-value]

    @property
    def z_dim(self) -> int:
        return int(self.config["model"]["z_dim"])

    @property
    def sampler_name(self) -> str:
        return str(self.config["model"]["sampler"])

    @property
    def parameter_names(self) -> tuple[str, ...]:
        return tuple(self.sampler.parameter_names)

    @property
    def is_gaussian(self) -> bool:
        """Whether the encoder describes a diagonal Gaussian posterior (KL and active units apply)."""
        return set(self.parameter_names) == {"mu", "log_var"}

    @property
    def fits_prior(self) -> bool:
        """Whether the prior was fitted to the training codes (an autoencoder) rather than fixed."""
        return bool(self.sampler.fits_prior)

    # -- host components ----------------------------------------------------------------------------

    @functools.cached_property
    def _components(self):
        from genkit.components import ModelSpec
        from genkit.plugins import get_registry

        registry = get_registry()
        model = self.config["model"]
        sampler_cls = registry.component_class("sampler", model["sampler"])
        loss_cls = registry.component_class("loss", model["loss"])
        # Sampler and Loss never look at the encoder's feature shape (only the decoder mirrors it).
        spec = ModelSpec(self.input_shape, self.z_dim, tuple(sampler_cls.parameter_names))
        sampler = sampler_cls(spec=spec, **self.config["sampler"]).eval()
        return sampler, loss_cls(spec=spec, **self.config["loss"]).eval()

    @property
    def sampler(self):
        """The run's Sampler built on the host; its prior buffers are not loaded (see ``prior_mean``)."""
        return self._components[0]

    @property
    def loss(self):
        return self._components[1]

    @property
    def loss_terms(self) -> tuple[str, ...]:
        return tuple(self.loss.terms)

    # -- built on encode and decode -----------------------------------------------------------------

    def codes(self, images: np.ndarray, params: dict[str, np.ndarray] | None = None) -> np.ndarray:
        """The deterministic latent codes (the sampler's mean) of an image batch."""
        import torch

        params = self.encode(images) if params is None else params
        with torch.no_grad():
            tensors = [torch.from_numpy(np.ascontiguousarray(params[n])) for n in self.parameter_names]
            return self.sampler.mean(*tensors).float().numpy()

    def reconstruct(self, images: np.ndarray) -> np.ndarray:
        return self.decode(self.codes(images))

    def noise_generator(self, seed: int):
        """The CPU torch generator of the reparameterisation noise, seeded from numpy (see the module doc)."""
        import torch

        child = int(np.random.default_rng([seed, NOISE_STREAM]).integers(0, 2**62))
        return torch.Generator().manual_seed(child)

    def per_image_terms(self, images: np.ndarray, generator, params: dict[str, np.ndarray] | None = None
                        ) -> dict[str, np.ndarray]:
        """Every loss term of each image (N values per term), with noise from ``generator``.

        The Loss contract averages over its batch, so it is applied to one image at a time to get each
        image's own terms; the sampler draws once for the whole batch.
        """
        import torch

        params = self.encode(images) if params is None else params
        with torch.no_grad():
            p = {n: torch.from_numpy(np.ascontiguousarray(params[n])) for n in self.parameter_names}
            z = self.sampler(*p.values(), generator=generator).float()
            x_hat = torch.from_numpy(self.decode(z.numpy()))
            x = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32))
            rows = [[float(v) for v in self._terms(x[i:i + 1], x_hat[i:i + 1], {n: t[i:i + 1] for n, t in p.items()})]
                    for i in range(len(x))]
        values = np.asarray(rows, dtype=np.float64).reshape(len(x), len(self.loss_terms))
        return {t: values[:, k] for k, t in enumerate(self.loss_terms)}

    def _terms(self, x, x_hat, params) -> list:
        out = self.loss(x, x_hat, params)
        return [out[t] for t in self.loss_terms]


def open_source(path: str | os.PathLike, threads: int = 0) -> Source:
    """A run folder or an export folder, told apart by the files in it."""
    return Source(path, threads)
