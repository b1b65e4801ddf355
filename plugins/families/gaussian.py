"""The Gaussian densities every family's objective is made of, each written once.

- ``log_normal``: log N(z; mu, exp(log_var)) of each row, summed over the latent dimensions.
- ``genkit_plugins.vae.loss.decoder_log_likelihood`` (beside the book's loss it belongs to): log p(x | z) of the
  book's decoder. Its loss, ``r_loss_factor`` times the
  per-image MSE, is the negative log-likelihood of a Gaussian decoder N(x; x_hat, sigma² I) up to a
  constant, with sigma² = D / (2 r) for D pixels: r · mean((x - x_hat)²) = ||x - x_hat||² / (2 sigma²).
  The IWAE bound and the importance-sampled likelihood need the constant, so it is kept here.

Everything is computed in float32 at least (float64 for a float64 model), whatever autocast chose for the
networks, so bounds stay accurate.
"""

from __future__ import annotations

import math

import torch

LOG_2PI = math.log(2 * math.pi)


def wide(t: torch.Tensor) -> torch.Tensor:
    """``t`` in float32, or float64 when it is float64 (a float16/bfloat16 tensor from autocast is widened)."""
    return t.to(torch.promote_types(t.dtype, torch.float32))


def rows(t: torch.Tensor) -> torch.Tensor:
    """(N, ...) as (N, prod(...)) in float32 or wider: the view the per-dimension sums take."""
    return wide(t).flatten(1)


def log_normal(z: torch.Tensor, mu: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """log N(z; mu, diag(exp(log_var))) per row (N,), summed over every latent dimension."""
    z, mu, log_var = rows(z), rows(mu), rows(log_var)
    return -0.5 * (LOG_2PI + log_var + (z - mu).square() * torch.exp(-log_var)).sum(1)


def log_standard_normal(z: torch.Tensor) -> torch.Tensor:
    """log N(z; 0, I) per row (N,)."""
    z = rows(z)
    return -0.5 * (LOG_2PI + z.square()).sum(1)
