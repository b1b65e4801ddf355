"""Do a sampler's draws follow the distributions it declares?

Two checks, each a one-sample test of ``genkit.testing.statistics`` at an overall false-alarm rate of
1e-6 with fixed seeds:

- ``check_draw_statistics``: reparameterised draws ``sampler(*params)`` for fixed params, repeated
  20,000 times, against the distribution the parameters describe. ``mean(*params)`` must be that
  distribution's mean. The distribution comes from ``parameter_names``: ``(mu, log_var)`` is
  N(mu, exp(log_var)), ``(code,)`` is the point mass at the code (draws equal to it); other samplers
  pass ``draw_distribution``.
- ``check_prior_statistics``: ``sample_prior`` against the diagonal Gaussian ``prior()`` declares,
  and for a sampler that fits its prior, after ``fit_prior`` on codes of known spread: the fitted
  ``prior()`` must describe those codes and ``sample_prior`` must follow the fitted prior.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import torch

from genkit.components import ModelSpec, Sampler
from genkit.testing._asserts import failures_as_assertions, generator, name_of, require, require_close
from genkit.testing.components import DEFAULT_SPEC, build_component
from genkit.testing.statistics import DEFAULT_FALSE_ALARM, check_gaussian_moments

DRAWS = 20_000
"""Draws per test: enough to see a 3 % error in a standard deviation (see genkit.testing.statistics)."""

DrawDistribution = Callable[..., tuple[torch.Tensor, torch.Tensor]]
"""``(*params) -> (mean, std)`` of the draws ``sampler(*params)``; std 0 is a point mass."""


def gaussian_log_var(mu: torch.Tensor, log_var: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return mu, torch.exp(log_var / 2)


def point_mass(code: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return code, torch.zeros_like(code)


DRAW_DISTRIBUTIONS: dict[tuple[str, ...], DrawDistribution] = {
    ("mu", "log_var"): gaussian_log_var,
    ("code",): point_mass,
}


def _default_params(names: tuple[str, ...], z_dim: int, seed: int) -> list[torch.Tensor]:
    """Parameters that make mistakes visible: means away from 0 and log-variances away from 0.

    A log-variance of 0 would hide ``exp(log_var)`` written for ``exp(log_var / 2)`` (both are 1), so
    the log-variances spread over [-2, 1.5]; a spread of means catches draws that ignore ``mu``.
    """
    if names == ("mu", "log_var"):
        return [torch.linspace(-2.0, 2.0, z_dim).unsqueeze(0), torch.linspace(-2.0, 1.5, z_dim).unsqueeze(0)]
    gen = generator(seed)
    return [2.0 * torch.randn(1, z_dim, generator=gen) for _ in names]


def _sampler(sampler: Any, spec: ModelSpec | None, settings: dict[str, Any] | None) -> tuple[Sampler, str]:
    if isinstance(sampler, Sampler):
        return sampler, type(sampler).__name__
    names = getattr(sampler, "parameter_names", ())
    spec = dataclasses.replace(spec or DEFAULT_SPEC, parameter_names=tuple(names))
    return build_component(sampler, "sampler", spec, settings), name_of(sampler)


def check_draw_statistics(sampler: Any, spec: ModelSpec | None = None, settings: dict[str, Any] | None = None, *,
                          params: Sequence[torch.Tensor] | None = None,
                          draw_distribution: DrawDistribution | None = None, draws: int = DRAWS,
                          false_alarm: float = DEFAULT_FALSE_ALARM, seed: int = 0) -> Sampler:
    """Reparameterised draws for fixed ``params`` follow the distribution those parameters declare.

    ``sampler`` is a ``Sampler`` class (built from ``spec`` and ``settings``) or instance. ``params``
    are one row per encoder output, shape (1, z_dim); the defaults spread means and log-variances.
    """
    sampler, who = _sampler(sampler, spec, settings)
    names = tuple(sampler.parameter_names)
    distribution = draw_distribution or DRAW_DISTRIBUTIONS.get(names)
    if distribution is None:
        raise TypeError(f"{who}: the distribution of draws for parameter_names {names} is unknown; pass "
                        f"draw_distribution=(*params) -> (mean, std) (SamplerConformance.draw_distribution)")
    z_dim = sampler.spec.z_dim
    rows = [torch.as_tensor(p, dtype=torch.float32).reshape(1, z_dim) for p in params] if params is not None \
        else _default_params(names, z_dim, seed)
    mean, std = (t.reshape(z_dim).double() for t in distribution(*rows))
    with torch.no_grad(), failures_as_assertions(who, "drawing"):
        require_close(sampler.mean(*rows).reshape(z_dim), mean, who,
                      "mean(*params) (the code used at inference) against the mean of the declared distribution",
                      atol=1e-6, rtol=1e-6)  # float32 arithmetic on the same numbers: rounding only
        z = sampler(*(r.expand(draws, z_dim).contiguous() for r in rows), generator=generator(seed))
    require(tuple(z.shape) == (draws, z_dim), who, f"forward must return ({draws}, {z_dim}); got {tuple(z.shape)}")
    fixed = std == 0
    if bool(fixed.any()):
        # a point mass: every draw is the mean itself
        require(torch.equal(z[:, fixed].double(), mean[fixed].expand(draws, -1)), who,
                f"draws of the dimensions {fixed.nonzero().flatten().tolist()[:5]} must equal the declared "
                f"point mass (its mean)")
    if bool((~fixed).any()):
        check_gaussian_moments(z[:, ~fixed], mean[~fixed], std[~fixed], who,
                               f"reparameterised draws for parameter_names {names}", false_alarm)
    return sampler


def _declared_prior(sampler: Sampler, who: str) -> tuple[torch.Tensor, torch.Tensor]:
    prior = sampler.prior()
    z_dim = sampler.spec.z_dim
    require(isinstance(prior, dict) and {"mean", "std"} <= set(prior), who,
            f"prior() must give the diagonal Gaussian's 'mean' and 'std'; got {sorted(prior)}")
    mean, std = prior["mean"], prior["std"]
    require(tuple(mean.shape) == (z_dim,) and tuple(std.shape) == (z_dim,), who,
            f"prior() mean and std must have shape ({z_dim},); got {tuple(mean.shape)}, {tuple(std.shape)}")
    require(bool((std > 0).all()) and bool(torch.isfinite(mean).all()), who,
            f"prior() std must be positive and mean finite; got std {std.tolist()[:5]}")
    return mean.detach(), std.detach()


def check_prior_statistics(sampler: Any, spec: ModelSpec | None = None, settings: dict[str, Any] | None = None, *,
                           draws: int = DRAWS, false_alarm: float = DEFAULT_FALSE_ALARM, seed: int = 0) -> Sampler:
    """``sample_prior`` follows ``prior()``; a fitted prior describes its codes and is what is sampled.

    An instance is copied before ``fit_prior``, so a model's sampler keeps its prior.
    """
    sampler, who = _sampler(sampler, spec, settings)
    z_dim = sampler.spec.z_dim
    mean, std = _declared_prior(sampler, who)
    with torch.no_grad(), failures_as_assertions(who, "sample_prior"):
        z = sampler.sample_prior(draws, generator=generator(seed))
    require(tuple(z.shape) == (draws, z_dim), who, f"sample_prior({draws}) must return ({draws}, {z_dim}); "
                                                   f"got {tuple(z.shape)}")
    check_gaussian_moments(z, mean, std, who, "sample_prior's draws (against prior())", false_alarm)
    if not getattr(sampler, "fits_prior", False):
        return sampler
    fitted = copy.deepcopy(sampler)
    # codes with a different centre and spread per dimension, so an unfitted N(0, I) prior fails
    gen = generator(seed + 1)
    codes = torch.linspace(-2.0, 2.0, z_dim) + torch.linspace(0.5, 3.0, z_dim) * torch.randn(4096, z_dim, generator=gen)
    with torch.no_grad(), failures_as_assertions(who, "fit_prior"):
        fitted.fit_prior(codes)
    mean, std = _declared_prior(fitted, who)
    check_gaussian_moments(codes, mean, std, who, "the codes given to fit_prior (against the fitted prior())",
                           false_alarm)
    with torch.no_grad(), failures_as_assertions(who, "sample_prior after fit_prior"):
        z = fitted.sample_prior(draws, generator=generator(seed))
    check_gaussian_moments(z, mean, std, who, "sample_prior's draws after fit_prior (against the fitted prior())",
                           false_alarm)
    return sampler
