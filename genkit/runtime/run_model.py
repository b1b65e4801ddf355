"""RunModel: a run folder's torch model behind the numpy API of ``ExportedModel``.

Only a run folder source imports torch (and the plugins that built the model), inside ``RunModel``;
importing this module does not. Latent points are drawn like the runtime draws them (the same numpy
``HostPrior`` over the sampler's described prior, a network prior's logits computed by torch), so a
run and its export generate the same images for the same seed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from genkit.errors import ExportError, GenkitError
from genkit.export_contract import LATENT, NETWORK_FAMILY
from genkit.runtime.inputs import check_count, check_images, check_labels, check_latents
from genkit.runtime.prior import HostPrior
from genkit.runtime.sessions import PROVIDERS, ProviderError


def _torch():
    try:
        import torch
    except ImportError as exc:
        raise GenkitError(f"running a run folder needs torch, which cannot be imported here ({exc}); export it "
                          f"with `genkit export --onnx` and use the export folder") from None
    return torch


class RunModel:
    """A run folder's torch model behind the numpy API of ``genkit.runtime.ExportedModel``.

    ``provider`` maps to the torch device: ``cpu``, ``cuda`` (an error without a CUDA device) or ``auto``.
    ``RunModel.of(model)`` wraps a model already in memory.
    """

    def __init__(self, path: str | os.PathLike, provider: str = "auto", threads: int = 0, batch_size: int = 512):
        try:
            torch = _torch()
        except GenkitError:
            raise GenkitError(f"{path} is a run folder, and running one needs torch, which cannot be imported "
                              f"here; export it with `genkit export --onnx` and use the export folder") from None
        from genkit.run.checkpoint import load_model, read_config

        if provider not in PROVIDERS:
            raise ProviderError(f"unknown provider {provider!r}; choose one of {', '.join(PROVIDERS)}")
        if provider == "cuda" and not torch.cuda.is_available():
            raise ProviderError("provider 'cuda' asked for, but torch sees no CUDA device; use --provider cpu")
        device = "cuda" if provider == "cuda" or (provider == "auto" and torch.cuda.is_available()) else "cpu"
        if threads:
            torch.set_num_threads(threads)
        document = read_config(path)
        self._attach(load_model(path, device).float(), Path(path), batch_size, document)

    @classmethod
    def of(cls, model: Any, batch_size: int = 512) -> RunModel:
        """A model in memory (a ``GenerativeModel``) behind the same API, on its own device."""
        self = cls.__new__(cls)
        self._attach(model, None, batch_size, {})
        return self

    def _attach(self, model: Any, path: Path | None, batch_size: int, document: dict[str, Any]) -> None:
        self.model, self.path, self.batch_size = model.eval(), path, batch_size
        self.device = next(model.parameters()).device
        spec, config = model.spec, model.config
        # a generator-only model has no encoder outputs, as its export has none
        outputs = () if self.generator_only else (*_parameter_shapes(model).items(), (LATENT, tuple(spec.latent_shape)))
        self.metadata: dict[str, Any] = {
            "genkit_version": document.get("genkit_version"), "recipe": config.recipe if config else "",
            "components": document.get("components"), "config": config.to_dict() if config else {},
            "input_shape": tuple(spec.input_shape), "latent_shape": tuple(spec.latent_shape),
            "condition": {"classes": spec.classes} if spec.classes else None,
            "encoder_outputs": outputs,
        }
        self.providers = [f"torch {self.device.type}"]
        from genkit.onnx.describe import describe_prior, own_sample_prior

        self.prior: HostPrior | None = None  # None: a prior no export can carry, drawn by the sampler in torch
        try:
            description = describe_prior(model.sampler.prior(), tuple(spec.latent_shape))
        except ExportError:
            return
        if not own_sample_prior(model.sampler):
            network = self._prior_logits if description["family"] == NETWORK_FAMILY else None
            self.prior = HostPrior(description, tuple(spec.latent_shape), network)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return self.metadata["input_shape"]

    @property
    def latent_shape(self) -> tuple[int, ...]:
        return self.metadata["latent_shape"]

    @property
    def classes(self) -> int:
        return self.model.spec.classes

    @property
    def encoder_outputs(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.metadata["encoder_outputs"])

    @property
    def parameter_names(self) -> tuple[str, ...]:
        return self.encoder_outputs[:-1]

    @property
    def generator_only(self) -> bool:
        """Whether the model has no encoder (it only generates and decodes)."""
        return getattr(self.model, "encoder", None) is None

    def require_encoder(self, what: str) -> None:
        """The model's own one-line error when it has no encoder to ``what`` with."""
        if self.generator_only:
            self.model.require_encoder(what)

    def _map(self, fn, *arrays: np.ndarray | None) -> list:
        torch = _torch()
        out = []
        with torch.no_grad():
            for start in range(0, len(arrays[0]), self.batch_size):
                chunk = [None if a is None else torch.from_numpy(a[start:start + self.batch_size]).to(self.device)
                         for a in arrays]
                out.append(fn(*chunk))
        return out

    def _encode_chunk(self, x, labels):
        params = self.model.encode(x, labels)
        return {**params, LATENT: self.model.sampler.mean(*params.values())}

    def encode(self, images: np.ndarray, labels: Any = None) -> dict[str, np.ndarray]:
        self.require_encoder("encode images")
        images = check_images(images, self.input_shape)
        labels = check_labels(labels, len(images), self.classes)
        parts = self._map(self._encode_chunk, images, labels)
        return {name: np.concatenate([p[name].float().cpu().numpy() for p in parts]) if parts
                else np.zeros((0, *shape), np.float32) for name, shape in self.metadata["encoder_outputs"]}

    def codes(self, images: np.ndarray, labels: Any = None) -> np.ndarray:
        self.require_encoder("encode images")
        images = check_images(images, self.input_shape)
        labels = check_labels(labels, len(images), self.classes)
        return self._join(self._map(self.model.codes, images, labels), self.latent_shape)

    def decode(self, z: np.ndarray, labels: Any = None) -> np.ndarray:
        z = check_latents(z, self.latent_shape)
        labels = check_labels(labels, len(z), self.classes)
        return self._join(self._map(lambda z, y: self.model.decoder(z, *self.model.condition(y)), z, labels),
                          self.input_shape)

    def reconstruct(self, images: np.ndarray, labels: Any = None) -> np.ndarray:
        self.require_encoder("reconstruct images")
        images = check_images(images, self.input_shape)
        labels = check_labels(labels, len(images), self.classes)
        return self._join(self._map(self.model.reconstruct, images, labels), self.input_shape)

    def sample_prior(self, n: int, seed: int = 0) -> np.ndarray:
        n = check_count(n)
        if self.prior is not None:
            return self.prior.sample(n, seed)
        torch = _torch()
        generator = torch.Generator(self.device).manual_seed(seed)
        with torch.no_grad():
            return self.model.sampler.sample_prior(n, generator=generator).float().cpu().numpy()

    def sample_codes(self, n: int, seed: int = 0) -> np.ndarray:
        if self.prior is None or not self.prior.discrete:
            family = self.prior.family if self.prior is not None else "prior of its own"
            raise ExportError(f"this model's prior is a {family}, which draws no integer codes")
        return self.prior.sample_codes(check_count(n), seed)

    def _prior_logits(self, codes: np.ndarray) -> np.ndarray:
        network = self.model.sampler.prior().network
        return self._join(self._map(network, codes), (self.prior.parsed["codes"], *self.prior.grid))

    def generate(self, n: int, seed: int = 0, labels: Any = None) -> np.ndarray:
        n = check_count(n)
        labels = check_labels(labels, n, self.classes)
        return self.decode(self.sample_prior(n, seed), labels)

    @staticmethod
    def _join(parts: list, shape: tuple[int, ...]) -> np.ndarray:
        if not parts:
            return np.zeros((0, *shape), np.float32)
        return np.concatenate([p.float().cpu().numpy() for p in parts])


def _parameter_shapes(model: Any) -> dict[str, tuple[int, ...]]:
    """The encoder's outputs by name and per-row shape, found by encoding one probe batch."""
    torch = _torch()
    spec = model.spec
    x = torch.zeros(2, *spec.input_shape, device=next(model.parameters()).device)
    labels = torch.zeros(2, dtype=torch.int64, device=x.device) if spec.classes else None
    with torch.no_grad():
        return {name: tuple(v.shape[1:]) for name, v in model.encode(x, labels).items()}
