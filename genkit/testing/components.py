"""The component contracts: one ``check_*`` function per kind, each building the class the way
``genkit.model.build_model`` does (settings validated by the config layer, keyword arguments only) and
exercising it: output shapes and dtypes, gradients to every parameter, determinism in eval mode, and
the kind's own rules (images in [0, 1], seeded draws, named loss terms).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

from genkit.components import KINDS, Component, ModelSpec
from genkit.config import validate_section
from genkit.errors import GenkitError
from genkit.testing._asserts import (
    backward,
    check_eval_determinism,
    check_gradients,
    check_loss_terms,
    check_tensor,
    check_unit_range,
    generator,
    name_of,
    require,
    uniform_images,
)

DEFAULT_SPEC = ModelSpec(input_shape=(1, 28, 28), z_dim=2, parameter_names=("mu", "log_var"), feature_shape=(64, 7, 7))
"""The book's 28x28 model; ``feature_shape`` is what its default conv encoder produces."""


def build_component(cls: type, kind: str, spec: ModelSpec, settings: dict[str, Any] | None = None) -> Component:
    """Construct ``cls`` as the model builder does, after validating ``settings`` like a user's config."""
    who = name_of(cls)
    base = KINDS[kind]
    require(isinstance(cls, type) and issubclass(cls, base), who,
            f"must be a subclass of genkit.components.{base.__name__}")
    require(dataclasses.is_dataclass(cls.Settings), who, "Settings must be a dataclass")
    try:
        validated = validate_section(cls.Settings, dict(settings or {}), kind)
    except GenkitError as exc:
        raise AssertionError(f"{who}: the config layer rejects the settings {settings!r}: {exc}") from exc
    try:
        return cls(spec=spec, **validated)
    except Exception as exc:
        raise AssertionError(f"{who}: construction with {validated!r} failed: {type(exc).__name__}: {exc}") from exc


def check_encoder(cls: type, spec: ModelSpec | None = None, settings: dict[str, Any] | None = None,
                  batch_size: int = 2, seed: int = 0):
    """Outputs: one (N, z_dim) float tensor per ``spec.parameter_names``; gradients; determinism."""
    who = name_of(cls)
    spec = dataclasses.replace(spec or DEFAULT_SPEC, feature_shape=None)  # unknown until the encoder exists
    encoder = build_component(cls, "encoder", spec, settings)
    shape = encoder.feature_shape
    require(isinstance(shape, (tuple, list)) and all(isinstance(d, int) and d > 0 for d in shape), who,
            f"feature_shape must be a tuple of positive ints; got {shape!r}")
    x = uniform_images(spec.input_shape, batch_size, seed)
    encoder.train()
    out = encoder(x)
    names = spec.parameter_names
    require(isinstance(out, tuple) and len(out) == len(names), who,
            f"forward must return a tuple of {len(names)} tensors {names}; got {type(out).__name__}"
            f"{f' of {len(out)}' if isinstance(out, tuple) else ''}")
    for name, t in zip(names, out):
        check_tensor(t, (batch_size, spec.z_dim), who, f"output {name!r}")
    backward(sum(t.sum() for t in out), who, "forward")
    check_gradients(encoder, who)
    check_eval_determinism(encoder, lambda: encoder(x), who, "forward")
    return encoder


def check_sampler(cls: type, spec: ModelSpec | None = None, settings: dict[str, Any] | None = None,
                  batch_size: int = 4, seed: int = 0):
    """Seeded reparameterised draws, a deterministic mean, prior draws, and a fitted prior if any."""
    who = name_of(cls)
    names = getattr(cls, "parameter_names", ())
    require(isinstance(names, tuple) and names and all(isinstance(n, str) for n in names), who,
            f"parameter_names must be a non-empty tuple of names; got {names!r}")
    spec = dataclasses.replace(spec or DEFAULT_SPEC, parameter_names=names)
    sampler = build_component(cls, "sampler", spec, settings)
    shape = (batch_size, spec.z_dim)
    gen = generator(seed)
    params = [torch.randn(shape, generator=gen).requires_grad_() for _ in names]
    z = sampler(*params, generator=generator(seed))
    check_tensor(z, shape, who, "forward")
    require(torch.equal(z, sampler(*params, generator=generator(seed))), who,
            "forward must give equal draws for equally seeded generators (draw noise from `generator`)")
    backward(z.sum(), who, "forward (a reparameterised draw)")
    require(any(p.grad is not None and bool(p.grad.abs().sum() > 0) for p in params), who,
            "forward must be differentiable with respect to the encoder's outputs (reparameterise)")
    with torch.no_grad():
        mean = sampler.mean(*params)
        check_tensor(mean, shape, who, "mean")
        require(torch.equal(mean, sampler.mean(*params)), who, "mean must be deterministic")
    prior = sampler.prior()
    require(isinstance(prior, dict) and all(isinstance(v, torch.Tensor) for v in prior.values()), who,
            "prior() must return a dict of named tensors")
    draws = sampler.sample_prior(5, generator=generator(seed))
    check_tensor(draws, (5, spec.z_dim), who, "sample_prior(5)")
    require(torch.equal(draws, sampler.sample_prior(5, generator=generator(seed))), who,
            "sample_prior must give equal draws for equally seeded generators")
    if getattr(cls, "fits_prior", False):
        _check_fit_prior(sampler, who, seed)
    return sampler


