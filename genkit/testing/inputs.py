"""What the checks feed a component: the default spec, construction as the model builder does it, labels for a
conditional spec, encoder outputs of the right shapes, and the sampler's output taken apart.

A component is tested against a ``ModelSpec``: ``latent_shape`` fixes the shape of z, ``parameter_names``
the encoder's outputs, ``classes`` whether it is conditional (then encoder and decoder get ``labels``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import torch

from genkit.config import validate_section
from genkit.contract.components import KINDS, Component, ModelSpec, SamplerOutput
from genkit.errors import GenkitError
from genkit.testing._asserts import generator, name_of, require

DEFAULT_SPEC = ModelSpec(input_shape=(1, 28, 28), latent_shape=(2,), parameter_names=("mu", "log_var"),
                         feature_shape=(64, 7, 7))
"""The book's 28x28 model; ``feature_shape`` is what its default conv encoder produces."""


def build_component(cls: type, kind: str, spec: ModelSpec, settings: dict[str, Any] | None = None) -> Component:
    """Construct ``cls`` as the model builder does, after validating ``settings`` like a user's config."""
    who = name_of(cls)
    base = KINDS[kind]
    require(isinstance(cls, type) and issubclass(cls, base), who,
            f"must be a subclass of genkit.contract.components.{base.__name__}")
    require(dataclasses.is_dataclass(cls.Settings), who, "Settings must be a dataclass")
    try:
        validated = validate_section(cls.Settings, dict(settings or {}), kind)
    except GenkitError as exc:
        raise AssertionError(f"{who}: the config layer rejects the settings {settings!r}: {exc}") from exc
    try:
        return cls(spec=spec, **validated)
    except Exception as exc:
        raise AssertionError(f"{who}: construction with {validated!r} failed: {type(exc).__name__}: {exc}") from exc


def labels_for(spec: ModelSpec, n: int, offset: int = 0) -> torch.Tensor | None:
    """Labels ``offset, offset+1, ...`` modulo ``spec.classes`` (None for an unconditional spec)."""
    return (torch.arange(n) + offset) % spec.classes if spec.conditional else None


def condition(spec: ModelSpec, labels: torch.Tensor | None) -> tuple[torch.Tensor, ...]:
    """The extra arguments of a conditional encoder or decoder: ``(labels,)``, or nothing."""
    return (labels,) if spec.conditional else ()


def parameter_shapes(spec: ModelSpec, params: Sequence[Any] | None = None) -> list[tuple[int, ...]]:
    """The per-row shape of each encoder output: that of the given rows, else ``spec.latent_shape``."""
    if params is None:
        return [tuple(spec.latent_shape) for _ in spec.parameter_names]
    return [tuple(torch.as_tensor(p).shape[1:]) for p in params]


def random_params(spec: ModelSpec, n: int, seed: int, params: Sequence[Any] | None = None,
                  scale: float = 1.0, shift: float = 0.0) -> list[torch.Tensor]:
    """``n`` rows of standard normal encoder outputs (times ``scale`` plus ``shift``), shaped like ``params``."""
    gen = generator(seed)
    return [shift + scale * torch.randn((n, *shape), generator=gen) for shape in parameter_shapes(spec, params)]


def split_draw(drawn: Any, who: str, what: str = "forward") -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """``(z, extras)`` of what a sampler returned: a ``SamplerOutput`` or the bare tensor z."""
    if isinstance(drawn, SamplerOutput):
        require(isinstance(drawn.extras, dict), who, f"{what}: SamplerOutput.extras must be a dict of named tensors")
        return drawn.z, dict(drawn.extras)
    require(isinstance(drawn, torch.Tensor), who, f"{what} must return a SamplerOutput(z, extras) "
                                                  f"or the tensor z; got {type(drawn).__name__}")
    return drawn, {}


def check_latent_rows(z: Any, spec: ModelSpec, n: int, who: str, what: str) -> int:
    """``z`` is float32 (K·n, *latent_shape) for some K >= 1, finite; returns K."""
    latent = tuple(spec.latent_shape)
    want = ", ".join(map(str, latent))
    require(isinstance(z, torch.Tensor), who, f"{what} must be a tensor; got {type(z).__name__}")
    shape = tuple(z.shape)
    require(len(shape) >= 1 and shape[1:] == latent and shape[0] > 0 and shape[0] % n == 0, who,
            f"{what} must have shape ({n}, {want}) (latent_shape {latent}), or (K·{n}, {want}) for K draws per "
            f"image; got {shape}")
    require(z.dtype == torch.float32, who, f"{what} must be float32 for float32 inputs; got {z.dtype}")
    require(bool(torch.isfinite(z).all()), who, f"{what} has non-finite values")
    return shape[0] // n


def check_extras(extras: dict[str, Any], declared: Sequence[str], who: str, what: str = "forward") -> None:
    """The extras are exactly the names the sampler declares in ``extras``, each a tensor, finite if floating."""
    missing = [name for name in declared if name not in extras]
    require(not missing, who, f"{what} must return every extra named in Sampler.extras; missing {missing} (return "
                              f"SamplerOutput(z, {{name: tensor, ...}}))")
    undeclared = [name for name in extras if name not in declared]
    require(not undeclared, who, f"{what} returns extras {undeclared} that Sampler.extras does not declare "
                                 f"(declare every name: losses and the trainer look extras up by it)")
    for name, value in extras.items():
        require(isinstance(value, torch.Tensor), who, f"extra {name!r} must be a tensor; got {type(value).__name__}")
        require(not value.is_floating_point() or bool(torch.isfinite(value).all()), who,
                f"extra {name!r} has non-finite values")
