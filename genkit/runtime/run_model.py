"""RunModel: a run folder's torch model behind the numpy API of ``ExportedModel``.

Only a run folder source imports torch (and the plugins that built the model), inside ``RunModel``;
importing this module does not.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from genkit.errors import GenkitError
from genkit.runtime.inputs import check_count, check_images, check_latents
from genkit.runtime.prior import draw_prior
from genkit.runtime.sessions import PROVIDERS, ProviderError


class RunModel:
    """A run folder's torch model behind the numpy API of ``genkit.runtime.ExportedModel``.

    ``provider`` maps to the torch device: ``cpu``, ``cuda`` (an error without a CUDA device) or
    ``auto``. Latent points are drawn like the runtime draws them (numpy, seeded), so a run and its
    export generate the same images for the same seed.
    """

    def __init__(self, path: str | os.PathLike, provider: str = "auto", threads: int = 0, batch_size: int = 512):
        try:
            import torch
        except ImportError as exc:
            raise GenkitError(f"{path} is a run folder, and running one needs torch, which cannot be imported "
                              f"here ({exc}); export it with `genkit export --onnx` and use the export "
                              f"folder") from None

        from genkit.checkpoint import load_model, read_config

        if provider not in PROVIDERS:
            raise ProviderError(f"unknown provider {provider!r}; choose one of {', '.join(PROVIDERS)}")
        if provider == "cuda" and not torch.cuda.is_available():
            raise ProviderError("provider 'cuda' asked for, but torch sees no CUDA device; use --provider cpu")
        device = "cuda" if provider == "cuda" or (provider == "auto" and torch.cuda.is_available()) else "cpu"
        if threads:
            torch.set_num_threads(threads)
        self.path, self.batch_size, self.device = Path(path), batch_size, torch.device(device)
        document = read_config(self.path)
        self.model = load_model(self.path, device).float()
        spec = self.model.spec
        self.metadata: dict[str, Any] = {
            "genkit_version": document.get("genkit_version"), "recipe": document.get("recipe"),
            "components": document.get("components"), "config": self.model.config,
            "input_shape": tuple(spec.input_shape), "latent_size": spec.z_dim,
            "encoder_outputs": tuple(spec.parameter_names),
        }
        self.providers = [f"torch {device}"]
        self._code_name: str | None = None

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return self.metadata["input_shape"]

    @property
    def latent_size(self) -> int:
        return self.metadata["latent_size"]

    @property
    def code_name(self) -> str:
        """The encoder output the sampler's ``mean`` returns (the deterministic code), found by probing."""
        if self._code_name is None:
            probe = np.random.default_rng(0).random((2, *self.input_shape), dtype=np.float32)
            params, codes = self.encode(probe), self.codes(probe)
            # "" when the sampler's code is none of the encoder outputs (such a model cannot be exported)
            self._code_name = next((k for k, v in params.items() if np.array_equal(v, codes)), "")
        return self._code_name

    def _map(self, array: np.ndarray, fn) -> list:
        import torch

        out = []
        with torch.no_grad():
            for start in range(0, len(array), self.batch_size):
                out.append(fn(torch.from_numpy(array[start:start + self.batch_size]).to(self.device)))
        return out

    def encode(self, images: np.ndarray) -> dict[str, np.ndarray]:
        images = check_images(images, self.input_shape)
        parts = self._map(images, self.model.encode)
        return {name: np.concatenate([p[name].float().cpu().numpy() for p in parts]) if parts
                else np.zeros((0, self.latent_size), np.float32) for name in self.metadata["encoder_outputs"]}

    def codes(self, images: np.ndarray) -> np.ndarray:
        images = check_images(images, self.input_shape)
        return self._join(self._map(images, self.model.codes), (self.latent_size,))

    def decode(self, z: np.ndarray) -> np.ndarray:
        z = check_latents(z, self.latent_size)
        return self._join(self._map(z, self.model.decoder), self.input_shape)

    def reconstruct(self, images: np.ndarray) -> np.ndarray:
        images = check_images(images, self.input_shape)
        return self._join(self._map(images, self.model.reconstruct), self.input_shape)

    def sample_prior(self, n: int, seed: int = 0) -> np.ndarray:
        import torch

        from genkit.components import Sampler

        n, sampler = check_count(n), self.model.sampler
        if type(sampler).sample_prior is Sampler.sample_prior:
            prior = sampler.prior()
            return draw_prior(prior["mean"].float().cpu().numpy(), prior["std"].float().cpu().numpy(), n, seed)
        # A sampler with a prior of its own draws it itself (such a model cannot be exported).
        generator = torch.Generator(self.device).manual_seed(seed)
        return sampler.sample_prior(n, generator=generator).float().cpu().numpy()

    def generate(self, n: int, seed: int = 0) -> np.ndarray:
        return self.decode(self.sample_prior(n, seed))

    @staticmethod
    def _join(parts: list, shape: tuple[int, ...]) -> np.ndarray:
        if not parts:
            return np.zeros((0, *shape), np.float32)
        return np.concatenate([p.float().cpu().numpy() for p in parts])
