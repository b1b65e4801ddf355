"""Do points follow a prior? One test per prior family, each at the overall false-alarm rate asked.

- ``DiagonalGaussianPrior``: the per-dimension moment tests of ``statistics`` (dimensions of std 0 must equal the
  mean exactly).
- ``GaussianMixturePrior``: the weights and the means, through two tests sharing the false-alarm budget. Each
  dimension's probability-integral transform ``F_j(z_j) = Σ_k w_k Φ((z_j - μ_kj) / σ_kj)`` must be uniform (χ² over
  20 bins), which a wrong weight, mean or spread in any dimension breaks; and the mean over the points of each
  component's responsibility ``p(k | z)`` must be its weight (``E[p(k | z)] = w_k`` exactly), which also catches
  points whose dimensions come from different components.
- ``CategoricalPrior``: every point is made of codebook entries, and each grid position's code frequencies follow
  ``softmax(logits)`` there (χ²).
- ``NetworkPrior``: every point is made of codebook entries, and the randomised probability-integral transform of
  each code under the network's conditional at its position (given the codes before it, when autoregressive; given
  an all-zero grid otherwise) is uniform: ``u = F(c - 1) + V · p(c)`` with V uniform is exactly uniform and
  independent across positions for codes drawn the way the runtime draws them (Rosenblatt's transform).

``check_fitted_codes`` asks less of a prior fitted to codes than of draws from it: a fit summarises its codes
rather than reproducing their distribution, so a continuous prior must have the codes' mean and variance in every
dimension (a Gaussian's MLE, a mixture fitted by EM or by k-means with per-cluster spreads all do, exactly; a
standard deviation stored as a variance does not). The tests are z-tests of the codes' mean and variance
against the prior's, with the variance's standard error from the prior's fourth central moment.
"""

from __future__ import annotations

import torch

from genkit.contract.priors import CategoricalPrior, DiagonalGaussianPrior, GaussianMixturePrior, NetworkPrior, Prior
from genkit.testing._asserts import generator, require
from genkit.testing.statistics import (
    DEFAULT_FALSE_ALARM,
    check_frequencies,
    check_gaussian_moments,
    check_means,
    check_uniform,
    two_sided_threshold,
)

CHUNK = 1024  # rows per step where a test holds (rows, components or codes, dimensions) at once


def _gaussian(prior: DiagonalGaussianPrior, z: torch.Tensor, who: str, what: str, false_alarm: float) -> None:
    x = z.detach().double().cpu().reshape(len(z), -1)
    mean = prior.mean.detach().double().cpu().reshape(-1)
    std = prior.std.detach().double().cpu().reshape(-1)
    fixed = std == 0
    if bool(fixed.any()):
        require(torch.equal(x[:, fixed], mean[fixed].expand(len(x), -1)), who,
                f"{what}: the dimensions {fixed.nonzero().flatten().tolist()[:5]} have std 0, so every point must "
                f"equal the prior's mean there")
    if bool((~fixed).any()):
        check_gaussian_moments(x[:, ~fixed], mean[~fixed], std[~fixed], who, what, false_alarm)


def _mixture(prior: GaussianMixturePrior, z: torch.Tensor, who: str, what: str, false_alarm: float) -> None:
    x = z.detach().double().cpu().reshape(len(z), -1)
    w = prior.weights.detach().double().cpu()
    mu = prior.means.detach().double().cpu().reshape(len(w), -1)
    sd = prior.stds.detach().double().cpu().reshape(len(w), -1)
    cdf, responsibilities = [], []
    log_w = w.clamp_min(1e-300).log()
    for rows in x.split(CHUNK):
        d = rows.unsqueeze(1) - mu  # (n, K, dims)
        below = torch.where(sd > 0, torch.special.ndtr(d / sd.clamp_min(1e-300)), (d >= 0).double())
        cdf.append((w[:, None] * below).sum(1))
        log_pdf = torch.distributions.Normal(mu, sd.clamp_min(1e-12)).log_prob(rows.unsqueeze(1)).sum(2)
        responsibilities.append(torch.softmax(log_pdf + log_w, dim=1))
    check_uniform(torch.cat(cdf).T, who, f"{what}: the mixture's per-dimension CDF values at the points",
                  false_alarm / 2)
    check_means(torch.cat(responsibilities), w, who, f"{what}: the mean responsibility p(k | z) of a component must "
                                                     f"be its weight", false_alarm / 2, label="component")


def codes_of(codebook: torch.Tensor, z: torch.Tensor, who: str, what: str) -> torch.Tensor:
    """The codebook indices (N, *grid) of points (N, D, *grid) made of codebook entries."""
    book = codebook.detach().double().cpu()
    flat = z.detach().double().cpu().movedim(1, -1).reshape(-1, book.shape[1]) if z.dim() > 2 else \
        z.detach().double().cpu()
    index, gap = [], []
    for rows in flat.split(CHUNK):
        distance = torch.cdist(rows, book)
        best = distance.min(dim=1)
        index.append(best.indices)
        gap.append(best.values)
    gap_max = float(torch.cat(gap).max()) if gap else 0.0
    require(gap_max <= 1e-5 * max(1.0, float(book.abs().max())), who,
            f"{what} must be made of the prior's codebook entries (a discrete prior draws codes); a point is "
            f"{gap_max:.3g} away from the nearest entry")
    return torch.cat(index).reshape(len(z), *z.shape[2:])


