"""An ex-post Gaussian mixture fitted to a trained model's codes, by k-means++ and EM (no scikit-learn).

Ghosh et al. (2020) fit a 10-component mixture to the training codes of a regularised autoencoder after
training and sample it; ``ExPostMixtureSampler`` does that after each epoch of the first stage
(``fits_prior``), with diagonal components because ``genkit.contract.priors.GaussianMixturePrior`` describes
diagonal ones (the paper's are full). The fit is deterministic for a given ``seed`` setting: k-means++
seeding from a generator of that seed, Lloyd iterations, then EM to convergence, in float64. Every EM
iteration ends with an M-step, which keeps the mixture's overall mean and variance those of the codes.
"""

from __future__ import annotations

import dataclasses
import math

import torch

from genkit.config import field
from genkit.contract.components import Sampler
from genkit.contract.priors import GaussianMixturePrior

LLOYD_ITERATIONS = 10
VARIANCE_FLOOR = 1e-6  # of the codes' own variance: a component on one repeated code keeps a density


def kmeans_plus_plus(x: torch.Tensor, k: int, generator: torch.Generator) -> torch.Tensor:
    """k centres (k, d) of the rows of x (n, d), each drawn with probability ∝ squared distance to the nearest."""
    first = int(torch.randint(len(x), (1,), generator=generator))
    centres = [x[first]]
    nearest = (x - x[first]).square().sum(1)
    for _ in range(1, k):
        total = float(nearest.sum())
        if total <= 0:  # fewer distinct codes than components: repeat one
            index = int(torch.randint(len(x), (1,), generator=generator))
        else:
            index = int(torch.multinomial(nearest / total, 1, generator=generator))
        centres.append(x[index])
        nearest = torch.minimum(nearest, (x - x[index]).square().sum(1))
    return torch.stack(centres)


def fit_gaussian_mixture(x: torch.Tensor, k: int, iterations: int = 200, tolerance: float = 1e-7,
                         seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Weights (k,), means (k, d) and standard deviations (k, d) of a diagonal mixture fitted to x (n, d) by EM.

    EM stops when the mean log-likelihood gains less than ``tolerance`` (relative) in an iteration.
    """
    x = x.double()
    generator = torch.Generator().manual_seed(seed)
    centres = kmeans_plus_plus(x, k, generator)
    for _ in range(LLOYD_ITERATIONS):
        assign = torch.cdist(x, centres).argmin(1)
        counts = torch.bincount(assign, minlength=k).double()
        sums = torch.zeros_like(centres).index_add_(0, assign, x)
        centres = torch.where(counts[:, None] > 0, sums / counts.clamp_min(1)[:, None], centres)
    floor = VARIANCE_FLOOR * x.var(0, correction=0).clamp_min(1e-12)
    responsibilities = torch.nn.functional.one_hot(torch.cdist(x, centres).argmin(1), k).double()
    weights, means, variances = _m_step(x, responsibilities, floor)
    previous = -math.inf
    for _ in range(iterations):
        log_joint = _log_joint(x, weights, means, variances)
        log_likelihood = torch.logsumexp(log_joint, 1)
        responsibilities = torch.exp(log_joint - log_likelihood[:, None])
        weights, means, variances = _m_step(x, responsibilities, floor)
        current = float(log_likelihood.mean())
        if current - previous <= tolerance * abs(current):
            break
        previous = current
    return weights, means, variances.sqrt()


def _log_joint(x, weights, means, variances) -> torch.Tensor:
    """log w_k + log N(x_n; mean_k, diag(var_k)), (n, k)."""
    log_pdf = -0.5 * ((x[:, None, :] - means).square() / variances + variances.log() + math.log(2 * math.pi)).sum(2)
    return log_pdf + weights.clamp_min(1e-300).log()


def _m_step(x, responsibilities, floor):
    counts = responsibilities.sum(0)
    weights = counts / counts.sum()
    safe = counts.clamp_min(1e-300)[:, None]
    means = responsibilities.T @ x / safe
    variances = responsibilities.T @ x.square() / safe - means.square()
    empty = counts <= 1e-12  # a component nobody belongs to: weight 0, placed on the codes as a whole
    if bool(empty.any()):
        means[empty] = x.mean(0)
        variances[empty] = x.var(0, correction=0)
    return weights, means, variances.clamp_min(0) + floor


class ExPostMixtureSampler(Sampler):
    """z = the encoder's code; the prior a Gaussian mixture fitted to the training codes (N(0, I) until then)."""

    parameter_names = ("code",)
    fits_prior = True

    @dataclasses.dataclass(frozen=True)
    class Settings:
        components: int = field(10, "mixture components (the paper's 10)", min=1)
        iterations: int = field(200, "most EM iterations per fit", min=1)
        seed: int = field(0, "seed of the k-means++ initialisation (the fit is deterministic given it)", min=0)

    def __init__(self, spec, **settings):
        super().__init__(spec, **settings)
        k = self.settings.components
        # persistent buffers: the fitted prior is saved with the weights and follows .to()
        self.register_buffer("weights", torch.full((k,), 1.0 / k))
        self.register_buffer("means", torch.zeros((k, *spec.latent_shape)))
        self.register_buffer("stds", torch.ones((k, *spec.latent_shape)))

    def forward(self, code: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return code

    def mean(self, code: torch.Tensor) -> torch.Tensor:
        return code

    def prior(self) -> GaussianMixturePrior:
        return GaussianMixturePrior(self.weights, self.means, self.stds)

    @torch.no_grad()
    def fit_prior(self, codes: torch.Tensor) -> None:
        shape = tuple(self.spec.latent_shape)
        if tuple(codes.shape[1:]) != shape or len(codes) == 0:
            raise ValueError(f"fit_prior expects codes of shape (N >= 1, {', '.join(map(str, shape))}); "
                             f"got {tuple(codes.shape)}")
        s = self.settings
        weights, means, stds = fit_gaussian_mixture(codes.detach().cpu().flatten(1), s.components, s.iterations,
                                                    seed=s.seed)
        self.weights.copy_(weights)
        self.means.copy_(means.reshape(self.means.shape))
        self.stds.copy_(stds.reshape(self.stds.shape))
