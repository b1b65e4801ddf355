"""A linear Gaussian model, probabilistic PCA (Tipping and Bishop 1999), as a fixture plugin with known answers.

    z ~ N(0, I_q),  x | z ~ N(b + W z, σ² I_D)   ⇒   p(x) = N(x; b, W Wᵀ + σ² I_D)

and the exact posterior is Gaussian: q(z|x) = N(M⁻¹ Wᵀ (x - b), σ² M⁻¹) with M = WᵀW + σ² I_q, diagonal
when W's columns are orthogonal (as here), so the Gaussian sampler's diagonal posterior can be exact.

The encoder is linear (one head for mu, one for log_var whose weights are zero: a constant variance),
the decoder is linear, the loss is the Gaussian likelihood with the known σ plus the closed-form KL, and
the sampler is the VAE's (standard normal prior, ``log_posterior``). ``set_parameters`` writes W, b and
σ's posterior into a model; ``inexact`` scales the posterior's spread and shifts its mean, so the
encoder is a proposal that is not the posterior and the importance-sampling estimate has work to do.
"""

from __future__ import annotations

import copy
import dataclasses
import math

import numpy as np
import torch
from torch import nn

from genkit.config import field
from genkit.contract.components import Decoder, Encoder, Loss
from genkit.contract.host import get_registry
from genkit.contract.registry import Registry

SHAPE = (1, 28, 28)
LATENT = 2
SIGMA = 0.5


class LinearEncoder(Encoder):
    def __init__(self, spec, **settings):
        super().__init__(spec, **settings)
        pixels = math.prod(spec.input_shape)
        self.heads = nn.ModuleDict({name: nn.Linear(pixels, spec.latent_numel) for name in spec.parameter_names})

    @property
    def feature_shape(self):
        return tuple(self.spec.input_shape)

    def forward(self, x, *condition):
        return tuple(self.heads[name](x.flatten(1)) for name in self.spec.parameter_names)


class LinearDecoder(Decoder):
    def __init__(self, spec, **settings):
        super().__init__(spec, **settings)
        self.body = nn.Linear(spec.latent_numel, math.prod(spec.input_shape))

    def forward(self, z, *condition):
        return self.body(z.flatten(1)).unflatten(1, self.spec.input_shape)


class GaussianLikelihoodLoss(Loss):
    """-ELBO with the Gaussian likelihood N(x; x_hat, σ² I) of a known σ."""

    terms = ("loss", "reconstruction", "kl")

    @dataclasses.dataclass(frozen=True)
    class Settings:
        sigma: float = field(0.5, "the decoder's known noise standard deviation", min=1e-6)

    @property
    def likelihood(self) -> str:  # type: ignore[override]
        return f"gaussian with known sigma {self.settings.sigma}"

    def log_likelihood(self, x, x_hat):
        var = self.settings.sigma ** 2
        error = (x.double() - x_hat.double()).square().flatten(1).sum(1)
        return (-0.5 * error / var - 0.5 * x[0].numel() * math.log(2 * math.pi * var)).float()

    def forward(self, x, out):
        mu, log_var = out.params["mu"].float(), out.params["log_var"].float()
        kl = -0.5 * (1 + log_var - mu.square() - log_var.exp()).sum(1)
        reconstruction = -self.log_likelihood(x, out.x_hat)
        return {"loss": (reconstruction + kl).mean(), "reconstruction": reconstruction.mean(), "kl": kl.mean()}


def ppca_registry() -> Registry:
    registry = copy.deepcopy(get_registry())
    registry.add_component("encoder", "linear-gaussian", LinearEncoder, plugin="tests")
    registry.add_component("decoder", "linear", LinearDecoder, plugin="tests")
    registry.add_component("loss", "gaussian-known-sigma", GaussianLikelihoodLoss, plugin="tests")
    registry.add_recipe("ppca", plugin="tests", encoder="linear-gaussian", sampler="gaussian", decoder="linear",
                        loss="gaussian-known-sigma", input_shape=SHAPE, latent_shape=LATENT,
                        settings={"loss": {"sigma": SIGMA}})
    return registry


@dataclasses.dataclass
class PPCA:
    """W (D, q) with orthogonal columns, b (D,), σ."""

    w: np.ndarray
    b: np.ndarray
    sigma: float

    @classmethod
    def from_images(cls, images: np.ndarray, scales=(3.0, 2.0), sigma: float = SIGMA) -> PPCA:
        """W along the images' top principal directions with the given column norms; b their mean."""
        flat = images.reshape(len(images), -1).astype(np.float64)
        b = flat.mean(axis=0)
        _, _, vt = np.linalg.svd(flat - b, full_matrices=False)
        return cls(vt[:len(scales)].T * np.asarray(scales), b, sigma)

    def covariance(self) -> np.ndarray:
        return self.w @ self.w.T + self.sigma ** 2 * np.eye(len(self.b))

    def posterior(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(A, c, var): q(z|x) = N(A x + c, diag(var))."""
        m = self.w.T @ self.w + self.sigma ** 2 * np.eye(self.w.shape[1])
        assert np.allclose(m, np.diag(np.diag(m))), "W's columns must be orthogonal"
        a = np.linalg.solve(m, self.w.T)
        return a, -a @ self.b, self.sigma ** 2 / np.diag(m)

    def log_density(self, images: np.ndarray) -> np.ndarray:
        """log N(x; b, W Wᵀ + σ² I) of each image, in float64 with the full D×D covariance."""
        x = images.reshape(len(images), -1).astype(np.float64) - self.b
        cov = self.covariance()
        _, logdet = np.linalg.slogdet(cov)
        mahalanobis = np.einsum("nd,nd->n", x, np.linalg.solve(cov, x.T).T)
        return -0.5 * (len(self.b) * math.log(2 * math.pi) + logdet + mahalanobis)


@torch.no_grad()
def set_parameters(model, ppca: PPCA, spread: float = 1.0, shift: float = 0.0) -> None:
    """Write ``ppca`` into a built ``ppca`` model: the exact posterior, or one ``spread`` times as wide whose
    mean is moved by ``shift`` posterior standard deviations (an inexact proposal)."""
    a, c, var = ppca.posterior()
    heads = model.encoder.heads
    heads["mu"].weight.copy_(torch.from_numpy(a))
    heads["mu"].bias.copy_(torch.from_numpy(c + shift * np.sqrt(var)))
    heads["log_var"].weight.zero_()
    heads["log_var"].bias.copy_(torch.from_numpy(np.log(var * spread ** 2)))
    model.decoder.body.weight.copy_(torch.from_numpy(ppca.w))
    model.decoder.body.bias.copy_(torch.from_numpy(ppca.b))