def _check_fit_prior(sampler, who: str, seed: int) -> None:
    z_dim = sampler.spec.z_dim
    codes = torch.randn(512, z_dim, generator=generator(seed)) * 3.0 + 2.0
    before = {k: v.clone() for k, v in sampler.state_dict().items()}
    sampler.fit_prior(codes)
    after = sampler.state_dict()
    require(any(k not in before or not torch.equal(before[k], v) for k, v in after.items()), who,
            "fit_prior must store the fitted prior in buffers saved with the weights (the state_dict)")
    draws = sampler.sample_prior(4096, generator=generator(seed))
    require(torch.allclose(draws.mean(0), codes.mean(0), atol=0.5), who,
            "after fit_prior, sample_prior must follow the codes it was fitted to (means differ)")


def check_decoder(cls: type, spec: ModelSpec | None = None, settings: dict[str, Any] | None = None,
                  batch_size: int = 2, seed: int = 0):
    """Output (N, C, H, W) float32 in [0, 1] even for far-out latent points; gradients; determinism."""
    who = name_of(cls)
    spec = spec or DEFAULT_SPEC
    if spec.feature_shape is None:
        raise ValueError("check_decoder needs spec.feature_shape (the encoder's pre-flatten shape)")
    decoder = build_component(cls, "decoder", spec, settings)
    z = torch.randn(batch_size, spec.z_dim, generator=generator(seed))
    decoder.train()
    out = decoder(z)
    check_tensor(out, (batch_size, *spec.input_shape), who, "output")
    check_unit_range(out, who, "output")
    backward(out.sum(), who, "forward")
    check_gradients(decoder, who)
    check_eval_determinism(decoder, lambda: decoder(z), who, "forward")
    with torch.no_grad():
        check_unit_range(decoder(z * 100.0), who, "output for latent points far from the prior")
    return decoder


def check_loss(cls: type, spec: ModelSpec | None = None, settings: dict[str, Any] | None = None,
               batch_size: int = 2, seed: int = 0):
    """``loss`` first, exactly the declared ``terms`` as finite scalars, and a gradient to ``x_hat``."""
    who = name_of(cls)
    terms = getattr(cls, "terms", ())
    require(isinstance(terms, tuple) and terms[:1] == ("loss",) and len(set(terms)) == len(terms), who,
            f"terms must be a tuple of distinct names starting with 'loss'; got {terms!r}")
    spec = spec or DEFAULT_SPEC
    loss = build_component(cls, "loss", spec, settings)
    gen = generator(seed)
    x = torch.rand(batch_size, *spec.input_shape, generator=gen)
    x_hat = torch.rand(x.shape, generator=gen).requires_grad_()  # same generator: differs from x
    params = {n: torch.randn(batch_size, spec.z_dim, generator=gen).requires_grad_() for n in spec.parameter_names}
    out = loss(x, x_hat, params)
    check_loss_terms(out, terms, who)
    backward(out["loss"], who, "the total 'loss'")
    require(x_hat.grad is not None and bool(x_hat.grad.abs().sum() > 0), who,
            "the total 'loss' must depend on the reconstruction x_hat")
    return loss


COMPONENT_CHECKS = {"encoder": check_encoder, "sampler": check_sampler, "decoder": check_decoder, "loss": check_loss}
