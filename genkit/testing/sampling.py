"""Do a sampler's draws follow the distributions it declares?

Two checks, each made of the tests of ``genkit.testing.statistics`` at an overall false-alarm rate of 1e-6 with
fixed seeds:

- ``check_draw_statistics``: draws ``sampler(*params)`` for fixed params, repeated 20,000 times, against the
  distribution the parameters describe, and ``mean(*params)`` against that distribution's mean. The distribution
  comes from ``parameter_names``: ``(mu, log_var)`` is N(mu, exp(log_var)), ``(code,)`` the point mass at the code
  (every draw equals it); other samplers pass ``draw_distribution``, or ``"deterministic"`` when every draw is
  ``mean(*params)`` (a quantiser's nearest codebook entry, say). A sampler drawing K points per image has all
  K·20,000 draws tested.
- ``check_prior_statistics``: ``prior()`` keeps the prior contract (``genkit.testing.priors``) and
  ``sample_prior`` follows it, whatever its family (``genkit.testing.prior_draws``: mixture weights and means,
  categorical code frequencies, a network prior's conditionals). For a sampler that fits its prior, after
  ``fit_prior`` on codes of known spread (or, for a discrete prior, on the sampler's own codes): the fitted
  ``prior()`` must describe those codes (their mean and spread, for a continuous prior; see
  ``prior_draws.check_fitted_codes``), and ``sample_prior`` must follow it.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import torch

from genkit.contract.components import ModelSpec, Sampler
from genkit.testing._asserts import failures_as_assertions, generator, name_of, require, require_close
from genkit.testing.inputs import DEFAULT_SPEC, build_component, check_latent_rows, random_params, split_draw
from genkit.testing.prior_draws import check_fitted_codes, check_prior_draws
from genkit.testing.priors import check_prior
from genkit.testing.statistics import DEFAULT_FALSE_ALARM, check_gaussian_moments

DRAWS = 20_000
"""Draws per test: enough to see a 3 % error in a standard deviation (see genkit.testing.statistics)."""
NETWORK_DRAWS = 2_000
"""Draws from a network prior: each costs one network call per grid position (100 per bin of its χ² tests)."""
FIT_CODES = 4_096

DrawDistribution = Callable[..., tuple[torch.Tensor, torch.Tensor]]
"""``(*params) -> (mean, std)`` of the draws ``sampler(*params)``, each shaped like one point; std 0 is a point mass."""


def gaussian_log_var(mu: torch.Tensor, log_var: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return mu, torch.exp(log_var / 2)


def point_mass(code: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return code, torch.zeros_like(code)


DETERMINISTIC = "deterministic"
"""``draw_distribution`` for a sampler whose every draw is its ``mean(*params)``."""

DRAW_DISTRIBUTIONS: dict[tuple[str, ...], DrawDistribution] = {
    ("mu", "log_var"): gaussian_log_var,
    ("code",): point_mass,
}


def _default_rows(names: tuple[str, ...], spec: ModelSpec, seed: int) -> list[torch.Tensor]:
    """Parameters that make mistakes visible: means away from 0 and log-variances away from 0.

    A log-variance of 0 would hide ``exp(log_var)`` written for ``exp(log_var / 2)`` (both are 1), so the
    log-variances spread over [-2, 1.5]; a spread of means catches draws that ignore ``mu``.
    """
    latent = tuple(spec.latent_shape)
    if names == ("mu", "log_var"):
        return [torch.linspace(-2.0, 2.0, spec.latent_numel).reshape(1, *latent),
                torch.linspace(-2.0, 1.5, spec.latent_numel).reshape(1, *latent)]
    return random_params(spec, 1, seed, scale=2.0)


def _sampler(sampler: Any, spec: ModelSpec | None, settings: dict[str, Any] | None) -> tuple[Sampler, str]:
    if isinstance(sampler, Sampler):
        return sampler, type(sampler).__name__
    names = getattr(sampler, "parameter_names", ())
    spec = dataclasses.replace(spec or DEFAULT_SPEC, parameter_names=tuple(names))
    return build_component(sampler, "sampler", spec, settings), name_of(sampler)


def check_draw_statistics(sampler: Any, spec: ModelSpec | None = None, settings: dict[str, Any] | None = None, *,
                          params: Sequence[torch.Tensor] | None = None,
                          draw_distribution: DrawDistribution | str | None = None, draws: int = DRAWS,
                          false_alarm: float = DEFAULT_FALSE_ALARM, seed: int = 0) -> Sampler:
    """Draws for fixed ``params`` follow the distribution those parameters declare.

    ``sampler`` is a ``Sampler`` class (built from ``spec`` and ``settings``) or instance. ``params`` are one row
    per encoder output, shape (1, ...); the defaults, (1, *latent_shape), spread means and log-variances.
    """
    sampler, who = _sampler(sampler, spec, settings)
    names = tuple(sampler.parameter_names)
    distribution = draw_distribution or DRAW_DISTRIBUTIONS.get(names)
    if distribution == DETERMINISTIC:
        def distribution(*rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            with torch.no_grad():
                code = sampler.mean(*rows)
            return code, torch.zeros_like(code)
    if distribution is None:
        raise TypeError(f"{who}: the distribution of draws for parameter_names {names} is unknown; pass "
                        f"draw_distribution=(*params) -> (mean, std), or 'deterministic' when every draw is "
                        f"mean(*params) (SamplerConformance.draw_distribution)")
    spec = sampler.spec
    rows = [torch.as_tensor(p, dtype=torch.float32) for p in params] if params is not None \
        else _default_rows(names, spec, seed)
    require(all(r.dim() >= 1 and r.shape[0] == 1 for r in rows), who,
            f"params must be one row per encoder output, each (1, ...); got {[tuple(r.shape) for r in rows]}")
    d = spec.latent_numel
    mean, std = (t.reshape(d).double() for t in distribution(*rows))
    with torch.no_grad(), failures_as_assertions(who, "drawing"):
        require_close(sampler.mean(*rows).reshape(d), mean, who,
                      "mean(*params) (the code used at inference) against the mean of the declared distribution",
                      atol=1e-6, rtol=1e-6)  # float32 arithmetic on the same numbers: rounding only
        drawn = sampler(*(r.expand(draws, *r.shape[1:]).contiguous() for r in rows), generator=generator(seed))
    z, _ = split_draw(drawn, who)
    check_latent_rows(z, spec, draws, who, f"forward for {draws} rows")
    z = z.reshape(-1, d)
    fixed = std == 0
    if bool(fixed.any()):
        # a point mass: every draw is the mean itself, up to the rounding of a straight-through z_e + (z_q - z_e)
        close = torch.isclose(z[:, fixed].double(), mean[fixed].expand(len(z), -1), rtol=1e-5, atol=1e-6)
        require(bool(close.all()), who, f"draws of the dimensions {fixed.nonzero().flatten().tolist()[:5]} must "
                                        f"equal the declared point mass (its mean)")
    if bool((~fixed).any()):
        check_gaussian_moments(z[:, ~fixed], mean[~fixed], std[~fixed], who,
                               f"reparameterised draws for parameter_names {names}", false_alarm)
    return sampler


def _sample_prior(sampler: Sampler, n: int, seed: int, who: str, what: str) -> torch.Tensor:
    with torch.no_grad(), failures_as_assertions(who, what):
        z = sampler.sample_prior(n, generator=generator(seed))
    latent = tuple(sampler.spec.latent_shape)
    require(isinstance(z, torch.Tensor) and tuple(z.shape) == (n, *latent), who,
            f"{what} must return ({n}, {', '.join(map(str, latent))}); got "
            f"{tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__}")
    return z


def _draw_count(prior: Any, draws: int) -> int:
    return min(draws, NETWORK_DRAWS) if getattr(prior, "family", "") == "network" else draws


def _fit_codes(sampler: Sampler, params: Sequence[torch.Tensor] | None, seed: int) -> torch.Tensor:
    """Codes to fit a prior to: of known centre and spread per dimension for a continuous prior (so an unfitted
    N(0, I) fails), the sampler's own codes of random encoder outputs for a discrete one."""
    spec = sampler.spec
    if getattr(sampler.prior(), "discrete", False):
        with torch.no_grad():
            return sampler.mean(*random_params(spec, FIT_CODES, seed + 1, params, scale=2.0))
    d = spec.latent_numel
    noise = torch.randn(FIT_CODES, d, generator=generator(seed + 1))
    return (torch.linspace(-2.0, 2.0, d) + torch.linspace(0.5, 3.0, d) * noise).reshape(FIT_CODES, *spec.latent_shape)


