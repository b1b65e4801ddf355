"""The four component interfaces every genkit model is built from.

Each component is a ``torch.nn.Module`` whose ``forward`` takes and returns plain tensors, so that the
encoder and decoder export to ONNX unchanged. Concrete implementations live in plugins; the core only
knows these contracts.

Construction contract: the model builder (``genkit.model.build_model``) constructs every component
with keyword arguments only: the shared ``ModelSpec`` as ``spec`` plus the component's own settings
(the recipe's defaults overridden by the user's config). A component declares its settings as a
dataclass in the class attribute ``Settings``; the config layer validates user values against it.
"""

from __future__ import annotations

import abc
import dataclasses
from typing import ClassVar

import torch
from torch import nn


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """What every component of one model must agree on.

    ``parameter_names`` are the names of the encoder's outputs, chosen by the sampler (``mu``,
    ``log_var`` for a Gaussian sampler, ``code`` for a deterministic one). ``feature_shape`` is the
    encoder's pre-flatten feature map (C, H, W), filled in by the builder after the encoder exists so
    the decoder can mirror it.
    """

    input_shape: tuple[int, int, int]  # (C, H, W)
    z_dim: int
    parameter_names: tuple[str, ...]
    feature_shape: tuple[int, ...] | None = None


class Component(nn.Module, abc.ABC):
    """Base of the four kinds: holds the settings dataclass and the shared spec."""

    kind: ClassVar[str] = ""

    @dataclasses.dataclass(frozen=True)
    class Settings:
        """No settings by default."""

    def __init__(self, spec: ModelSpec, **settings):
        super().__init__()
        self.spec = spec
        self.settings = self.Settings(**settings)


class Encoder(Component):
    """Maps an image batch to the latent distribution's parameters.

    ``forward(x)``: ``x`` is a float tensor (N, C, H, W) with values in [0, 1]. Returns a tuple of
    tensors, one per name in ``spec.parameter_names`` and in that order, each (N, z_dim). The tuple
    is what the sampler consumes and what the exported encoder graph outputs.

    ``feature_shape`` is the (C, H, W) shape before the final flatten, for the decoder to mirror.
    """

    kind = "encoder"

    @property
    @abc.abstractmethod
    def feature_shape(self) -> tuple[int, ...]: ...

    @abc.abstractmethod
    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]: ...


class Sampler(Component):
    """Turns the encoder's parameters into latent points, and draws latent points from the prior.

    ``parameter_names`` (class attribute) names the encoder outputs this sampler consumes.

    ``forward(*params, generator=None)`` returns z (N, z_dim); it may be random (a reparameterised
    draw) and must be differentiable with respect to ``params``. ``mean(*params)`` returns the
    deterministic code used to encode and reconstruct at inference. ``sample_prior(n, generator)``
    draws n latent points from the prior. Sampling never goes into an exported graph: the ONNX
    runtime re-implements it on the host from ``prior()`` (a diagonal Gaussian) and the encoder
    output that ``mean`` returns, both recorded in the export's metadata.

    A sampler whose prior is learnt from data (``fits_prior = True``) gets ``fit_prior(codes)`` with
    the training set's codes after each epoch; its prior parameters are buffers, so they are saved
    with the weights.
    """

    kind = "sampler"
    parameter_names: ClassVar[tuple[str, ...]] = ()
    fits_prior: ClassVar[bool] = False

    @abc.abstractmethod
    def forward(self, *params: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor: ...

    @abc.abstractmethod
    def mean(self, *params: torch.Tensor) -> torch.Tensor: ...

    @abc.abstractmethod
    def prior(self) -> dict[str, torch.Tensor]:
        """The prior's parameters as named tensors (for export metadata and plots)."""

    def sample_prior(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Draw ``n`` points from the diagonal Gaussian ``prior()`` (override for other priors)."""
        p = self.prior()
        mean, std = p["mean"], p["std"]
        # draw on the generator's device (a CPU generator cannot fill a CUDA tensor), then move
        device = generator.device if generator is not None else mean.device
        eps = torch.randn((n, mean.numel()), generator=generator, device=device, dtype=mean.dtype)
        return mean + std * eps.to(mean.device)

    def fit_prior(self, codes: torch.Tensor) -> None:  # pragma: no cover - default is a no-op
        """Fit the prior to the training codes (N, z_dim); only called when ``fits_prior``."""


class Decoder(Component):
    """Maps latent points (N, z_dim) to an image batch (N, C, H, W) with values in [0, 1]."""

    kind = "decoder"

    @abc.abstractmethod
    def forward(self, z: torch.Tensor) -> torch.Tensor: ...


class Loss(Component):
    """Scores a reconstruction.

    ``forward(x, x_hat, params)``: ``x`` and ``x_hat`` are (N, C, H, W), ``params`` maps each name in
    ``spec.parameter_names`` to its tensor. Returns a dict of scalar tensors, each averaged over the
    batch: ``loss`` (the total that is minimised) and every term it is made of, so training logs each.
    ``terms`` (class attribute) lists the keys, ``loss`` first.
    """

    kind = "loss"
    terms: ClassVar[tuple[str, ...]] = ("loss",)

    @abc.abstractmethod
    def forward(
        self, x: torch.Tensor, x_hat: torch.Tensor, params: dict[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]: ...


KINDS: dict[str, type[Component]] = {
    "encoder": Encoder,
    "sampler": Sampler,
    "decoder": Decoder,
    "loss": Loss,
}
