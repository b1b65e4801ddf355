"""The sampler contract (``check_sampler``): what the model, the loss, the trainer and the export rely on.

- ``parameter_names`` names the encoder outputs it consumes, ``extras`` the extras its forward returns.
- ``forward(*params, generator)`` returns a ``SamplerOutput`` (or the bare z): z float32 (N, *latent_shape), or
  (K·N, *latent_shape) for K draws per image; exactly the declared extras; equal draws for equally seeded
  generators; and gradients that reach every encoder output, from z or the extras (straight through a
  non-differentiable step, such as a codebook look-up, where there is one).
- ``mean(*params)`` is deterministic, (N, *latent_shape).
- ``prior()`` keeps the prior contract of ``genkit.testing.priors``: a family the export describes and the
  runtime samples, of the model's latent shape; and ``sample_prior`` is the base class's (``prior().sample``),
  since the runtime draws from the prior's description alone.
- ``sample_prior(n)`` is (n, *latent_shape) and seeded; a sampler with ``fits_prior`` stores what ``fit_prior``
  learns in its state_dict (so it is saved with the weights).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import torch

from genkit.contract.components import ModelSpec
from genkit.testing._asserts import check_tensor, failures_as_assertions, generator, name_of, require
from genkit.testing.inputs import (
    DEFAULT_SPEC,
    build_component,
    check_extras,
    check_latent_rows,
    random_params,
    split_draw,
)
from genkit.testing.priors import check_exportable_sampler, check_prior


def _names(cls: type, attribute: str, who: str, non_empty: bool) -> tuple[str, ...]:
    names = getattr(cls, attribute, ())
    require(isinstance(names, tuple) and (names or not non_empty) and all(isinstance(n, str) for n in names)
            and len(set(names)) == len(names), who,
            f"{attribute} must be a {'non-empty ' if non_empty else ''}tuple of distinct names; got {names!r}")
    return names


def _gradient_check(sampler: Any, inputs: list[torch.Tensor], names: tuple[str, ...], seed: int, who: str) -> None:
    """z carries gradients to the encoder's outputs, and every output gets one from z or the extras."""
    straight = ("reparameterise the draw, or pass gradients straight through a non-differentiable step "
                "(z = z_e + (z_q - z_e).detach())")
    z, extras = split_draw(sampler(*inputs, generator=generator(seed)), who)
    # random weights: a sum of z would hide a draw whose rows sum to a constant (a softmax, say)
    through_z = (torch.randn(z.shape, generator=generator(seed + 1)) * z).sum()
    grads = [None] * len(inputs)
    if through_z.requires_grad:
        grads = torch.autograd.grad(through_z, inputs, allow_unused=True, retain_graph=True)
    reached = [g is not None and bool(g.abs().sum() > 0) for g in grads]
    require(any(reached), who, f"z must be differentiable with respect to the encoder's outputs {list(names)}, or the "
                               f"decoder's loss never reaches the encoder: {straight}")
    terms = [v.float().sum() for v in extras.values() if v.is_floating_point() and v.requires_grad]
    if terms and not all(reached):
        for name, g in zip(names, torch.autograd.grad(sum(terms), inputs, allow_unused=True)):
            reached[names.index(name)] |= g is not None and bool(g.abs().sum() > 0)
    missing = [name for name, ok in zip(names, reached) if not ok]
    require(not missing, who, f"no gradient reaches the encoder outputs {missing} from z or the extras: forward must "
                              f"be differentiable with respect to every parameter it consumes ({straight})")


def check_sampler(cls: type, spec: ModelSpec | None = None, settings: dict[str, Any] | None = None,
                  batch_size: int = 4, seed: int = 0, *, params: Sequence[torch.Tensor] | None = None):
    """See the module docstring. ``params`` (one row per encoder output) give the shapes of the encoder outputs
    when they are not latent points (a sampler of logits, say); the check draws random values of those shapes."""
    who = name_of(cls)
    names = _names(cls, "parameter_names", who, non_empty=True)
    extras = _names(cls, "extras", who, non_empty=False)
    spec = dataclasses.replace(spec or DEFAULT_SPEC, parameter_names=names)
    sampler = build_component(cls, "sampler", spec, settings)
    inputs = [p.requires_grad_() for p in random_params(spec, batch_size, seed, params)]
    with failures_as_assertions(who, "forward"):
        first = split_draw(sampler(*inputs, generator=generator(seed)), who)
        again = split_draw(sampler(*inputs, generator=generator(seed)), who)
    check_latent_rows(first[0], spec, batch_size, who, "forward's z")
    check_extras(first[1], extras, who)
    require(torch.equal(first[0], again[0]) and all(torch.equal(v, again[1][k]) for k, v in first[1].items()), who,
            "forward must give equal draws for equally seeded generators (draw noise from `generator`)")
    with failures_as_assertions(who, "forward (for its gradients)"):
        _gradient_check(sampler, inputs, names, seed, who)
    with torch.no_grad(), failures_as_assertions(who, "mean"):
        mean = sampler.mean(*inputs)
        check_tensor(mean, (batch_size, *spec.latent_shape), who, "mean")
        require(torch.equal(mean, sampler.mean(*inputs)), who, "mean must be deterministic")
    check_exportable_sampler(sampler, who)
    with torch.no_grad(), failures_as_assertions(who, "sample_prior"):
        draws = sampler.sample_prior(5, generator=generator(seed))
        check_tensor(draws, (5, *spec.latent_shape), who, "sample_prior(5)")
        require(torch.equal(draws, sampler.sample_prior(5, generator=generator(seed))), who,
                "sample_prior must give equal draws for equally seeded generators")
    if getattr(cls, "fits_prior", False):
        _check_fit_prior(sampler, params, who, seed)
    return sampler


def _check_fit_prior(sampler: Any, params: Sequence[torch.Tensor] | None, who: str, seed: int) -> None:
    """``fit_prior`` on the sampler's codes for spread-out encoder outputs changes the saved state."""
    with torch.no_grad():
        codes = sampler.mean(*random_params(sampler.spec, 512, seed, params, scale=3.0, shift=2.0))
    before = {k: v.clone() for k, v in sampler.state_dict().items()}
    with torch.no_grad(), failures_as_assertions(who, "fit_prior"):
        sampler.fit_prior(codes)
    after = sampler.state_dict()
    require(any(k not in before or not torch.equal(before[k], v) for k, v in after.items()), who,
            "fit_prior must store the fitted prior in buffers saved with the weights (the state_dict)")
    check_prior(sampler.prior(), sampler.spec, f"{who} after fit_prior")
