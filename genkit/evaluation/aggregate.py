"""Statistics of the aggregate posterior q(z) = (1/N) Σ_n q(z|x_n): mutual information and total correlation.

With one draw z_i ~ q(z|x_i) per evaluated image and q(z_i) estimated by minibatch-weighted sampling over
the whole evaluation set (Chen et al. 2018, "Isolating Sources of Disentanglement in VAEs"; with the set
as the batch the weight is 1/N, and the estimate is the mixture density itself),

    log q(z_i)     = logsumexp_j log q(z_i | x_j) - log N
    log q(z_i,d)   = logsumexp_j log q(z_i,d | x_j) - log N        (each dimension d)

- expected KL      E_x[KL(q(z|x) || p(z))]   = E[log q(z_i|x_i) - log p(z_i)]
- aggregate KL     KL(q(z) || p(z))          = E[log q(z_i) - log p(z_i)]
- mutual info.     I(x; z) = expected KL - aggregate KL = E[log q(z_i|x_i) - log q(z_i)]
                   (Hoffman and Johnson 2016, "ELBO surgery"); at most log N with this estimator
- total corr.      TC = KL(q(z) || Π_d q(z_d)) = E[log q(z_i) - Σ_d log q(z_i,d)]
- dimension-wise   E[Σ_d log q(z_i,d) - log p(z_i)]; the three add up to the expected KL.

The per-dimension marginals need a factorised posterior: the diagonal Gaussian (``mu``, ``log_var``) of
the samplers that define ``log_posterior``. Pairs are scored in float64, CHUNK_ELEMENTS at a time.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from genkit.evaluation.density import Density
    from genkit.evaluation.source import Source

AGGREGATE_IMAGES = 10000  # the first N evaluated images: N² pairs of N·D numbers each (~6 s for 10,000 at D = 16)
CHUNK_ELEMENTS = 1 << 22  # (rows, N, D) float64 entries held at once: 32 MB
AGGREGATE_STREAM = 3  # numpy seed-sequence key of the draws z_i ~ q(z|x_i)
LOG_2PI = math.log(2.0 * math.pi)
ESTIMATOR = ("minibatch-weighted sampling over the evaluated images (Chen et al. 2018): one draw per image, "
             "q(z) the mixture of their posteriors; mutual information at most log N")


def _rows(t):
    import torch

    return torch.as_tensor(np.asarray(t) if not isinstance(t, torch.Tensor) else t).double().flatten(1)


def _wide_rows(t):
    """A tensor as (N, D) in its own precision, float32 at least, so that a loss keeps its gradients; anything
    else as float64 (``_rows``)."""
    import torch

    if isinstance(t, torch.Tensor):
        return t.to(torch.promote_types(t.dtype, torch.float32)).flatten(1)
    return _rows(t)


def aggregate_log_density(z, mu, log_var, log_normaliser: float | None = None) -> tuple[Any, Any]:
    """log q(z_i) and Σ_d log q(z_i,d) (M,) under the mixture of the N diagonal Gaussians (mu, log_var).

    ``log_normaliser`` is log N (the mixture density itself) unless given: β-TCVAE's training loss passes its
    minibatch-weighted sampling normaliser log(dataset size · M). Tensors keep their precision (float32 at
    least) and their gradients; arrays are scored in float64.
    """
    import torch

    z, mu, log_var = _wide_rows(z), _wide_rows(mu), _wide_rows(log_var)
    count, size = mu.shape
    normaliser = math.log(count) if log_normaliser is None else log_normaliser
    inv_var = torch.exp(-log_var)
    chunk = max(1, CHUNK_ELEMENTS // max(count * size, 1))
    joint, marginal = [], []
    for part in torch.split(z, chunk):
        per_dim = -0.5 * (LOG_2PI + log_var + (part[:, None, :] - mu).square() * inv_var)  # (m, N, D)
        joint.append(torch.logsumexp(per_dim.sum(2), dim=1) - normaliser)
        marginal.append((torch.logsumexp(per_dim, dim=1) - normaliser).sum(1))
    return torch.cat(joint), torch.cat(marginal)


def information(z, mu, log_var, log_prior) -> dict[str, float]:
    """The statistics of the module doc from draws z_i ~ N(mu_i, exp(log_var_i)) and log p(z_i) (N,)."""
    import torch

    z, mu, log_var = _rows(z), _rows(mu), _rows(log_var)
    log_prior = torch.as_tensor(np.asarray(log_prior) if not isinstance(log_prior, torch.Tensor)
                                else log_prior).double()
    log_posterior = (-0.5 * (LOG_2PI + log_var + (z - mu).square() * torch.exp(-log_var))).sum(1)
    log_q, log_marginals = aggregate_log_density(z, mu, log_var)
    return {"mutual_information": float((log_posterior - log_q).mean()),
            "total_correlation": float((log_q - log_marginals).mean()),
            "dimension_wise_kl": float((log_marginals - log_prior).mean()),
            "expected_kl": float((log_posterior - log_prior).mean()),
            "aggregate_kl": float((log_q - log_prior).mean())}


def empty(note: str, images: int = 0) -> dict[str, Any]:
    return {"mutual_information": None, "total_correlation": None, "dimension_wise_kl": None, "expected_kl": None,
            "aggregate_kl": None, "images": images, "estimator": ESTIMATOR, "note": note}


def aggregate_statistics(source: Source, density: Density | None, mu: np.ndarray | None,
                         log_var: np.ndarray | None, seed: int = 0) -> dict[str, Any]:
    """MI, TC and the KL parts of ``source``'s posteriors (mu, log_var) over the evaluated images.

    ``density`` is the source's (``genkit.evaluation.density``): without a posterior density or a diagonal
    Gaussian posterior the numbers are None and ``note`` says why.
    """
    import torch

    if density is None:
        return empty("no posterior statistics: no images were encoded")
    missing = density.missing("posterior", "prior")
    if missing:
        return empty(f"no posterior statistics: {missing}")
    if mu is None or log_var is None or not source.is_gaussian:
        return empty(f"no posterior statistics: sampler {source.sampler_name!r} gives no diagonal Gaussian posterior "
                     f"(mu, log_var), whose dimensions the total correlation needs")
    mu_t = torch.from_numpy(np.asarray(mu, np.float32)).reshape(len(mu), *source.latent_shape)
    log_var_t = torch.from_numpy(np.asarray(log_var, np.float32)).reshape(len(mu), *source.latent_shape)
    generator = torch.Generator().manual_seed(int(np.random.default_rng([seed, AGGREGATE_STREAM]).integers(0, 2**62)))
    with torch.no_grad():
        z = mu_t + torch.exp(log_var_t / 2) * torch.randn(mu_t.shape, generator=generator)
        log_prior = density.prior.log_prob(z).double()
    return {**information(z, mu_t, log_var_t, log_prior), "images": len(mu), "estimator": ESTIMATOR, "note": None}
