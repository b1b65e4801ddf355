"""The prior contract: what ``Sampler.prior()`` must return so that a model can be exported and generated from.

``genkit export`` does not trace the prior: it writes the prior's description (``describe()``) into the export's
metadata, and the torch-free runtime samples it from there (a ``NetworkPrior`` as the extra graph
``prior.onnx``). So ``prior()`` must return one of the families in ``priors.FAMILIES``, and ``check_prior``
requires, before a user's export would refuse it:

- what the export itself requires (``genkit.onnx.describe.describe_prior``, called here): a family the runtime
  samples, used as it is (not a subclass that samples otherwise), whose JSON description fits the model's
  ``latent_shape``;
- the prior draws points of the model's ``latent_shape``;
- its parameters are valid: finite, standard deviations >= 0, mixture weights >= 0 summing to 1, a codebook
  (M, D) with D = latent_shape[0] and logits (*grid, M) over the grid latent_shape[1:];
- a ``NetworkPrior``'s network maps int64 codes (N, *grid) to finite logits (N, M, *grid), and, when it is
  ``autoregressive``, the logits at a position do not depend on the codes at or after it in raster order (the
  runtime fills the grid one position at a time and would otherwise sample from logits it cannot know yet).

``check_exportable_sampler`` adds the sampler's side: it draws from its prior as ``prior().sample`` does (it does
not override ``sample_prior``), since the runtime draws from the description alone.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from genkit.contract.components import ModelSpec, Sampler
from genkit.contract.priors import CategoricalPrior, DiagonalGaussianPrior, GaussianMixturePrior, NetworkPrior, Prior
from genkit.errors import GenkitError
from genkit.testing._asserts import failures_as_assertions, generator, require

CAUSAL_POSITIONS = 16
"""Grid positions whose code is changed to test an autoregressive network's masking (all, for smaller grids)."""

def export_problem(prior: Any, latent_shape: tuple[int, ...] | None = None) -> str | None:
    """Why ``genkit export`` would refuse ``prior`` (None when it can describe it): the export's own check."""
    from genkit.onnx.describe import describe_prior

    try:
        with torch.no_grad():
            describe_prior(prior, latent_shape)
    except GenkitError as exc:
        return str(exc)
    return None


def _finite(t: torch.Tensor) -> bool:
    return bool(torch.isfinite(t.detach()).all())


def _check_codebook(prior: CategoricalPrior | NetworkPrior, latent: tuple[int, ...], who: str) -> None:
    book = prior.codebook
    require(isinstance(book, torch.Tensor) and book.dim() == 2 and book.shape[0] > 0, who,
            f"the prior's codebook must be an (M, D) tensor; got {tuple(getattr(book, 'shape', ()))}")
    require(_finite(book), who, "the prior's codebook has non-finite values")
    require(book.shape[1] == latent[0], who, f"the prior's codebook entries have {book.shape[1]} values, but a latent "
                                             f"point (latent_shape {latent}) has {latent[0]} channels")


def _check_values(prior: Prior, latent: tuple[int, ...], who: str) -> None:
    if isinstance(prior, DiagonalGaussianPrior):
        for name in ("mean", "std"):
            t = getattr(prior, name)
            require(tuple(t.shape) == latent, who, f"the prior's {name} must have the latent shape {latent}; "
                                                   f"got {tuple(t.shape)}")
            require(_finite(t), who, f"the prior's {name} has non-finite values")
        require(bool((prior.std >= 0).all()), who, "the prior's std has negative values")
    elif isinstance(prior, GaussianMixturePrior):
        w = prior.weights.detach().double()
        require(w.dim() == 1 and len(w) > 0, who, f"the mixture's weights must be a (K,) tensor; got {tuple(w.shape)}")
        for name in ("means", "stds"):
            t = getattr(prior, name)
            require(tuple(t.shape) == (len(w), *latent), who, f"the mixture's {name} must be (K, *latent_shape) = "
                                                              f"{(len(w), *latent)}; got {tuple(t.shape)}")
            require(_finite(t), who, f"the mixture's {name} has non-finite values")
        require(bool((prior.stds >= 0).all()), who, "the mixture's stds have negative values")
        require(_finite(w) and bool((w >= 0).all()) and abs(float(w.sum()) - 1.0) <= 1e-4, who,
                f"the mixture's weights must be >= 0 and sum to 1; got {w.tolist()[:8]} (sum {float(w.sum()):.6g})")
    elif isinstance(prior, CategoricalPrior):
        _check_codebook(prior, latent, who)
        want = (*latent[1:], prior.codebook.shape[0])
        require(tuple(prior.logits.shape) == want, who, f"the categorical prior's logits must be (*grid, M) = {want} "
                                                        f"for latent_shape {latent}; got {tuple(prior.logits.shape)}")
        require(_finite(prior.logits), who, "the categorical prior's logits have non-finite values")
    elif isinstance(prior, NetworkPrior):
        _check_codebook(prior, latent, who)
        require(tuple(prior.grid) == latent[1:], who, f"the network prior's grid must be latent_shape[1:] = "
                                                      f"{latent[1:]}; got {tuple(prior.grid)}")
        require(isinstance(prior.network, torch.nn.Module), who,
                "the network prior's network must be a torch.nn.Module (it is exported as prior.onnx)")
        _check_network(prior, who)