def check_prior_statistics(sampler: Any, spec: ModelSpec | None = None, settings: dict[str, Any] | None = None, *,
                           params: Sequence[torch.Tensor] | None = None, draws: int = DRAWS,
                           false_alarm: float = DEFAULT_FALSE_ALARM, seed: int = 0) -> Sampler:
    """``sample_prior`` follows ``prior()``; a fitted prior describes its codes and is what is sampled.

    ``params`` (one row per encoder output) give the shapes of the encoder outputs a discrete sampler's codes are
    made from. An instance is copied before ``fit_prior``, so a model's sampler keeps its prior.
    """
    sampler, who = _sampler(sampler, spec, settings)
    prior = check_prior(sampler.prior(), sampler.spec, who)
    n = _draw_count(prior, draws)
    z = _sample_prior(sampler, n, seed, who, f"sample_prior({n})")
    check_prior_draws(prior, z, who, "sample_prior's draws (against prior())", false_alarm, seed)
    if not getattr(sampler, "fits_prior", False):
        return sampler
    fitted = copy.deepcopy(sampler)
    codes = _fit_codes(fitted, params, seed)
    with torch.no_grad(), failures_as_assertions(who, "fit_prior"):
        fitted.fit_prior(codes)
    prior = check_prior(fitted.prior(), fitted.spec, f"{who} after fit_prior")
    check_fitted_codes(prior, codes, who, "the codes given to fit_prior (against the fitted prior())", false_alarm,
                       seed)
    n = _draw_count(prior, draws)
    z = _sample_prior(fitted, n, seed, who, "sample_prior after fit_prior")
    check_prior_draws(prior, z, who, "sample_prior's draws after fit_prior (against the fitted prior())",
                      false_alarm, seed)
    return sampler
