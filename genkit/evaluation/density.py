"""Whether a model defines a density, and the three members that make it up.

A likelihood p(x) = ∫ p(x|z) p(z) dz, and the posterior statistics of ``genkit.evaluation.aggregate``,
need the core's density contract (see ``genkit.contract.components``):

- ``Sampler.log_posterior(z, *params)``: log q(z|x), the proposal of importance sampling;
- ``Loss.log_likelihood(x, x_hat)``: log p(x|z) of the likelihood the loss implies (``Loss.likelihood``
  says which, e.g. the Gaussian whose variance the book's ``r_loss_factor`` implies);
- ``Prior.log_prob(z)``: log p(z).

A member that is not defined raises ``NotImplementedError`` (a deterministic sampler, an MSE-only loss);
a prior over discrete codes scores codes, not latent points. Each is tried once on one image, so a model
without a density is told in one line ("no density: ...") before any work, and the reason names every
member that is missing. The members are the host copies of ``genkit.evaluation.terms``: the trained
model's own for a run folder; for an export, rebuilt from its configuration and checked against the
export's codes (where that cannot be done, the reason says so).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from genkit.evaluation.source import Source


@dataclasses.dataclass
class Density:
    """The host sampler, loss and prior of a source, and what keeps them from defining a density.

    ``gaps`` maps a member (``posterior``, ``likelihood``, ``prior``, or ``source`` when the export cannot
    give the members at all) to the reason; empty when the model has a density.
    """

    sampler: Any
    loss: Any
    prior: Any
    gaps: dict[str, str] = dataclasses.field(default_factory=dict)

    @property
    def likelihood(self) -> str:
        """The decoder likelihood in words, as the loss states it (empty where it states none)."""
        return str(getattr(self.loss, "likelihood", "") or "")

    def missing(self, *members: str) -> str | None:
        """One line saying why ``members`` (all when none are named) are not all defined; None if they are."""
        if "source" in self.gaps:
            return self.gaps["source"]
        reasons = [reason for member, reason in self.gaps.items() if not members or member in members]
        return "no density: " + "; ".join(reasons) if reasons else None


def density_of(source: Source, images: np.ndarray, labels: np.ndarray | None,
               params: dict[str, np.ndarray]) -> Density:
    """The density members of ``source``, each tried on the first of ``images`` (encoded as ``params``)."""
    terms = source.terms
    density = Density(terms.sampler, terms.loss, terms.prior)
    if terms.missing is not None:
        density.gaps["source"] = f"no density from this source: {terms.missing}"
        return density
    tensors = tensors_of(source, params, 1)
    if terms.verify and not terms.matches(source, images[:1], None if labels is None else labels[:1], tensors):
        density.gaps["source"] = f"no density from this export: {terms.missing}"
        return density
    for member, reason in (("posterior", _posterior_gap(density.sampler, tensors)),
                           ("likelihood", _likelihood_gap(density.loss, images[:1])),
                           ("prior", _prior_gap(source, density.prior, density.sampler, tensors))):
        if reason:
            density.gaps[member] = reason
    return density


def tensors_of(source: Source, params: dict[str, np.ndarray], count: int | None = None) -> list:
    """The encoder outputs as float32 CPU tensors in the sampler's order (the first ``count`` rows)."""
    import torch

    return [torch.from_numpy(np.ascontiguousarray(params[name][:count], dtype=np.float32))
            for name in source.parameter_names]


def _posterior_gap(sampler, tensors) -> str | None:
    import torch

    try:
        with torch.no_grad():
            sampler.log_posterior(sampler.mean(*tensors), *tensors)
    except NotImplementedError as exc:
        return str(exc) or f"{type(sampler).__name__} defines no posterior density q(z|x)"
    return None


def _likelihood_gap(loss, images: np.ndarray) -> str | None:
    import torch

    x = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32))
    try:
        with torch.no_grad():
            loss.log_likelihood(x, x)
    except NotImplementedError as exc:
        return str(exc) or f"{type(loss).__name__} implies no decoder likelihood p(x|z)"
    return None


def _prior_gap(source: Source, prior, sampler, tensors) -> str | None:
    import torch

    if prior is None:
        return (f"the export's {source.prior_family} prior is not rebuilt on the host (it is a graph); evaluate "
                f"the run folder")
    if getattr(prior, "discrete", False):
        return f"the {prior.family} prior scores discrete codes, not latent points"
    try:
        with torch.no_grad():
            prior.log_prob(sampler.mean(*tensors))
    except NotImplementedError as exc:
        return str(exc) or f"the {prior.family} prior defines no log_prob"
    return None