def _network_logits(prior: NetworkPrior, codes: torch.Tensor, who: str) -> torch.Tensor:
    with torch.no_grad(), failures_as_assertions(who, "the network prior's network(codes)"):
        logits = prior.network(codes)
    m, grid = prior.codebook.shape[0], tuple(prior.grid)
    want = (len(codes), m, *grid)
    require(isinstance(logits, torch.Tensor) and tuple(logits.shape) == want, who,
            f"the network prior's network must map int64 codes {tuple(codes.shape)} to logits {want}; got "
            f"{tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__}")
    require(_finite(logits), who, "the network prior's logits have non-finite values")
    return logits


def _check_network(prior: NetworkPrior, who: str, seed: int = 0) -> None:
    network = prior.network
    was_training = network.training
    network.eval()  # generation runs it in eval mode; dropout would make two calls differ
    try:
        _check_masking(prior, who, seed)
    finally:
        network.train(was_training)


def _check_masking(prior: NetworkPrior, who: str, seed: int) -> None:
    m, grid = prior.codebook.shape[0], tuple(prior.grid)
    device = prior.codebook.device
    codes = torch.randint(0, m, (2, *grid), generator=generator(seed)).to(device)
    base = _network_logits(prior, codes, who)
    if not prior.autoregressive or m < 2:
        return
    count = math.prod(grid)
    step = max(1, count // CAUSAL_POSITIONS)
    for position in range(count - 1, -1, -step):  # the last position first: every other one comes before it
        changed = codes.clone().flatten(1)
        changed[:, position] = (changed[:, position] + 1) % m
        logits = _network_logits(prior, changed.view_as(codes), who)
        seen = (logits - base).flatten(2).abs().amax(dim=(0, 1))[: position + 1]  # positions up to the change
        require(not bool((seen > 1e-5 * max(1.0, float(base.abs().max()))).any()), who,
                f"the network prior is autoregressive, but its logits at position "
                f"{int(seen.argmax())} (raster order) change with the code at position {position}: the logits at a "
                f"position may depend only on the codes before it, since the runtime draws one position at a time "
                f"(mask the network, e.g. a PixelCNN's type-A first layer, or set autoregressive=False)")


def check_prior(prior: Any, spec: ModelSpec, who: str) -> Prior:
    """``prior`` keeps the prior contract for a model of ``spec`` (see the module docstring); returns it."""
    latent = tuple(spec.latent_shape)
    problem = export_problem(prior, latent)
    require(problem is None, who, f"the model cannot be exported: {problem}")
    require(tuple(prior.latent_shape) == latent, who, f"prior() draws points of shape {tuple(prior.latent_shape)}, "
                                                      f"but the model's latent_shape is {latent}")
    _check_values(prior, latent, who)
    return prior


def check_exportable_sampler(sampler: Sampler, who: str) -> Prior:
    """The sampler draws from ``prior()`` as the runtime will, and its prior keeps the prior contract."""
    require(type(sampler).sample_prior is Sampler.sample_prior, who,
            "the model cannot be exported: the sampler overrides sample_prior, but the torch-free runtime draws from "
            "the description of prior() alone; express the prior through prior() (one of genkit's prior families) "
            "and leave sample_prior to the base class")
    with failures_as_assertions(who, "prior()"):
        prior = sampler.prior()
    return check_prior(prior, sampler.spec, who)