def _categorical(prior: CategoricalPrior, z: torch.Tensor, who: str, what: str, false_alarm: float) -> None:
    codes = codes_of(prior.codebook, z, who, what).reshape(len(z), -1)
    m = prior.codebook.shape[0]
    counts = torch.zeros(codes.shape[1], m, dtype=torch.float64)
    counts.scatter_add_(1, codes.T, torch.ones(codes.T.shape, dtype=torch.float64))
    probs = torch.softmax(prior.logits.detach().double().cpu(), dim=-1).reshape(-1, m)
    check_frequencies(counts, probs, who, f"{what}: the codes", false_alarm, group="position", cell="code")


def _network(prior: NetworkPrior, z: torch.Tensor, who: str, what: str, false_alarm: float, seed: int) -> None:
    codes = codes_of(prior.codebook, z, who, what)
    network, device = prior.network, prior.codebook.device
    was_training = network.training
    network.eval()
    below, at = [], []
    try:
        with torch.no_grad():
            for rows in codes.split(CHUNK):
                given = rows if prior.autoregressive else torch.zeros_like(rows)
                probs = torch.softmax(network(given.to(device)).double().cpu(), dim=1)  # (n, M, *grid)
                probs = probs.movedim(1, -1).reshape(len(rows), -1, probs.shape[1])  # (n, positions, M)
                flat = rows.reshape(len(rows), -1, 1)
                p_code = probs.gather(2, flat).squeeze(2)
                below.append(probs.cumsum(2).gather(2, flat).squeeze(2) - p_code)
                at.append(p_code)
    finally:
        network.train(was_training)
    # V from its own stream: the seed's own uniforms may be the very ones that drew the codes
    v = torch.rand(len(codes), codes[0].numel(), generator=generator(seed + 1_000_003), dtype=torch.float64)
    u = (torch.cat(below) + v * torch.cat(at)).clamp(0.0, 1.0)
    context = "given the codes before it" if prior.autoregressive else "given an all-zero grid"
    check_uniform(u.T, who, f"{what}: the randomised CDF values of each position's code under the network's "
                            f"conditional ({context})", false_alarm, group="position")


def _mixture_moments(prior: GaussianMixturePrior, z: torch.Tensor, who: str, what: str, false_alarm: float) -> None:
    x = z.detach().double().cpu().reshape(len(z), -1)
    w = prior.weights.detach().double().cpu()[:, None]
    mu = prior.means.detach().double().cpu().reshape(len(w), -1)
    var_k = prior.stds.detach().double().cpu().reshape(len(w), -1).square()
    mean = (w * mu).sum(0)
    d = mu - mean
    var = (w * (var_k + d.square())).sum(0)
    fourth = (w * (d.pow(4) + 6 * d.square() * var_k + 3 * var_k.square())).sum(0)
    n = len(x)
    sample_var = x.var(dim=0, correction=1)
    z_mean = (x.mean(0) - mean) / (var / n).sqrt().clamp_min(1e-300)
    z_var = (sample_var - var) / ((fourth - var.square()).clamp_min(0) / n).sqrt().clamp_min(1e-300)
    threshold = two_sided_threshold(false_alarm, 2 * x.shape[1])
    for label, stat, got, want in (("mean", z_mean, x.mean(0), mean), ("std", z_var, sample_var.sqrt(), var.sqrt())):
        i = int(stat.abs().argmax())
        require(abs(float(stat[i])) <= threshold, who,
                f"{what} do not have the mixture's mean and spread: dimension {i}: sample {label} {float(got[i]):.4g} "
                f"against {float(want[i]):.4g} (z = {float(stat[i]):.1f}; |z| above {threshold:.2f} is rejected, "
                f"{2 * x.shape[1]} tests of {n} points, overall false-alarm rate {false_alarm:g})")


def check_fitted_codes(prior: Prior, codes: torch.Tensor, who: str, what: str,
                       false_alarm: float = DEFAULT_FALSE_ALARM, seed: int = 0) -> None:
    """The codes a prior was fitted to against it (see the module docstring): moments for a continuous prior."""
    if isinstance(prior, GaussianMixturePrior):
        _mixture_moments(prior, codes, who, what, false_alarm)
    else:
        check_prior_draws(prior, codes, who, what, false_alarm, seed)


def check_prior_draws(prior: Prior, z: torch.Tensor, who: str, what: str,
                      false_alarm: float = DEFAULT_FALSE_ALARM, seed: int = 0) -> None:
    """Raise ``AssertionError`` when the points ``z`` (n, *latent_shape) reject ``prior`` (see the module docstring)."""
    require(bool(torch.isfinite(z).all()), who, f"{what} hold non-finite values")
    if isinstance(prior, DiagonalGaussianPrior):
        _gaussian(prior, z, who, what, false_alarm)
    elif isinstance(prior, GaussianMixturePrior):
        _mixture(prior, z, who, what, false_alarm)
    elif isinstance(prior, CategoricalPrior):
        _categorical(prior, z, who, what, false_alarm)
    elif isinstance(prior, NetworkPrior):
        _network(prior, z, who, what, false_alarm, seed)
    else:
        raise AssertionError(f"{who}: {what}: no test for a prior of type {type(prior).__name__}")
