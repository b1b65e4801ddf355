"""Latent-space diagnostics of a Gaussian encoder: KL per dimension and active units.

Posterior collapse — dimensions the decoder ignores, whose posterior equals the prior for every image —
is the VAE's best-known failure. A dimension is *active* when its posterior mean moves with the input:
Cov_x(E[z_d | x]) > 0.01 (Burda, Grosse and Salakhutdinov, "Importance Weighted Autoencoders", 2016).

Both work on flattened codes: a spatial latent (D, h, w) has D·h·w dimensions, each counted on its own.
The KL has a closed form only against a diagonal Gaussian prior.
"""

from __future__ import annotations

import numpy as np

ACTIVE_THRESHOLD = 0.01


def kl_per_dimension(mu: np.ndarray, log_var: np.ndarray, prior_mean: np.ndarray, prior_std: np.ndarray) -> np.ndarray:
    """The mean over images of KL(N(mu, exp(log_var)) || N(prior_mean, prior_std²)), one value per dimension."""
    mu, log_var = np.asarray(mu, np.float64), np.asarray(log_var, np.float64)
    m, s = np.asarray(prior_mean, np.float64), np.asarray(prior_std, np.float64)
    kl = np.log(s) - log_var / 2 + (np.exp(log_var) + (mu - m) ** 2) / (2 * s * s) - 0.5
    return kl.mean(axis=0)


def active_dimensions(codes: np.ndarray, threshold: float = ACTIVE_THRESHOLD) -> tuple[int, np.ndarray]:
    """How many dimensions' posterior means vary more than ``threshold`` across images, and each variance."""
    variance = np.asarray(codes, np.float64).var(axis=0)
    return int((variance > threshold).sum()), variance


def latent_statistics(source, mu: np.ndarray, log_var: np.ndarray | None) -> dict[str, object]:
    """KL per dimension and active units of flattened codes (N, prod(latent_shape)); nulls with the reason.

    ``mu`` are the posterior means, ``log_var`` the posterior log-variances of a Gaussian encoder (None
    otherwise). Active units need a Gaussian posterior, whose scale the threshold assumes; the KL also
    needs a diagonal Gaussian prior.
    """
    out = {"latent_shape": list(source.latent_shape), "dimensions": int(np.asarray(mu).shape[1]),
           "kl_per_dim": None, "kl_per_dim_mean": None, "active_dims": None,
           "active_threshold": ACTIVE_THRESHOLD, "code_variance": None, "note": None}
    if log_var is None or not source.is_gaussian:
        out["note"] = f"sampler {source.sampler_name!r} is not Gaussian: no posterior to compare with the prior"
        return out
    active, variance = active_dimensions(mu)
    out.update(active_dims=active, code_variance=[float(v) for v in variance])
    if source.prior_mean is None:
        out["note"] = (f"the prior is a {source.prior_family}, not a diagonal Gaussian: the KL per dimension has "
                       f"no closed form")
    else:
        kl = kl_per_dimension(mu, log_var, source.prior_mean.reshape(-1), source.prior_std.reshape(-1))
        out.update(kl_per_dim=[float(v) for v in kl], kl_per_dim_mean=float(kl.mean()))
    return out
