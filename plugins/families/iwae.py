"""IWAE (Burda, Grosse and Salakhutdinov 2016): K importance samples per image and the bound they give.

The sampler draws K points z_k = mu + sigma·eps_k from q(z|x) for every image and returns, beside them,
log q(z_k|x) and log p(z_k) as extras. The loss is the negative importance-weighted bound

    L_K = E[ log (1/K) Σ_k p(x|z_k) p(z_k) / q(z_k|x) ],

in nats, with the book's decoder likelihood (``ImpliedGaussianLikelihood.log_likelihood``); L_1 is
the ELBO and L_K rises to log p(x) as K grows. Rows are laid out as the core expects: the first N rows the first draw of
each image, and so on, so the decoder sees K·N rows (the model repeats a conditional model's labels).
"""

from __future__ import annotations

import dataclasses
import math

import torch

from genkit.config import field
from genkit.contract.components import Loss, SamplerOutput
from genkit_plugins.vae.loss import ImpliedGaussianLikelihood, per_image_mse
from genkit_plugins.vae.sampler import GaussianSampler, standard_normal_like

from .gaussian import log_normal, log_standard_normal, wide


def iwae_bound(log_weights: torch.Tensor, samples: int) -> torch.Tensor:
    """log (1/K) Σ_k exp(log w_k) per image (N,) from K·N log-weights laid out draw by draw."""
    return torch.logsumexp(log_weights.reshape(samples, -1), dim=0) - math.log(samples)


class ImportanceSampler(GaussianSampler):
    """K reparameterised draws per image from N(mu, exp(log_var)); the prior N(0, I) (the VAE's)."""

    extras = ("log_q", "log_p")

    @dataclasses.dataclass(frozen=True)
    class Settings:
        samples: int = field(5, "importance samples K drawn per image", min=1)

    def forward(self, mu: torch.Tensor, log_var: torch.Tensor,
                generator: torch.Generator | None = None) -> SamplerOutput:
        k = self.settings.samples
        mu_k, log_var_k = mu.repeat(k, *([1] * (mu.dim() - 1))), log_var.repeat(k, *([1] * (log_var.dim() - 1)))
        z = mu_k + torch.exp(log_var_k / 2) * standard_normal_like(mu_k, generator)
        # log p(z) of the prior N(0, I) directly: Prior.log_prob computes in float32 whatever the model's dtype
        return SamplerOutput(z, {"log_q": log_normal(z, mu_k, log_var_k), "log_p": log_standard_normal(z)})


class IWAELoss(ImpliedGaussianLikelihood, Loss):
    """``loss = -L_K`` per image, averaged; also the ELBO of the same draws and its parts."""

    terms = ("loss", "iwae_bound", "elbo", "log_likelihood", "kl", "mse")
    needs_extras = ("log_q", "log_p")

    @dataclasses.dataclass(frozen=True)
    class Settings:
        r_loss_factor: float = field(1000.0, "the book's MSE weight, which sets the Gaussian decoder's variance "
                                             "sigma² = pixels / (2 r)", min=1e-12)

    def forward(self, x, out):
        missing = [name for name in ("log_q", "log_p") if name not in out.extras]
        if missing:
            raise ValueError(f"the iwae loss needs the sampler's extras log_q and log_p (the 'importance' sampler); "
                             f"missing {missing}")
        samples = len(out.z) // len(x)
        log_likelihood = self.log_likelihood(x, out.x_hat)  # the density the evaluation scores too
        kl = wide(out.extras["log_q"]) - wide(out.extras["log_p"])
        log_weights = log_likelihood - kl
        bound = iwae_bound(log_weights, samples).mean()
        repeated = x.repeat(samples, *([1] * (x.dim() - 1)))
        return {"loss": -bound, "iwae_bound": bound, "elbo": log_weights.mean(),
                "log_likelihood": log_likelihood.mean(), "kl": kl.mean(),
                "mse": per_image_mse(repeated, out.x_hat).mean()}
