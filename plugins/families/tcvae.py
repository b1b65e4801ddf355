"""β-TCVAE (Chen et al. 2018): the KL term split in three, the total correlation weighted by β.

E_x[KL(q(z|x) || p(z))] = I(x; z) + TC(z) + Σ_d KL(q(z_d) || p(z_d)), with q(z) the aggregate posterior:

- index-code mutual information  MI = E[log q(z|x) - log q(z)],
- total correlation              TC = E[log q(z) - log Π_d q(z_d)],
- dimension-wise KL              DKL = E[log Π_d q(z_d) - log p(z)].

``loss = r_loss_factor · mse + α·MI + β·TC + γ·DKL`` (the paper's α = γ = 1). log q(z) is estimated on the
minibatch with the paper's minibatch-weighted sampling (MWS): for the M draws z_i of a batch from a
training set of N images, log q(z_i) ≈ logsumexp_j log q(z_i | x_j) - log(N·M), and log q(z_id) likewise
per dimension. With that normaliser (the paper's and its code's) MI and TC carry the constants log N and
(D - 1)·log N and DKL their negative: the three still add up to the KL estimate, and the gradients are
those of the paper. The mixture density is the evaluation's own (``genkit.evaluation.aggregate``), which
uses the whole data set as the batch and normaliser log N (then it is the aggregate posterior's density).
"""

from __future__ import annotations

import dataclasses
import math

import torch

from genkit.config import field
from genkit.contract.components import Loss, ModelSpec
from genkit.evaluation.aggregate import aggregate_log_density
from genkit_plugins.vae.loss import ImpliedGaussianLikelihood, per_image_mse, require_gaussian_posterior

from .gaussian import log_normal, log_standard_normal


def tc_decomposition(z: torch.Tensor, mu: torch.Tensor, log_var: torch.Tensor,
                     dataset_size: int) -> dict[str, torch.Tensor]:
    """The batch means of MI, TC and DKL for draws z of the posteriors (mu, log_var), by MWS (see the module)."""
    batch = len(z)
    log_qz_x = log_normal(z, mu, log_var)
    log_qz, log_prod = aggregate_log_density(z, mu, log_var, math.log(dataset_size * batch))
    log_pz = log_standard_normal(z)
    return {"mi": (log_qz_x - log_qz).mean(), "tc": (log_qz - log_prod).mean(), "dkl": (log_prod - log_pz).mean()}


class TCVAELoss(ImpliedGaussianLikelihood, Loss):
    terms = ("loss", "reconstruction", "mi", "tc", "dkl", "kl", "mse")
    # MI, TC and DKL estimate log q(z) on the minibatch; their sum kl, where log q(z) cancels, is per image
    batch_terms = ("loss", "mi", "tc", "dkl")

    @dataclasses.dataclass(frozen=True)
    class Settings:
        r_loss_factor: float = field(1000.0, "weight of the per-image MSE (the book's)", min=0.0)
        alpha: float = field(1.0, "weight of the index-code mutual information", min=0.0)
        beta: float = field(6.0, "weight of the total correlation", min=0.0)
        gamma: float = field(1.0, "weight of the dimension-wise KL", min=0.0)
        dataset_size: int = field(60000, "training images N of the minibatch-weighted sampling estimator", min=1)

    def __init__(self, spec: ModelSpec, **settings):
        super().__init__(spec, **settings)
        require_gaussian_posterior(spec, "beta-tcvae")

    def forward(self, x, out):
        s = self.settings
        mse = per_image_mse(x, out.x_hat).mean()
        mu, log_var = out.params["mu"], out.params["log_var"]
        parts = tc_decomposition(out.z, mu, log_var, s.dataset_size)
        reconstruction = s.r_loss_factor * mse
        loss = reconstruction + s.alpha * parts["mi"] + s.beta * parts["tc"] + s.gamma * parts["dkl"]
        kl = parts["mi"] + parts["tc"] + parts["dkl"]  # the sampled KL the three split; logged to compare with vae's
        return {"loss": loss, "reconstruction": reconstruction, **parts, "kl": kl, "mse": mse}
