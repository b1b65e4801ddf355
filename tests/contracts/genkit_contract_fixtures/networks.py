"""Tiny encoders and decoders: an MLP that takes a condition when the model has one, and a conv grid pair."""

from __future__ import annotations

import dataclasses
import math

import torch
from torch import nn

from genkit.config import field
from genkit.contract.components import Decoder, Encoder


def one_hot(labels: tuple[torch.Tensor, ...], classes: int, like: torch.Tensor) -> list[torch.Tensor]:
    """The condition as a one-hot block to concatenate (nothing for an unconditional model)."""
    return [nn.functional.one_hot(labels[0], classes).to(like.dtype)] if classes else []


class MLPEncoder(Encoder):
    @dataclasses.dataclass(frozen=True)
    class Settings:
        hidden: int = field(128, "hidden units", min=1)

    def __init__(self, spec, **settings):
        super().__init__(spec, **settings)
        width = math.prod(spec.input_shape) + spec.classes
        self.body = nn.Sequential(nn.Linear(width, self.settings.hidden), nn.ReLU())
        self.heads = nn.ModuleDict({n: nn.Linear(self.settings.hidden, spec.latent_numel)
                                    for n in spec.parameter_names})

    @property
    def feature_shape(self):
        return (self.settings.hidden,)

    def forward(self, x, *condition):
        h = self.body(torch.cat([x.flatten(1), *one_hot(condition, self.spec.classes, x)], dim=1))
        return tuple(head(h).unflatten(1, self.spec.latent_shape) for head in self.heads.values())


class MLPDecoder(Decoder):
    @dataclasses.dataclass(frozen=True)
    class Settings:
        hidden: int = field(128, "hidden units", min=1)

    def __init__(self, spec, **settings):
        super().__init__(spec, **settings)
        self.body = nn.Sequential(nn.Linear(spec.latent_numel + spec.classes, self.settings.hidden), nn.ReLU(),
                                  nn.Linear(self.settings.hidden, math.prod(spec.input_shape)), nn.Sigmoid())

    def forward(self, z, *condition):
        out = self.body(torch.cat([z.flatten(1), *one_hot(condition, self.spec.classes, z)], dim=1))
        return out.unflatten(1, self.spec.input_shape)


class GridEncoder(Encoder):
    """28x28 -> 14x14 -> 7x7 with ``channels`` output channels per parameter (the latent is (channels, 7, 7))."""

    @dataclasses.dataclass(frozen=True)
    class Settings:
        channels: int = field(4, "latent channels", min=1)

    def __init__(self, spec, **settings):
        super().__init__(spec, **settings)
        c = spec.input_shape[0]
        if tuple(spec.latent_shape) != (self.settings.channels, 7, 7):
            raise ValueError(f"GridEncoder makes a ({self.settings.channels}, 7, 7) latent; latent_shape is "
                             f"{tuple(spec.latent_shape)}")
        self.body = nn.Sequential(nn.Conv2d(c, 16, 4, 2, 1), nn.ReLU(), nn.Conv2d(16, 16, 4, 2, 1), nn.ReLU())
        self.heads = nn.ModuleDict({n: nn.Conv2d(16, self.settings.channels, 1) for n in spec.parameter_names})

    @property
    def feature_shape(self):
        return (16, 7, 7)

    def forward(self, x, *condition):
        h = self.body(x)
        return tuple(head(h) for head in self.heads.values())


class GridDecoder(Decoder):
    @dataclasses.dataclass(frozen=True)
    class Settings:
        channels: int = field(4, "latent channels", min=1)

    def __init__(self, spec, **settings):
        super().__init__(spec, **settings)
        self.body = nn.Sequential(nn.ConvTranspose2d(self.settings.channels, 16, 4, 2, 1), nn.ReLU(),
                                  nn.ConvTranspose2d(16, spec.input_shape[0], 4, 2, 1), nn.Sigmoid())

    def forward(self, z, *condition):
        return self.body(z)
