"""GenerativeModel: one encoder, one sampler, one decoder and one loss, built from a configuration."""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import nn

from genkit.components import Decoder, Encoder, Loss, ModelSpec, Sampler
from genkit.errors import ConfigError
from genkit.registry import COMPONENT_KINDS, Registry


@dataclasses.dataclass
class ModelOutput:
    x_hat: torch.Tensor
    params: dict[str, torch.Tensor]
    z: torch.Tensor


class GenerativeModel(nn.Module):
    """Composes the four parts; ``config`` is the validated configuration it was built from."""

    def __init__(self, encoder: Encoder, sampler: Sampler, decoder: Decoder, loss: Loss,
                 config: dict[str, Any] | None = None):
        super().__init__()
        self.encoder, self.sampler, self.decoder, self.loss = encoder, sampler, decoder, loss
        self.config = config or {}

    @property
    def spec(self) -> ModelSpec:
        return self.encoder.spec

    def encode(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """The encoder's outputs, by name."""
        return dict(zip(self.spec.parameter_names, self.encoder(x)))

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> ModelOutput:
        params = self.encode(x)
        z = self.sampler(*params.values(), generator=generator)
        return ModelOutput(self.decoder(z), params, z)

    def compute_loss(self, x: torch.Tensor, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        out = self(x, generator=generator)
        return self.loss(x, out.x_hat, out.params)

    @torch.no_grad()
    def codes(self, x: torch.Tensor) -> torch.Tensor:
        """Deterministic latent codes (the sampler's mean) of an image batch."""
        return self.sampler.mean(*self.encoder(x))

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.codes(x))

    @torch.no_grad()
    def generate(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.decoder(self.sampler.sample_prior(n, generator=generator))


def _construct(cls: type, kind: str, spec: ModelSpec, settings: dict[str, Any]):
    try:
        return cls(spec=spec, **settings)
    except (ValueError, TypeError) as exc:
        # A component rejecting a combination of settings is a configuration error, not a crash.
        raise ConfigError(f"{kind} {cls.__name__} cannot be built with these settings: {exc}") from exc


def build_model(config: dict[str, Any], registry: Registry | None = None) -> GenerativeModel:
    """Build the model a validated configuration describes (weights freshly initialised)."""
    if registry is None:
        from genkit.plugins import get_registry

        registry = get_registry()
    model_cfg = config["model"]
    classes = {kind: registry.component_class(kind, model_cfg[kind]) for kind in COMPONENT_KINDS}
    spec = ModelSpec(tuple(model_cfg["input_shape"]), int(model_cfg["z_dim"]),
                     tuple(classes["sampler"].parameter_names))
    encoder = _construct(classes["encoder"], "encoder", spec, config["encoder"])
    spec = dataclasses.replace(spec, feature_shape=tuple(encoder.feature_shape))
    encoder.spec = spec
    parts = {kind: _construct(classes[kind], kind, spec, config[kind]) for kind in ("sampler", "decoder", "loss")}
    return GenerativeModel(encoder, parts["sampler"], parts["decoder"], parts["loss"], config)
